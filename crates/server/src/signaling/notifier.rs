//! REST and signaling as one system: the calls and recording services report every change
//! here (synchronously, from inside their request), and one task turns the reports into
//! emits in the order they happened: `incoming-call` to every device of the people being
//! called, `call-answered` to everyone (other devices stop ringing), `call-ended` /
//! `call-cancelled` followed by closing the room, and the recording events.

use super::session::Session;
use super::wire::{self, call_room, member_room, timestamp, user_room};
use super::{Hub, NAMESPACE};
use crate::audit::Actor;
use crate::calls::CallNotifier;
use crate::recording::RecordingNotifier;
use crate::storage::calls::StoredCall;
use socketioxide::adapter::Adapter;
use std::sync::Arc;
use tokio::sync::mpsc;
use vytalcall_domain::call::Effect;
use vytalcall_domain::waiting_room::RoomEffect;
use vytalcall_domain::{RecordingId, UserId};

pub enum Notice {
    Call {
        call: StoredCall,
        effect: Effect,
    },
    RecordingStarted {
        call: StoredCall,
        recording: RecordingId,
        by: UserId,
        at: i64,
    },
    RecordingStopped {
        call: StoredCall,
        recording: RecordingId,
        by: Option<UserId>,
        at: i64,
    },
    ConsentRequested {
        call: StoredCall,
        recording: RecordingId,
        user: UserId,
    },
    Door {
        call: StoredCall,
        effects: Vec<RoomEffect>,
        by: Option<UserId>,
    },
}

/// Given to the services; cheap to clone.
#[derive(Clone)]
pub struct SignalingNotifier {
    tx: mpsc::UnboundedSender<Notice>,
}

/// The receiving end, handed to [`super::attach`].
pub struct Notices(mpsc::UnboundedReceiver<Notice>);

/// A notifier for the services and the queue signaling reads it from.
pub fn channel() -> (SignalingNotifier, Notices) {
    let (tx, rx) = mpsc::unbounded_channel();
    (SignalingNotifier { tx }, Notices(rx))
}

impl SignalingNotifier {
    fn send(&self, notice: Notice) {
        // Fails only once signaling has shut down, when there is nobody to tell.
        let _ = self.tx.send(notice);
    }
}

impl CallNotifier for SignalingNotifier {
    fn door(&self, call: &StoredCall, effects: &[RoomEffect], actor: &Actor) {
        if !effects.is_empty() {
            self.send(Notice::Door {
                call: call.clone(),
                effects: effects.to_vec(),
                by: actor.caller.map(|c| c.user),
            });
        }
    }

    fn notify(&self, call: &StoredCall, effect: &Effect, _actor: &Actor) {
        self.send(Notice::Call {
            call: call.clone(),
            effect: effect.clone(),
        });
    }
}

impl RecordingNotifier for SignalingNotifier {
    fn recording_started(&self, call: &StoredCall, recording: RecordingId, by: UserId, at: i64) {
        self.send(Notice::RecordingStarted {
            call: call.clone(),
            recording,
            by,
            at,
        });
    }
    fn recording_stopped(&self, call: &StoredCall, recording: RecordingId, by: Option<UserId>, at: i64) {
        self.send(Notice::RecordingStopped {
            call: call.clone(),
            recording,
            by,
            at,
        });
    }
    fn consent_requested(&self, call: &StoredCall, recording: RecordingId, user: UserId) {
        self.send(Notice::ConsentRequested {
            call: call.clone(),
            recording,
            user,
        });
    }
}

/// Everyone who belongs to the call, on every device, plus whoever joined its room
/// (admins). Each socket receives the event once.
fn everyone(call: &StoredCall) -> Vec<String> {
    let mut rooms: Vec<String> = call.members.all().map(user_room).collect();
    rooms.push(call_room(call.call.id));
    rooms
}

pub async fn deliver<A: Adapter>(hub: Arc<Hub<A>>, Notices(mut rx): Notices) {
    while let Some(notice) = rx.recv().await {
        apply(&hub, notice).await;
    }
}

