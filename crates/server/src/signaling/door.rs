//! The waiting room on the wire (docs/signaling.md, "Waiting room"): seating a device whose
//! `join-call` must wait, the hosts' `admit-participant`, `return-to-waiting-room` and
//! `waiting-room-message`, the waiting person's `device-check`, and telling everyone what
//! changed. The decisions are the calls service's (`calls::waiting_room`), under the rules
//! of `domain::waiting_room`.
//!
//! An admission or a send-back is carried out by each affected socket's own task, on its own
//! node: the node that decided publishes a [`DoorNotice`] (over Redis when several nodes
//! serve the calls), and every node queues a job for its sockets of that person, so the
//! admitted device joins exactly as a `join-call` would, in order with its other events.

use super::error::SignalingError;
use super::session::{Job, Session};
use super::wire::{self, door_room, seat_room, user_room};
use super::{Hub, NAMESPACE, handlers};
use crate::calls::waiting_room::Seat;
use crate::storage::calls::StoredCall;
use crate::storage::waiting_room::Door;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use std::sync::Arc;
use vytalcall_domain::waiting_room::{DeviceCheck, RoomEffect};
use vytalcall_domain::{CallId, UserId};

/// Reason given to the room when a host sends someone back.
pub const SENT_BACK_REASON: &str = "returned to waiting room";

/// An admission or send-back for every node to carry out on its sockets of `user`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum DoorNotice {
    Admitted { call: CallId, user: UserId, by: UserId },
    SentBack { call: CallId, user: UserId },
}

/// Where a `join-call` (or `reconnect-call`) of a device not yet in the call leads.
pub(super) enum Entry {
    /// Seated in the waiting room: the reply.
    Waiting(Value),
    /// Into the call, as loaded through the access rules.
    Enter(Box<StoredCall>),
}

/// A `join-call` (or `reconnect-call`) of a device that is not in the call yet.
pub(super) async fn seat<A: Adapter>(
    hub: &Hub<A>,
    s: &SocketRef<A>,
    session: &Session,
    call: CallId,
    media: Option<(bool, bool)>,
) -> Result<Entry, SignalingError> {
    let already = session.state().waiting.contains_key(&call);
    let rooms = [door_room(call), seat_room(call, session.caller.user)];
    // In the rooms before the seat is taken, so that the status the change announces (after
    // its commit, from the notices task) finds this device there.
    s.join(rooms.clone());
    let seat = match hub.state.calls.seat(&session.actor, call, !already).await {
        Ok((stored, Seat::Wait { position, first })) => (stored, position, first),
        other => {
            s.leave(rooms);
            session.state().waiting.remove(&call);
            return Ok(Entry::Enter(Box::new(other?.0)));
        }
    };
    let (stored, position, first) = seat;
    session.state().waiting.insert(call, media.unwrap_or((true, true)));
    if !already && !first {
        // Another device of someone already waiting: nothing changed for anyone else, so
        // this device is told its status here.
        let present = provider_present(hub, &stored).await;
        wire::emit(s, &status(call, position, present));
    }
    Ok(Entry::Waiting(wire::ok(wire::WaitingResult {
        call_id: call,
        status: stored.call.status.as_str().to_string(),
        waiting: true,
        position,
    })))
}

/// `leave-call` from a waiting device, or its socket going away.
pub(super) async fn leave<A: Adapter>(
    hub: &Hub<A>,
    s: &SocketRef<A>,
    session: &Session,
    call: CallId,
) -> Result<Value, SignalingError> {
    stand_up(hub, session, call).await?;
    s.leave([door_room(call), seat_room(call, session.caller.user)]);
    Ok(wire::ok(wire::CallIdResult { call_id: call }))
}

/// Takes this device out of the waiting room (with the person's last device, the person).
pub(super) async fn stand_up<A: Adapter>(hub: &Hub<A>, session: &Session, call: CallId) -> Result<(), SignalingError> {
    if session.state().waiting.remove(&call).is_none() {
        return Ok(());
    }
    hub.state.calls.leave_door(&session.actor, call).await?;
    Ok(())
}

pub(super) async fn device_check<A: Adapter>(
    hub: &Hub<A>,
    session: &Session,
    call: CallId,
    check: DeviceCheck,
) -> Result<Value, SignalingError> {
    if !session.state().waiting.contains_key(&call) {
        return Err(SignalingError::Call(
            vytalcall_domain::waiting_room::RoomRefused::NotWaiting.into(),
        ));
    }
    hub.state.calls.report_device_check(&session.actor, call, check).await?;
    Ok(wire::ok(wire::CallIdResult { call_id: call }))
}

/// `admit-participant`.
pub(super) async fn admit<A: Adapter>(
    hub: &Hub<A>,
    session: &Session,
    call: CallId,
    user: UserId,
) -> Result<Value, SignalingError> {
    let max = hub.limits.max_call_participants;
    hub.state.calls.admit(&session.actor, call, user, max).await?;
    Ok(wire::ok(wire::DoorResult {
        call_id: call,
        user_id: user,
    }))
}

