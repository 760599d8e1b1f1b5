//! What each client event does. Every handler decodes nothing itself (the payload module
//! did), asks the calls service to record what changed, then emits. Replies follow one
//! shape: `{ ok: true, ... }` or `{ error: { code, message } }`.

use super::error::SignalingError;
use super::payload::{self, ClientEvent, Signal};
use super::presence::{DepartureKind, PendingDeparture};
use super::refusals::{deny, deny_as, summarise_refusals};
use super::session::{Job, Media, Membership, Session};
use super::wire::{self, call_room, member_room};
use super::{Hub, departures, door};
use crate::audit::Action;
use crate::calls::participation::JoinRequest;
use crate::storage::calls::QualitySample;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use std::sync::Arc;
use std::time::Instant;
use vytalcall_domain::presence::Arrival;
use vytalcall_domain::quality::Thresholds;
use vytalcall_domain::{CallId, UserId};

/// The socket's task: processes its events one at a time, in arrival order.
pub async fn run<A: Adapter>(hub: Arc<Hub<A>>, s: SocketRef<A>, session: Arc<Session>) {
    // This task lives as long as the socket and mostly waits. The work of one event (calls
    // service, database, adapter) is a large future, so it is boxed while it runs: otherwise
    // every idle socket's task would carry its full size (measured: tens of KiB per socket).
    // However the task ends (even by a panic), later jobs are dropped rather than kept.
    let _closer = CloseQueue(&session);
    while let Some(job) = session.next_job().await {
        match job {
            Job::Event {
                name,
                data,
                ack,
                received,
            } => {
                let result = match payload::parse(name, &data) {
                    Ok(event) => Box::pin(handle(&hub, &s, &session, event, received)).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(reply) => {
                        if let Some(ack) = ack {
                            ack(reply);
                        }
                    }
                    Err(e) => Hub::<A>::reply_error(&s, name.as_str(), ack, &e),
                }
            }
            Job::Disconnected => {
                summarise_refusals(&hub, &session).await;
                Box::pin(departures::disconnected(&hub, &session)).await;
                break;
            }
            Job::Admitted { call, by } => {
                if let Err(e) = Box::pin(door::admitted(&hub, &s, &session, call, by)).await {
                    Hub::<A>::reply_error(&s, "join-call", None, &e);
                }
            }
            Job::SentBack { call } => {
                if let Err(e) = Box::pin(door::sent_back(&hub, &s, &session, call)).await {
                    Hub::<A>::reply_error(&s, "join-call", None, &e);
                }
            }
        }
    }
}

/// Closes the session's queue when the socket's task ends.
struct CloseQueue<'a>(&'a Session);

impl Drop for CloseQueue<'_> {
    fn drop(&mut self) {
        self.0.close_queue();
    }
}

async fn handle<A: Adapter>(
    hub: &Hub<A>,
    s: &SocketRef<A>,
    session: &Session,
    event: ClientEvent,
    received: Instant,
) -> Result<Value, SignalingError> {
    forget_if_closed(s, session, event.call());
    match event {
        ClientEvent::JoinCall { call, video, audio } => join(hub, s, session, call, Some((video, audio))).await,
        ClientEvent::ReconnectCall { call } => {
            if !session.is_joined(call) && !hub.presence.is_participant(call, session.caller.user).await? {
                // A refused join like any other: audited, answered the same for any call.
                deny_as(
                    hub,
                    session,
                    Action::CallJoin,
                    call,
                    "reconnect-call",
                    "nothing to resume",
                )
                .await;
                return Err(SignalingError::NothingToResume);
            }
            join(hub, s, session, call, None).await
        }
        ClientEvent::LeaveCall { call, reason } => leave(hub, s, session, call, reason).await,
        ClientEvent::Relay { call, signal, target } => relay(hub, s, session, call, signal, target, received).await,
        ClientEvent::UpdateMedia {
            call,
            video,
            audio,
            screen,
        } => {
            let media = {
                let mut state = session.state();
                let absent = state.not_in(call);
                let m = state.calls.get_mut(&call).ok_or(absent)?;
                m.media = Media {
                    video_enabled: video.unwrap_or(m.media.video_enabled),
                    audio_enabled: audio.unwrap_or(m.media.audio_enabled),
                    screen_share_enabled: screen.unwrap_or(m.media.screen_share_enabled),
                };
                (m.participant_id.clone(), m.media)
            };
            hub.state
                .calls
                .update_media(
                    &media.0,
                    (
                        media.1.video_enabled,
                        media.1.audio_enabled,
                        media.1.screen_share_enabled,
                    ),
                )
                .await?;
            let body = wire::ParticipantMediaUpdated {
                call_id: call,
                user_id: session.caller.user,
                media: media.1,
            };
            if let Err(socketioxide::BroadcastError::Adapter(e)) = wire::broadcast(s.to(call_room(call)), &body).await {
                return Err(super::presence::PresenceError(e.to_string()).into());
            }
            Ok(wire::ok(body))
        }
        ClientEvent::ConnectionQuality { call, metrics } => {
            let now = crate::now_millis();
            let warning = {
                let mut state = session.state();
                let absent = state.not_in(call);
                let m = state.calls.get_mut(&call).ok_or(absent)?;
                m.last_heard = now;
                m.judge.judge(&metrics, &Thresholds::default())
            };
            let stored = hub
                .state
                .calls
                .record_quality(
                    QualitySample {
                        call,
                        user: session.caller.user,
                        device_id: session.device_id.clone(),
                        at: now,
                        bandwidth_kbps: metrics.bandwidth.round() as i64,
                        latency_ms: metrics.latency.round() as i64,
                        packet_loss_milli: (metrics.packet_loss * 1000.0).round() as i64,
                        jitter_ms: metrics.jitter.round() as i64,
                        video_resolution: metrics.video_resolution.clone(),
                        warning: warning.as_ref().map(|w| w.warning),
                    },
                    hub.limits.quality_sample_ms,
                )
                .await?;
            if let Some(w) = &warning {
                metrics::counter!("vytalcall_signaling_quality_warnings_total", "warning" => w.warning).increment(1);
                wire::emit(
                    s,
                    &wire::QualityWarning {
                        call_id: call,
                        warning: w.warning,
                        suggestion: w.suggestion,
                        metrics,
                    },
                );
            }
            Ok(wire::ok(wire::QualityResult {
                call_id: call,
                stored,
                warning: warning.as_ref().map(|w| w.warning),
                suggestion: warning.as_ref().map(|w| w.suggestion),
            }))
        }
        ClientEvent::DeviceCheck { call, check } => door::device_check(hub, session, call, check).await,
        ClientEvent::Admit { call, user } => door::admit(hub, session, call, user).await,
        ClientEvent::SendBack { call, user } => door::send_back(hub, session, call, user).await,
        ClientEvent::WaitingRoomMessage { call, text } => door::message(hub, session, call, text).await,
    }
}