async fn apply<A: Adapter>(hub: &Hub<A>, notice: Notice) {
    let now = crate::now_millis();
    match notice {
        Notice::Door { call, effects, by } => super::door::changed(hub, &call, &effects, by).await,
        Notice::Call { call, effect } => {
            let id = call.call.id;
            match effect {
                Effect::NotifyIncomingCall => {
                    let from = call.call.initiated_by;
                    let rooms = call.members.all().filter(|u| *u != from).map(user_room).collect();
                    let known = hub.state.people.names_or_none(&[from]).await;
                    let body = wire::IncomingCall {
                        call_id: id,
                        call_type: call.call_type.as_str(),
                        from,
                        from_name: crate::people::name_in(&known, from),
                        room_id: call.room_id.clone(),
                        scheduled_at: call.scheduled_at.map(timestamp),
                    };
                    wire::to_rooms(&hub.io, rooms, &body).await;
                }
                Effect::NotifyAnswered { by } => {
                    let body = wire::CallAnswered {
                        call_id: id,
                        answered_by: by,
                        timestamp: timestamp(now),
                    };
                    wire::to_rooms(&hub.io, everyone(&call), &body).await;
                }
                Effect::NotifyEnded { reason } => {
                    let body = wire::CallEnded {
                        call_id: id,
                        reason,
                        timestamp: timestamp(now),
                    };
                    wire::to_rooms(&hub.io, everyone(&call), &body).await;
                }
                Effect::NotifyCancelled { reason } => {
                    let body = wire::CallCancelled(wire::CallEnded {
                        call_id: id,
                        reason,
                        timestamp: timestamp(now),
                    });
                    wire::to_rooms(&hub.io, everyone(&call), &body).await;
                }
                Effect::CloseRoom => close_room(hub, &call).await,
            }
        }
        Notice::RecordingStarted {
            call,
            recording,
            by,
            at,
        } => {
            let body = wire::RecordingStarted {
                call_id: call.call.id,
                recording_id: recording,
                started_by: by,
                timestamp: timestamp(at),
            };
            wire::to_rooms(&hub.io, everyone(&call), &body).await;
        }
        Notice::RecordingStopped {
            call,
            recording,
            by,
            at,
        } => {
            let body = wire::RecordingStopped {
                call_id: call.call.id,
                recording_id: recording,
                stopped_by: by,
                timestamp: timestamp(at),
            };
            wire::to_rooms(&hub.io, everyone(&call), &body).await;
        }
        Notice::ConsentRequested { call, recording, user } => {
            let body = wire::RecordingConsentRequested {
                call_id: call.call.id,
                recording_id: recording,
            };
            wire::to_rooms(&hub.io, vec![user_room(user)], &body).await;
        }
    }
}

/// The call is over: every socket leaves its rooms, presence forgets it, and the device
/// rows still open are closed.
async fn close_room<A: Adapter>(hub: &Hub<A>, call: &StoredCall) {
    let id = call.call.id;
    if let Err(e) = hub.presence.close(id).await {
        tracing::warn!(error = %e, call_id = %id, "presence unavailable when closing a call");
    }
    if let Some(ns) = hub.io.of(NAMESPACE) {
        for s in ns.clone().within(call_room(id)).sockets() {
            if let Some(session) = s.extensions.get::<Arc<Session>>() {
                session.state().calls.remove(&id);
                s.leave([call_room(id), member_room(id, session.caller.user)]);
            }
        }
        // Sockets of the call on other nodes leave its room too (through the adapter).
        if let Err(e) = ns.within(call_room(id)).leave(call_room(id)).await {
            tracing::warn!(error = %e, call_id = %id, "could not close the call's room on other nodes");
        }
    }
    let reason = call.end_reason.as_deref().unwrap_or("call ended");
    if let Err(e) = hub.state.calls.close_participation(id, reason).await {
        tracing::warn!(error = %e, call_id = %id, "could not close the call's participants");
    }
}
