//! The signaling wire, in one place: the room names, a `Serialize` type for every
//! server→client event (mirroring `clients/js/src/events.ts`, whose lists a test compares
//! with [`SERVER_EVENTS`] and [`CLIENT_EVENTS`]), the acknowledgement replies, and the emit
//! helpers. Field names are the seed design's; the e2e signaling suites are the contract.
//!
//! Handlers build an event value and hand it to [`emit`], [`broadcast`] or [`to_rooms`];
//! no other module spells an event name or a payload field.

use super::payload::{Candidate, Description, EventName};
use super::session::Media;
use serde::Serialize;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::{BroadcastError, SocketIo};
use vytalcall_domain::quality::QualityMetrics;
use vytalcall_domain::{CallId, RecordingId, UserId};

pub use crate::calls::view::iso as timestamp;

mod waiting_room;
pub use waiting_room::*;

// ---- rooms ---------------------------------------------------------------------------------

/// Every connected socket of a user (ringing reaches all their devices).
pub fn user_room(user: UserId) -> String {
    format!("user:{user}")
}

/// Every socket that joined a call.
pub fn call_room(call: CallId) -> String {
    format!("call:{call}")
}

/// The sockets of one user that joined a call (targeted relay).
pub fn member_room(call: CallId, user: UserId) -> String {
    format!("call:{call}:user:{user}")
}

/// Every socket waiting at a call's door (the providers' messages).
pub fn door_room(call: CallId) -> String {
    format!("door:{call}")
}

/// The sockets of one user waiting at a call's door (their place in the queue).
pub fn seat_room(call: CallId, user: UserId) -> String {
    format!("door:{call}:user:{user}")
}

// ---- server → client events ----------------------------------------------------------------

/// A server→client event: its payload type knows its wire name.
pub trait ServerEvent: Serialize {
    const NAME: &'static str;
}