/// A call closed by another node took this socket out of its room (through the adapter);
/// the socket's own record of the membership follows.
fn forget_if_closed<A: Adapter>(s: &SocketRef<A>, session: &Session, call: CallId) {
    if session.is_joined(call) {
        let room = call_room(call);
        if !s.rooms().iter().any(|r| *r == room) {
            session.state().calls.remove(&call);
        }
    }
}

/// `join-call`, and `reconnect-call` (`media: None`: the device's last known state).
pub(super) async fn join<A: Adapter>(
    hub: &Hub<A>,
    s: &SocketRef<A>,
    session: &Session,
    call: CallId,
    media: Option<(bool, bool)>,
) -> Result<Value, SignalingError> {
    let user = session.caller.user;
    if session.is_joined(call) {
        // Publishing the device again is idempotent, and it heals a store that lost it (Redis
        // restarted, this node's resync not yet run): the caller is always among the
        // participants it is told about.
        let (_, participants) = hub.presence.join(call, user, session.sid.clone()).await?;
        let known = hub.state.people.names_or_none(&participants).await;
        return Ok(wire::ok(wire::JoinResult {
            call_id: call,
            room_id: None,
            status: None,
            people: wire::PersonRef::list(&participants, &known),
            participants,
            resumed: None,
            already_joined: Some(true),
        }));
    }
    let stored = match door::seat(hub, s, session, call, media).await? {
        door::Entry::Waiting(reply) => return Ok(reply),
        door::Entry::Enter(stored) => *stored,
    };
    let connected_now = hub.presence.connected_users(call).await?;
    vytalcall_domain::waiting_room::may_enter(
        connected_now.len(),
        connected_now.contains(&user),
        hub.limits.max_call_participants,
    )
    .map_err(crate::calls::CallError::from)?;
    let (video, audio) = media.unwrap_or((true, true));
    let joined = hub
        .state
        .calls
        .join(
            &session.actor,
            stored,
            JoinRequest {
                device_id: &session.device_id,
                video_enabled: video,
                audio_enabled: audio,
            },
        )
        .await?;
    let (arrival, connected) = match hub.presence.join(call, user, session.sid.clone()).await {
        Ok(joined_now) => joined_now,
        Err(e) => {
            // Undo the device row: the join did not happen.
            let _ = hub
                .state
                .calls
                .leave_device(&session.actor, call, &joined.participant_id, "unavailable")
                .await;
            return Err(e.into());
        }
    };
    s.join([call_room(call), member_room(call, user)]);
    let media = Media {
        video_enabled: video,
        audio_enabled: audio,
        screen_share_enabled: false,
    };
    session.state().calls.insert(
        call,
        Membership {
            participant_id: joined.participant_id,
            media,
            judge: Default::default(),
            last_heard: crate::now_millis(),
        },
    );
    let activated = hub
        .state
        .calls
        .activate_if_present(&session.actor, &joined.call, &connected, (video, audio))
        .await?;
    let status = if activated {
        "active"
    } else {
        joined.call.call.status.as_str()
    };
    let known = hub.state.people.names_or_none(&connected).await;
    let people = wire::PersonRef::list(&connected, &known);
    wire::emit(
        s,
        &wire::RoomParticipants {
            call_id: call,
            participants: connected.clone(),
            people: people.clone(),
        },
    );
    if arrival != Arrival::AnotherDevice {
        let body = wire::ParticipantJoined {
            call_id: call,
            user_id: user,
            name: crate::people::name_in(&known, user),
            role: session.caller.role.as_str(),
            video_enabled: media.video_enabled,
            audio_enabled: media.audio_enabled,
            reconnected: arrival == Arrival::Resumed,
        };
        let _ = wire::broadcast(s.within(call_room(call)).except(member_room(call, user)), &body).await;
    }
    if arrival == Arrival::First && session.caller.role != vytalcall_domain::Role::Patient {
        door::hosts_changed(hub, &joined.call).await;
    }
    // Someone arriving while the call is recorded is asked for consent; until they give it
    // the recording peer refuses their media (`RecordingService::offer`).
    if let Err(e) = hub.state.recordings.on_participant_joined(call, user).await {
        tracing::warn!(error = %e, call_id = %call, "could not check recording consent for a joiner");
    }
    Ok(wire::ok(wire::JoinResult {
        call_id: call,
        room_id: Some(joined.call.room_id),
        status: Some(status.to_string()),
        participants: connected,
        people,
        resumed: Some(arrival == Arrival::Resumed),
        already_joined: None,
    }))
}

