//! Who is in a call right now, per user and device, and the reconnection grace period.
//!
//! A user is in a call while at least one of their devices has joined it. When the last
//! device drops without leaving (network loss, a closed laptop lid), the user is
//! *disconnected*, not gone: for a grace period any of their devices may join again and
//! carry on. [`CallPresence::expire`] reports the users whose grace ran out; the caller
//! tells the others they left and ends the call if nobody is left.
//!
//! Pure: time is passed in, so the grace rules are tested without waiting.

use crate::{Millis, UserId};
use std::collections::{BTreeMap, BTreeSet};

/// A joined socket session of one device. Opaque to the rules; unique per connection.
pub type DeviceKey = String;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct UserPresence {
    devices: BTreeSet<DeviceKey>,
    disconnected_since: Option<Millis>,
}

/// What a join meant for the others in the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The user was not in the call: tell the others they joined.
    First,
    /// The user was disconnected and came back within the grace period.
    Resumed,
    /// Another of the user's devices is already in the call: nothing changes for the others.
    AnotherDevice,
}

/// What a device going away meant for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Departure {
    /// The user still has another device in the call.
    StillHere,
    /// The user's last device left on purpose: they are gone.
    Left,
    /// The user's last device dropped: the grace period starts.
    Disconnected,
    /// The device was not in the call.
    Unknown,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallPresence {
    users: BTreeMap<UserId, UserPresence>,
}

impl CallPresence {
    pub fn join(&mut self, user: UserId, device: DeviceKey) -> Arrival {
        let entry = self.users.entry(user).or_default();
        let arrival = match (entry.devices.is_empty(), entry.disconnected_since) {
            (false, _) => Arrival::AnotherDevice,
            (true, Some(_)) => Arrival::Resumed,
            (true, None) => Arrival::First,
        };
        entry.devices.insert(device);
        entry.disconnected_since = None;
        arrival
    }

    /// A device left with `leave-call`.
    pub fn leave(&mut self, user: UserId, device: &str) -> Departure {
        self.depart(user, device, None)
    }

    /// A device's connection dropped without `leave-call`.
    pub fn drop_device(&mut self, user: UserId, device: &str, now: Millis) -> Departure {
        self.depart(user, device, Some(now))
    }

    fn depart(&mut self, user: UserId, device: &str, dropped_at: Option<Millis>) -> Departure {
        let Some(entry) = self.users.get_mut(&user) else {
            return Departure::Unknown;
        };
        if !entry.devices.remove(device) {
            return Departure::Unknown;
        }
        if !entry.devices.is_empty() {
            return Departure::StillHere;
        }
        match dropped_at {
            Some(at) => {
                entry.disconnected_since = Some(at);
                Departure::Disconnected
            }
            None => {
                self.users.remove(&user);
                Departure::Left
            }
        }
    }

    /// A user known to have been in the call whose connections were all lost while nobody
    /// was watching (the server itself stopped): they are disconnected since `since`, so the
    /// grace period applies as for a dropped connection. A user already present is left as is.
    pub fn restore_disconnected(&mut self, user: UserId, since: Millis) {
        self.users.entry(user).or_insert(UserPresence {
            devices: BTreeSet::new(),
            disconnected_since: Some(since),
        });
    }

    /// Removes and returns the users disconnected for longer than `grace_ms` at `now`.
    pub fn expire(&mut self, now: Millis, grace_ms: Millis) -> Vec<UserId> {
        let expired: Vec<UserId> = self
            .users
            .iter()
            .filter(|(_, p)| p.devices.is_empty() && p.disconnected_since.is_some_and(|at| now >= at + grace_ms))
            .map(|(u, _)| *u)
            .collect();
        for u in &expired {
            self.users.remove(u);
        }
        expired
    }

    /// Users with at least one device in the call.
    pub fn connected_users(&self) -> Vec<UserId> {
        self.users
            .iter()
            .filter(|(_, p)| !p.devices.is_empty())
            .map(|(u, _)| *u)
            .collect()
    }

    /// Connected, or disconnected and still within the grace period.
    pub fn is_participant(&self, user: UserId) -> bool {
        self.users.contains_key(&user)
    }

    pub fn is_disconnected(&self, user: UserId) -> bool {
        self.users
            .get(&user)
            .is_some_and(|p| p.devices.is_empty() && p.disconnected_since.is_some())
    }

    /// Nobody connected and nobody within grace: the call has no one left.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Millis = 30_000;

    fn user(n: u128) -> UserId {
        UserId(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn the_first_device_joins_and_later_devices_change_nothing_for_others() {
        let mut p = CallPresence::default();
        assert_eq!(p.join(user(1), "a".into()), Arrival::First);
        assert_eq!(p.join(user(1), "b".into()), Arrival::AnotherDevice);
        assert_eq!(p.connected_users(), vec![user(1)]);
    }

    #[test]
    fn a_user_leaves_only_with_their_last_device() {
        let mut p = CallPresence::default();
        p.join(user(1), "a".into());
        p.join(user(1), "b".into());
        assert_eq!(p.leave(user(1), "a"), Departure::StillHere);
        assert_eq!(p.leave(user(1), "b"), Departure::Left);
        assert!(p.is_empty());
        assert_eq!(p.leave(user(1), "b"), Departure::Unknown);
    }

    #[test]
    fn a_dropped_user_may_come_back_from_any_device_within_the_grace_period() {
        let mut p = CallPresence::default();
        p.join(user(1), "a".into());
        assert_eq!(p.drop_device(user(1), "a", 1_000), Departure::Disconnected);
        assert!(p.is_disconnected(user(1)));
        assert!(p.is_participant(user(1)));
        assert_eq!(p.expire(1_000 + GRACE - 1, GRACE), vec![]);
        assert_eq!(p.join(user(1), "c".into()), Arrival::Resumed);
        assert!(!p.is_disconnected(user(1)));
        assert_eq!(p.expire(1_000 + GRACE * 10, GRACE), vec![]);
    }

    #[test]
    fn a_user_restored_after_a_restart_resumes_within_grace_and_expires_after_it() {
        let mut p = CallPresence::default();
        p.restore_disconnected(user(1), 5_000);
        p.restore_disconnected(user(2), 5_000);
        assert!(p.is_disconnected(user(1)) && p.is_participant(user(1)));
        assert!(p.connected_users().is_empty());
        assert_eq!(p.join(user(1), "new".into()), Arrival::Resumed);
        // Restoring someone already back changes nothing.
        p.restore_disconnected(user(1), 9_000);
        assert_eq!(p.connected_users(), vec![user(1)]);
        assert_eq!(p.expire(5_000 + GRACE - 1, GRACE), vec![]);
        assert_eq!(p.expire(5_000 + GRACE, GRACE), vec![user(2)]);
        assert!(p.is_participant(user(1)));
    }

    #[test]
    fn after_the_grace_period_the_user_is_gone_and_an_empty_call_is_reported() {
        let mut p = CallPresence::default();
        p.join(user(1), "a".into());
        p.join(user(2), "b".into());
        p.drop_device(user(1), "a", 0);
        assert_eq!(p.expire(GRACE, GRACE), vec![user(1)]);
        assert!(!p.is_participant(user(1)));
        assert!(!p.is_empty(), "user 2 is still there");
        p.drop_device(user(2), "b", GRACE);
        assert_eq!(p.expire(2 * GRACE, GRACE), vec![user(2)]);
        assert!(p.is_empty());
        assert_eq!(p.join(user(1), "d".into()), Arrival::First, "after grace a join is new");
    }
}