/// `return-to-waiting-room`.
pub(super) async fn send_back<A: Adapter>(
    hub: &Hub<A>,
    session: &Session,
    call: CallId,
    user: UserId,
) -> Result<Value, SignalingError> {
    hub.state.calls.send_back(&session.actor, call, user).await?;
    Ok(wire::ok(wire::DoorResult {
        call_id: call,
        user_id: user,
    }))
}

pub(super) async fn message<A: Adapter>(
    hub: &Hub<A>,
    session: &Session,
    call: CallId,
    text: String,
) -> Result<Value, SignalingError> {
    hub.state
        .calls
        .message_waiting_room(&session.actor, call, text.chars().count())
        .await?;
    let note = wire::WaitingRoomNote {
        call_id: call,
        text,
        from_user_id: session.caller.user,
        timestamp: wire::timestamp(crate::now_millis()),
    };
    wire::to_rooms(&hub.io, vec![door_room(call)], &note).await;
    Ok(wire::ok(wire::CallIdResult { call_id: call }))
}

/// This socket's user was let in: the device leaves the door and joins the call.
pub(super) async fn admitted<A: Adapter>(
    hub: &Hub<A>,
    s: &SocketRef<A>,
    session: &Session,
    call: CallId,
    by: UserId,
) -> Result<(), SignalingError> {
    let Some(media) = session.state().waiting.get(&call).copied() else {
        return Ok(());
    };
    wire::emit(
        s,
        &wire::Admitted {
            call_id: call,
            admitted_by: by,
            timestamp: wire::timestamp(crate::now_millis()),
        },
    );
    s.leave([door_room(call), seat_room(call, session.caller.user)]);
    handlers::join(hub, s, session, call, Some(media)).await.map(drop)
}

/// This socket's user was sent back: the device leaves the call and sits down again.
pub(super) async fn sent_back<A: Adapter>(
    hub: &Hub<A>,
    s: &SocketRef<A>,
    session: &Session,
    call: CallId,
) -> Result<(), SignalingError> {
    let media = {
        let state = session.state();
        let Some(m) = state.calls.get(&call) else {
            return Ok(());
        };
        (m.media.video_enabled, m.media.audio_enabled)
    };
    handlers::leave(hub, s, session, call, Some(SENT_BACK_REASON.into())).await?;
    seat(hub, s, session, call, Some(media)).await.map(drop)
}

/// A room changed (reported by the calls service, from a socket or REST): tells whom it
/// concerns (the queue to the providers, each moved person their place) and has every node
/// carry out admissions and send-backs.
pub(super) async fn changed<A: Adapter>(hub: &Hub<A>, call: &StoredCall, effects: &[RoomEffect], by: Option<UserId>) {
    for effect in effects {
        match *effect {
            RoomEffect::Admitted { user } => {
                let by = by.unwrap_or(user);
                hub.door_notice(DoorNotice::Admitted {
                    call: call.call.id,
                    user,
                    by,
                })
                .await;
            }
            RoomEffect::SentBack { user, .. } => {
                hub.door_notice(DoorNotice::SentBack {
                    call: call.call.id,
                    user,
                })
                .await;
            }
            _ => {}
        }
    }
    tell(hub, call, effects).await;
}

async fn tell<A: Adapter>(hub: &Hub<A>, call: &StoredCall, effects: &[RoomEffect]) {
    let id = call.call.id;
    let door = match hub.state.calls.door(id).await {
        Ok(door) => door,
        Err(e) => {
            tracing::warn!(error = %e, call_id = %id, "could not read the waiting room");
            return;
        }
    };
    let present = provider_present(hub, call).await;
    for effect in effects {
        match effect {
            RoomEffect::QueueChanged => send_queue(hub, call, &door).await,
            RoomEffect::PositionChanged { user, position } | RoomEffect::SentBack { user, position } => {
                wire::to_rooms(&hub.io, vec![seat_room(id, *user)], &status(id, *position, present)).await;
            }
            RoomEffect::Admitted { .. } => {}
        }
    }
}

/// A provider came or went: everyone waiting learns whether one is there now.
pub(super) async fn hosts_changed<A: Adapter>(hub: &Hub<A>, call: &StoredCall) {
    if !call.waiting_room {
        return;
    }
    let Ok(door) = hub.state.calls.door(call.call.id).await else {
        return;
    };
    let present = provider_present(hub, call).await;
    for (i, w) in door.room.queue().iter().enumerate() {
        let body = status(call.call.id, i + 1, present);
        wire::to_rooms(&hub.io, vec![seat_room(call.call.id, w.user)], &body).await;
    }
    send_queue(hub, call, &door).await;
}