pub(super) async fn leave<A: Adapter>(
    hub: &Hub<A>,
    s: &SocketRef<A>,
    session: &Session,
    call: CallId,
    reason: Option<String>,
) -> Result<Value, SignalingError> {
    let user = session.caller.user;
    if session.state().waiting.contains_key(&call) {
        return door::leave(hub, s, session, call).await;
    }
    let membership = session.state().calls.remove(&call).ok_or(SignalingError::NotJoined)?;
    s.leave([call_room(call), member_room(call, user)]);
    let reason = reason.unwrap_or_else(|| "left".into());
    hub.state
        .calls
        .leave_device(&session.actor, call, &membership.participant_id, &reason)
        .await?;
    hub.depart_or_retry(PendingDeparture {
        call,
        user,
        device: session.sid.clone(),
        how: DepartureKind::Left(reason),
    })
    .await?;
    Ok(wire::ok(wire::CallIdResult { call_id: call }))
}

async fn relay<A: Adapter>(
    hub: &Hub<A>,
    s: &SocketRef<A>,
    session: &Session,
    call: CallId,
    signal: Signal,
    target: Option<UserId>,
    received: Instant,
) -> Result<Value, SignalingError> {
    let user = session.caller.user;
    let event = signal.name();
    if !session.is_joined(call) {
        let refusal = session.not_in(call);
        let why = match refusal {
            SignalingError::NotAdmitted => "not admitted",
            _ => "not joined",
        };
        deny(hub, session, call, event, why).await;
        return Err(refusal);
    }
    let ops = match target {
        Some(t) => {
            if t == user || !is_participant(hub, call, t).await? {
                deny(hub, session, call, event, "target outside the call").await;
                return Err(SignalingError::TargetNotInCall);
            }
            s.within(member_room(call, t))
        }
        None => s.within(call_room(call)).except(member_room(call, user)),
    };
    let from_user_id = user;
    let sent = match signal {
        Signal::Offer(offer) => {
            let body = wire::Offer {
                call_id: call,
                offer,
                from_user_id,
            };
            wire::broadcast(ops, &body).await
        }
        Signal::Answer(answer) => {
            let body = wire::Answer {
                call_id: call,
                answer,
                from_user_id,
            };
            wire::broadcast(ops, &body).await
        }
        Signal::Candidate(candidate) => {
            let body = wire::IceCandidate {
                call_id: call,
                candidate,
                from_user_id,
            };
            wire::broadcast(ops, &body).await
        }
    };
    if let Err(socketioxide::BroadcastError::Adapter(e)) = sent {
        // Other nodes could not be reached (Redis away): the sender must know it was lost.
        return Err(super::presence::PresenceError(e.to_string()).into());
    }
    metrics::histogram!("vytalcall_signaling_relay_seconds", "event" => event).record(received.elapsed().as_secs_f64());
    Ok(wire::ok(wire::CallIdResult { call_id: call }))
}

/// In the call by presence (connected, or within the grace period), or, should presence not
/// know them, with a device joined by the database: right after the shared store comes back
/// empty, each node publishes its devices again within a second, and a relay to someone on
/// a node that has not yet must not be refused as if they had left.
async fn is_participant<A: Adapter>(hub: &Hub<A>, call: CallId, user: UserId) -> Result<bool, SignalingError> {
    if hub.presence.is_participant(call, user).await? {
        return Ok(true);
    }
    Ok(hub.state.calls.has_joined_device(call, user).await?)
}
