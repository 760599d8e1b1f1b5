//! Departures: a device leaving (`leave-call`) or dropping is handed to presence, and the
//! call is told what it meant. While the shared store is away (Redis), departures are kept
//! and retried by the sweep, oldest first, so none is lost.

use super::Hub;
use super::error::SignalingError;
use super::presence::{self, DepartureKind, Expired, PendingDeparture};
use super::session::{Membership, Session};
use super::wire::{self, call_room, user_room};
use socketioxide::adapter::Adapter;
use vytalcall_domain::presence::Departure;
use vytalcall_domain::{CallId, UserId};

impl<A: Adapter> Hub<A> {
    pub(super) fn pending_departures(&self) -> std::sync::MutexGuard<'_, Vec<presence::PendingDeparture>> {
        // Every change to the list is a single push or swap: a poisoned lock still holds a
        // consistent list.
        self.pending_departures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Both Redis connections answer (always true for a single process).
    pub(super) async fn redis_answers(&self) -> bool {
        match &self.state.redis {
            None => true,
            Some(link) => link.ping().await.is_ok(),
        }
    }

    /// Hands a departure to presence: what it meant, and whether the call is now empty (only
    /// a `leave-call` can empty it; a dropped device leaves its user within the grace period).
    async fn depart(&self, d: &presence::PendingDeparture) -> presence::PresenceResult<(Departure, bool)> {
        match &d.how {
            presence::DepartureKind::Left(_) => self.presence.leave(d.call, d.user, d.device.clone()).await,
            presence::DepartureKind::Dropped(at) => self
                .presence
                .drop_device(d.call, d.user, d.device.clone(), *at)
                .await
                .map(|outcome| (outcome, false)),
        }
    }

    /// Hands a departure to presence and tells the call what it meant; if presence does not
    /// answer (Redis away), keeps it for the sweep to retry.
    pub(super) async fn depart_or_retry(&self, d: presence::PendingDeparture) -> Result<(), SignalingError> {
        match self.depart(&d).await {
            Ok((outcome, empty)) => announce_departure(self, &d, outcome, empty).await,
            Err(e) => {
                tracing::warn!(error = %e, call_id = %d.call, "presence unavailable for a departure: retried");
                self.retry_later(d);
                Ok(())
            }
        }
    }

    /// Keeps a departure the presence store refused, to be retried by the sweep.
    fn retry_later(&self, departure: presence::PendingDeparture) {
        self.pending_departures().push(departure);
    }

    /// Gives presence the departures it refused while unavailable, oldest first, and tells
    /// the calls what they meant; what it still refuses waits for the next sweep.
    pub(super) async fn retry_departures(&self) {
        let pending = std::mem::take(&mut *self.pending_departures());
        let mut iter = pending.into_iter();
        while let Some(d) = iter.next() {
            match self.depart(&d).await {
                Ok((outcome, empty)) => {
                    tracing::debug!(?outcome, call_id = %d.call, "a departure presence could not take earlier is taken");
                    if let Err(e) = announce_departure(self, &d, outcome, empty).await {
                        tracing::warn!(error = %e, call_id = %d.call, "could not announce a departure");
                    }
                }
                Err(_) => {
                    // Still away: keep this one and the rest, in order, for the next sweep.
                    let mut queue = self.pending_departures();
                    let newer = std::mem::take(&mut *queue);
                    queue.push(d);
                    queue.extend(iter);
                    queue.extend(newer);
                    return;
                }
            }
        }
    }
}

/// Tells the call what a device going away meant once presence has taken it: the user
/// left (and an empty call ends), or their grace period started.
pub async fn announce_departure<A: Adapter>(
    hub: &Hub<A>,
    d: &PendingDeparture,
    outcome: Departure,
    call_empty: bool,
) -> Result<(), SignalingError> {
    match (&d.how, outcome) {
        (DepartureKind::Left(reason), Departure::Left) => {
            let body = wire::ParticipantLeft {
                call_id: d.call,
                user_id: d.user,
                reason: reason.clone(),
            };
            wire::to_rooms(&hub.io, vec![call_room(d.call)], &body).await;
            super::door::host_left(hub, d.call, d.user).await;
        }
        (DepartureKind::Dropped(at), Departure::Disconnected) => announce_disconnected(hub, d.call, d.user, *at).await,
        _ => {}
    }
    if call_empty && matches!(d.how, DepartureKind::Left(_)) {
        hub.state.calls.end_abandoned(d.call, false).await?;
    }
    Ok(())
}

/// Tells the call that a user's last device dropped at `at`: their grace period started.
pub async fn announce_disconnected<A: Adapter>(hub: &Hub<A>, call: CallId, user: UserId, at: i64) {
    let body = wire::ParticipantDisconnected {
        call_id: call,
        user_id: user,
        timestamp: wire::timestamp(at),
    };
    wire::to_rooms(&hub.io, vec![call_room(call)], &body).await;
}

/// A user did not come back within the grace period.
pub async fn grace_expired<A: Adapter>(hub: &Hub<A>, expired: &Expired) -> Result<(), SignalingError> {
    let body = wire::ParticipantLeft {
        call_id: expired.call,
        user_id: expired.user,
        reason: "disconnected".into(),
    };
    wire::to_rooms(&hub.io, vec![call_room(expired.call), user_room(expired.user)], &body).await;
    hub.state.calls.grace_expired(expired.call, expired.user).await?;
    super::door::host_left(hub, expired.call, expired.user).await;
    if expired.call_empty {
        hub.state.calls.end_abandoned(expired.call, true).await?;
    }
    Ok(())
}

/// The socket went away without `leave-call`: each call it was in starts the user's
/// grace period if this was their last device there.
pub(super) async fn disconnected<A: Adapter>(hub: &Hub<A>, session: &Session) {
    let user = session.caller.user;
    let calls: Vec<(CallId, Membership)> = session.state().calls.drain().collect();
    let now = crate::now_millis();
    for (call, membership) in calls {
        if let Err(e) = hub
            .state
            .calls
            .leave_device(&session.actor, call, &membership.participant_id, "disconnected")
            .await
        {
            tracing::warn!(error = %e, call_id = %call, "could not record a dropped device");
        }
        let departure = PendingDeparture {
            call,
            user,
            device: session.sid.clone(),
            how: DepartureKind::Dropped(now),
        };
        if let Err(e) = hub.depart_or_retry(departure).await {
            tracing::warn!(error = %e, call_id = %call, "could not announce a dropped device");
        }
    }
    let waiting: Vec<CallId> = session.state().waiting.keys().copied().collect();
    for call in waiting {
        if let Err(e) = super::door::stand_up(hub, session, call).await {
            tracing::warn!(error = %e, call_id = %call, "could not take a dropped device out of the waiting room");
        }
    }
}