macro_rules! server_events {
    ($($ty:ident => $name:literal),* $(,)?) => {
        $(impl ServerEvent for $ty { const NAME: &'static str = $name; })*
        /// The name of every server→client event, in the order of `events.ts`.
        pub const SERVER_EVENTS: &[&str] = &[$($name),*];
    };
}

server_events! {
    IncomingCall => "incoming-call",
    CallAnswered => "call-answered",
    CallEnded => "call-ended",
    CallCancelled => "call-cancelled",
    ParticipantJoined => "participant-joined",
    ParticipantLeft => "participant-left",
    ParticipantDisconnected => "participant-disconnected",
    RoomParticipants => "room-participants",
    Offer => "offer",
    Answer => "answer",
    IceCandidate => "ice-candidate",
    ParticipantMediaUpdated => "participant-media-updated",
    QualityWarning => "quality-warning",
    RequestQualityStats => "request-quality-stats",
    RecordingStarted => "recording-started",
    RecordingStopped => "recording-stopped",
    RecordingConsentRequested => "recording-consent-requested",
    SessionExpired => "session-expired",
    WaitingRoomStatus => "waiting-room-status",
    WaitingRoomQueue => "waiting-room",
    Admitted => "admitted",
    WaitingRoomNote => "message",
    ErrorEvent => "error",
}

/// The name of every client→server event, in the order of `events.ts`.
pub const CLIENT_EVENTS: [&str; EventName::ALL.len()] = {
    let mut names = [""; EventName::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = EventName::ALL[i].as_str();
        i += 1;
    }
    names
};

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingCall {
    pub call_id: CallId,
    pub call_type: &'static str,
    pub from: UserId,
    /// The display name of `from` (their token's `name` claim), `null` when unknown.
    pub from_name: Option<String>,
    pub room_id: String,
    pub scheduled_at: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallAnswered {
    pub call_id: CallId,
    pub answered_by: UserId,
    pub timestamp: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEnded {
    pub call_id: CallId,
    pub reason: String,
    pub timestamp: String,
}

/// The same body as [`CallEnded`], for a call that never connected.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct CallCancelled(pub CallEnded);

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantJoined {
    pub call_id: CallId,
    pub user_id: UserId,
    /// The joiner's display name, `null` when unknown.
    pub name: Option<String>,
    /// The joiner's role (`patient`, `provider`, `admin`).
    pub role: &'static str,
    pub video_enabled: bool,
    pub audio_enabled: bool,
    pub reconnected: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantLeft {
    pub call_id: CallId,
    pub user_id: UserId,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantDisconnected {
    pub call_id: CallId,
    pub user_id: UserId,
    pub timestamp: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomParticipants {
    pub call_id: CallId,
    pub participants: Vec<UserId>,
    /// The same people as `participants`, in the same order, with their names.
    pub people: Vec<PersonRef>,
}

/// A person in a participant list: the id (as in `participants`) with role and name, each
/// `null` when the server does not know it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonRef {
    pub user_id: UserId,
    pub role: Option<&'static str>,
    pub name: Option<String>,
}

impl PersonRef {
    /// `users` with what `known` holds about them, in order.
    pub fn list(
        users: &[UserId],
        known: &std::collections::HashMap<UserId, crate::storage::people::Person>,
    ) -> Vec<PersonRef> {
        users
            .iter()
            .map(|u| PersonRef {
                user_id: *u,
                role: known.get(u).map(|p| p.role.as_str()),
                name: known.get(u).and_then(|p| p.name.clone()),
            })
            .collect()
    }
}

/// A relayed offer, rebuilt from its known fields.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    pub call_id: CallId,
    pub offer: Description,
    pub from_user_id: UserId,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub call_id: CallId,
    pub answer: Description,
    pub from_user_id: UserId,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub call_id: CallId,
    pub candidate: Candidate,
    pub from_user_id: UserId,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantMediaUpdated {
    pub call_id: CallId,
    pub user_id: UserId,
    #[serde(flatten)]
    pub media: Media,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityWarning {
    pub call_id: CallId,
    pub warning: &'static str,
    pub suggestion: &'static str,
    pub metrics: QualityMetrics,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestQualityStats {
    pub call_id: CallId,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStarted {
    pub call_id: CallId,
    pub recording_id: RecordingId,
    pub started_by: UserId,
    pub timestamp: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStopped {
    pub call_id: CallId,
    pub recording_id: RecordingId,
    /// `null` when the server stopped it (the call ended).
    pub stopped_by: Option<UserId>,
    pub timestamp: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingConsentRequested {
    pub call_id: CallId,
    pub recording_id: RecordingId,
}

#[derive(Clone, Debug, Serialize)]
pub struct SessionExpired {
    pub reason: &'static str,
}

/// `{ code, message }`: how every refusal is described.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
}

/// A refusal of an event sent without an acknowledgement (or of the session itself, when
/// `event` is absent).
#[derive(Clone, Debug, Serialize)]
pub struct ErrorEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub error: ErrorBody,
}

// ---- acknowledgement replies ---------------------------------------------------------------

/// The failure reply of an acknowledged event.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorReply {
    pub error: ErrorBody,
}

/// The success reply of an acknowledged event: `{ ok: true, ...body }`.
#[derive(Clone, Debug, Serialize)]
pub struct OkReply<T> {
    ok: bool,
    #[serde(flatten)]
    body: T,
}

/// `{ ok: true, ...body }` as the value an acknowledgement carries.
pub fn ok<T: Serialize>(body: T) -> Value {
    to_value(&OkReply { ok: true, body })
}

/// The failure reply as the value an acknowledgement carries.
pub fn error_reply(error: ErrorBody) -> Value {
    to_value(&ErrorReply { error })
}

fn to_value<T: Serialize>(v: &T) -> Value {
    // These types hold only strings, numbers, booleans and ids: serialising cannot fail.
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The reply of `leave-call`, `offer`, `answer` and `ice-candidate`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallIdResult {
    pub call_id: CallId,
}

/// The reply of `join-call` and `reconnect-call`; `roomId`, `status` and `resumed` are absent when
/// `alreadyJoined` is set.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinResult {
    pub call_id: CallId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub participants: Vec<UserId>,
    /// The same people as `participants`, with their names.
    pub people: Vec<PersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_joined: Option<bool>,
}

/// The reply of `connection-quality`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityResult {
    pub call_id: CallId,
    pub stored: bool,
    pub warning: Option<&'static str>,
    pub suggestion: Option<&'static str>,
}

// ---- emit helpers --------------------------------------------------------------------------

/// Sends an event to one socket (a closed socket misses it, as it would any packet).
pub fn emit<A: Adapter, E: ServerEvent>(s: &SocketRef<A>, event: &E) {
    let _ = s.emit(E::NAME, event);
}

/// Sends an event to the sockets `ops` selects, on every node.
pub async fn broadcast<A: Adapter, E: ServerEvent>(
    ops: BroadcastOperators<A>,
    event: &E,
) -> Result<(), BroadcastError> {
    ops.emit(E::NAME, event).await
}

/// Sends an event to every socket of the signaling namespace in `rooms`, on every node; a
/// failure is logged (the event is a notice nobody waits for).
pub async fn to_rooms<A: Adapter, E: ServerEvent>(io: &SocketIo<A>, rooms: Vec<String>, event: &E) {
    if let Some(ns) = io.of(super::NAMESPACE)
        && let Err(e) = ns.to(rooms).emit(E::NAME, event).await
    {
        tracing::warn!(error = %e, event = E::NAME, "emit failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The quoted names of a `export const NAME = [ ... ]` list in `events.ts`.
    fn ts_list(name: &str) -> Vec<String> {
        let ts = include_str!("../../../../../clients/js/src/events.ts");
        let start = ts
            .find(&format!("export const {name} = ["))
            .unwrap_or_else(|| panic!("events.ts declares {name}"));
        let rest = &ts[start..];
        let end = rest.find(']').unwrap_or_else(|| panic!("{name} is closed"));
        rest[..end].split('\'').skip(1).step_by(2).map(str::to_string).collect()
    }

    #[test]
    fn the_server_events_are_those_of_the_typescript_sdk() {
        let ts = ts_list("SERVER_EVENTS");
        assert_eq!(ts.len(), 23, "{ts:?}");
        assert_eq!(SERVER_EVENTS, ts.as_slice());
    }

    #[test]
    fn the_client_events_are_those_of_the_typescript_sdk() {
        let ts = ts_list("CLIENT_EVENTS");
        assert_eq!(ts.len(), 12, "{ts:?}");
        assert_eq!(CLIENT_EVENTS.as_slice(), ts.as_slice());
    }

    #[test]
    fn every_server_event_is_declared_in_the_typescript_event_map() {
        let ts = include_str!("../../../../../clients/js/src/events.ts");
        let start = ts.find("export interface ServerToClientEvents").expect("the event map");
        let map = &ts[start..start + ts[start..].find("\n}").expect("its end")];
        for name in SERVER_EVENTS {
            let quoted = format!("'{name}': (");
            let bare = format!("  {name}: (");
            assert!(
                map.contains(&quoted) || map.contains(&bare),
                "{name} in ServerToClientEvents"
            );
        }
    }

    #[test]
    fn payloads_keep_the_seed_field_names() {
        let call = CallId::new_random();
        let user = UserId::new_random();
        let media = Media {
            video_enabled: false,
            audio_enabled: true,
            screen_share_enabled: false,
        };
        let updated = ParticipantMediaUpdated {
            call_id: call,
            user_id: user,
            media,
        };
        assert_eq!(
            ok(&updated),
            json!({"ok": true, "callId": call, "userId": user, "videoEnabled": false, "audioEnabled": true, "screenShareEnabled": false})
        );
        let expired = ErrorEvent {
            event: None,
            error: ErrorBody {
                code: "token-expired",
                message: "m".into(),
            },
        };
        assert_eq!(
            to_value(&expired),
            json!({"error": {"code": "token-expired", "message": "m"}})
        );
        let cancelled = CallCancelled(CallEnded {
            call_id: call,
            reason: "r".into(),
            timestamp: timestamp(0),
        });
        assert_eq!(
            to_value(&cancelled),
            json!({"callId": call, "reason": "r", "timestamp": "1970-01-01T00:00:00.000Z"})
        );
        let stopped = RecordingStopped {
            call_id: call,
            recording_id: RecordingId::new_random(),
            stopped_by: None,
            timestamp: timestamp(0),
        };
        assert_eq!(to_value(&stopped)["stoppedBy"], Value::Null);
    }
}
