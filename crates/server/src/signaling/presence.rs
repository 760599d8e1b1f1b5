//! Presence: who is in which call. (Where each event goes, the rooms, is the wire's:
//! [`super::wire`].)
//!
//! Presence (which users and
//! devices are in a call, and who is within the reconnection grace period) sits behind the
//! [`Presence`] trait so a shared implementation can replace [`LocalPresence`] without
//! touching the handlers ([`super::multinode::RedisPresence`] with `REDIS_URL`). The rules themselves are the domain's
//! [`vytalcall_domain::presence::CallPresence`].

use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;
use vytalcall_domain::presence::{Arrival, CallPresence, Departure};
use vytalcall_domain::{CallId, Millis, UserId};

/// A user whose reconnection grace ran out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    pub call: CallId,
    pub user: UserId,
    /// Nobody is left in the call at all.
    pub call_empty: bool,
}

/// The shared presence store did not answer (Redis away); the event is refused with
/// `unavailable` and may be retried.
#[derive(Debug, thiserror::Error)]
#[error("presence store unavailable: {0}")]
pub struct PresenceError(pub String);

pub type PresenceResult<T> = Result<T, PresenceError>;

/// A departure the shared store could not take (Redis away). It is retried every second
/// until the store answers, so a device that went away during an outage is not counted as
/// connected for good (and its user's grace period, or departure, still happens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingDeparture {
    pub call: CallId,
    pub user: UserId,
    pub device: String,
    pub how: DepartureKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DepartureKind {
    /// `leave-call`, with its reason.
    Left(String),
    /// The connection dropped at this time.
    Dropped(Millis),
}

/// What a node's periodic upkeep found.
#[derive(Debug, Default)]
pub struct Maintenance {
    /// The store lost this node's registration (first start, or the store lost its data):
    /// the node publishes the devices it holds again.
    pub resync: bool,
    /// Users whose last device was on a node that died: their grace period started.
    pub dropped: Vec<(CallId, UserId)>,
}

/// Presence of users and devices in calls. Async so that a shared store can implement it.
pub trait Presence: Send + Sync {
    /// Adds a device; returns what it means and who is connected now.
    fn join(&self, call: CallId, user: UserId, device: String)
    -> BoxFuture<'_, PresenceResult<(Arrival, Vec<UserId>)>>;
    /// A device left on purpose; returns what it means and whether the call is now empty.
    fn leave(&self, call: CallId, user: UserId, device: String) -> BoxFuture<'_, PresenceResult<(Departure, bool)>>;
    /// A device's connection dropped at `now`.
    fn drop_device(
        &self,
        call: CallId,
        user: UserId,
        device: String,
        now: Millis,
    ) -> BoxFuture<'_, PresenceResult<Departure>>;
    /// Connected, or within the grace period.
    fn is_participant(&self, call: CallId, user: UserId) -> BoxFuture<'_, PresenceResult<bool>>;
    fn connected_users(&self, call: CallId) -> BoxFuture<'_, PresenceResult<Vec<UserId>>>;
    /// Removes and reports users whose grace ran out at `now`. Each expiry is reported by
    /// exactly one caller, even with several processes sharing the store.
    fn expire(&self, now: Millis, grace_ms: Millis) -> BoxFuture<'_, PresenceResult<Vec<Expired>>>;
    /// The call is over: forget it.
    fn close(&self, call: CallId) -> BoxFuture<'_, PresenceResult<()>>;
    /// Once a second: heartbeat and takeover of dead nodes' devices (shared stores only).
    fn maintain(&self, _now: Millis) -> BoxFuture<'_, PresenceResult<Maintenance>> {
        Box::pin(std::future::ready(Ok(Maintenance::default())))
    }
}

/// Presence for a single server process.
#[derive(Default)]
pub struct LocalPresence {
    calls: Mutex<HashMap<CallId, CallPresence>>,
}

impl LocalPresence {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<CallId, CallPresence>) -> T) -> T {
        let mut calls = match self.calls.lock() {
            Ok(guard) => guard,
            // A panic elsewhere must not take signaling down; the map is still consistent
            // because every change to it is a single call into the domain.
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut calls)
    }
}

impl LocalPresence {
    /// Presence after a restart: everyone who was in a call when the process stopped is
    /// disconnected since `now`, within their grace period.
    pub fn restored(interrupted: &[(CallId, UserId)], now: Millis) -> LocalPresence {
        let presence = LocalPresence::default();
        presence.with(|calls| {
            for (call, user) in interrupted {
                calls.entry(*call).or_default().restore_disconnected(*user, now);
            }
        });
        presence
    }
}

impl Presence for LocalPresence {
    fn join(
        &self,
        call: CallId,
        user: UserId,
        device: String,
    ) -> BoxFuture<'_, PresenceResult<(Arrival, Vec<UserId>)>> {
        let out = self.with(|calls| {
            let p = calls.entry(call).or_default();
            (p.join(user, device), p.connected_users())
        });
        Box::pin(std::future::ready(Ok(out)))
    }

    fn leave(&self, call: CallId, user: UserId, device: String) -> BoxFuture<'_, PresenceResult<(Departure, bool)>> {
        let out = self.with(|calls| match calls.get_mut(&call) {
            None => (Departure::Unknown, false),
            Some(p) => {
                let d = p.leave(user, &device);
                let empty = p.is_empty();
                if empty {
                    calls.remove(&call);
                }
                (d, empty)
            }
        });
        Box::pin(std::future::ready(Ok(out)))
    }

    fn drop_device(
        &self,
        call: CallId,
        user: UserId,
        device: String,
        now: Millis,
    ) -> BoxFuture<'_, PresenceResult<Departure>> {
        let out = self.with(|calls| {
            calls
                .get_mut(&call)
                .map_or(Departure::Unknown, |p| p.drop_device(user, &device, now))
        });
        Box::pin(std::future::ready(Ok(out)))
    }

    fn is_participant(&self, call: CallId, user: UserId) -> BoxFuture<'_, PresenceResult<bool>> {
        let out = self.with(|calls| calls.get(&call).is_some_and(|p| p.is_participant(user)));
        Box::pin(std::future::ready(Ok(out)))
    }

    fn connected_users(&self, call: CallId) -> BoxFuture<'_, PresenceResult<Vec<UserId>>> {
        let out = self.with(|calls| calls.get(&call).map(CallPresence::connected_users).unwrap_or_default());
        Box::pin(std::future::ready(Ok(out)))
    }

    fn expire(&self, now: Millis, grace_ms: Millis) -> BoxFuture<'_, PresenceResult<Vec<Expired>>> {
        let out = self.with(|calls| {
            let mut expired = Vec::new();
            for (call, p) in calls.iter_mut() {
                let users = p.expire(now, grace_ms);
                let call_empty = p.is_empty();
                expired.extend(users.into_iter().map(|user| Expired {
                    call: *call,
                    user,
                    call_empty,
                }));
            }
            calls.retain(|_, p| !p.is_empty());
            expired
        });
        Box::pin(std::future::ready(Ok(out)))
    }

    fn close(&self, call: CallId) -> BoxFuture<'_, PresenceResult<()>> {
        self.with(|calls| calls.remove(&call));
        Box::pin(std::future::ready(Ok(())))
    }
}