/// A provider's device just connected: it gets the queue of each of their calls where
/// someone waits, so they see who waits without waiting for the next change.
pub(super) async fn provider_connected<A: Adapter>(hub: &Hub<A>, s: &SocketRef<A>, provider: UserId) {
    let calls = match crate::storage::waiting_room::waited_on_by(&hub.state.db.pool, provider).await {
        Ok(calls) => calls,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the waiting rooms of a provider");
            return;
        }
    };
    for id in calls {
        let (Ok(Some(call)), Ok(door)) = (
            crate::storage::calls::load(&hub.state.db.pool, id).await,
            hub.state.calls.door(id).await,
        ) else {
            continue;
        };
        if call.call.status.is_final() {
            continue;
        }
        wire::emit(s, &queue(hub, &call, &door).await);
    }
}

/// `user` left the call (their last device, or their grace ran out): if they were one of
/// its providers, the people waiting may have lost their provider.
pub(super) async fn host_left<A: Adapter>(hub: &Hub<A>, call: CallId, user: UserId) {
    if let Ok(Some(stored)) = crate::storage::calls::load(&hub.state.db.pool, call).await
        && stored.members.providers.contains(&user)
    {
        hosts_changed(hub, &stored).await;
    }
}

async fn send_queue<A: Adapter>(hub: &Hub<A>, call: &StoredCall, door: &Door) {
    let rooms = call.members.providers.iter().map(|p| user_room(*p)).collect();
    wire::to_rooms(&hub.io, rooms, &queue(hub, call, door).await).await;
}

async fn queue<A: Adapter>(hub: &Hub<A>, call: &StoredCall, door: &Door) -> wire::WaitingRoomQueue {
    let queue = door.room.queue();
    let users: Vec<UserId> = queue.iter().map(|w| w.user).collect();
    let known = hub.state.people.names_or_none(&users).await;
    let waiting = queue
        .iter()
        .map(|w| wire::WaitingPerson {
            user_id: w.user,
            name: crate::people::name_in(&known, w.user),
            role: if w.user == call.members.patient {
                "patient"
            } else {
                "guest"
            },
            since: wire::timestamp(w.since),
            device_check: w.device_check,
        })
        .collect();
    wire::WaitingRoomQueue {
        call_id: call.call.id,
        waiting,
    }
}

async fn provider_present<A: Adapter>(hub: &Hub<A>, call: &StoredCall) -> bool {
    match hub.presence.connected_users(call.call.id).await {
        Ok(users) => users.iter().any(|u| call.members.providers.contains(u)),
        Err(_) => false,
    }
}

fn status(call: CallId, position: usize, provider_present: bool) -> wire::WaitingRoomStatus {
    wire::WaitingRoomStatus {
        call_id: call,
        position,
        message: if provider_present {
            "Your provider is here and will let you in shortly."
        } else {
            "Please wait: your provider will let you in when the visit starts."
        },
        provider_present,
    }
}

impl<A: Adapter> Hub<A> {
    /// Publishes `notice` to every node (this one included); alone, carries it out here.
    pub(super) async fn door_notice(&self, notice: DoorNotice) {
        if let Some(link) = &self.door_link {
            let body = serde_json::to_vec(&notice).unwrap_or_default();
            match link.publish(&door_channel(link.prefix()), body).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot publish a waiting-room change; carried out on this node only")
                }
            }
        }
        self.carry_out(&notice);
    }

    /// Queues the notice's job for this node's sockets of its person.
    pub(super) fn carry_out(&self, notice: &DoorNotice) {
        let Some(ns) = self.io.of(NAMESPACE) else {
            return;
        };
        let (call, user) = match notice {
            DoorNotice::Admitted { call, user, .. } | DoorNotice::SentBack { call, user } => (*call, *user),
        };
        for s in ns.sockets() {
            let Some(session) = s.extensions.get::<Arc<Session>>() else {
                continue;
            };
            if session.caller.user != user {
                continue;
            }
            match notice {
                DoorNotice::Admitted { by, .. } if session.state().waiting.contains_key(&call) => {
                    session.give(Job::Admitted { call, by: *by });
                }
                DoorNotice::SentBack { .. } if session.is_joined(call) => session.give(Job::SentBack { call }),
                _ => {}
            }
        }
    }
}

/// The channel every node listens on for [`DoorNotice`]s.
pub fn door_channel(prefix: &str) -> String {
    format!("{prefix}:door")
}

/// The subscription to [`door_channel`].
pub type DoorNotices = socketioxide_redis::drivers::MessageStream<socketioxide_redis::drivers::ChanItem>;

/// Carries out the notices other nodes (and this one) publish.
pub(super) async fn listen<A: Adapter>(hub: std::sync::Weak<Hub<A>>, mut notices: DoorNotices) {
    use futures_util::StreamExt;
    while let Some((_, body)) = notices.next().await {
        let Some(hub) = hub.upgrade() else {
            return;
        };
        match serde_json::from_slice::<DoorNotice>(&body) {
            Ok(notice) => hub.carry_out(&notice),
            Err(e) => tracing::warn!(error = %e, "unreadable waiting-room notice"),
        }
    }
}
