//! The one error type of the signaling layer and its wire shape. Every refusal reaches the
//! client once: as the acknowledgement `{ error: { code, message } }` when the event asked
//! for one, otherwise as an `error` event `{ event, error: { code, message } }`.

use super::wire::ErrorBody;
use crate::calls::CallError;
use vytalcall_domain::waiting_room::RoomRefused;

#[derive(Debug, thiserror::Error)]
pub enum SignalingError {
    /// A field is missing, of the wrong type, or out of range.
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("the event payload is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("too many events from this connection; slow down")]
    RateLimited,
    #[error("join the call before sending its signaling")]
    NotJoined,
    #[error("you are in the waiting room: a provider has not let you in yet")]
    NotAdmitted,
    #[error("targetUserId is not a participant of this call")]
    TargetNotInCall,
    #[error("nothing to resume in this call: join it with join-call")]
    NothingToResume,
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
    #[error(transparent)]
    Call(#[from] CallError),
    /// A shared dependency (Redis) is away; the event may be retried shortly.
    #[error("signaling is temporarily unavailable; try again shortly")]
    Unavailable(#[from] super::presence::PresenceError),
}

impl SignalingError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> SignalingError {
        SignalingError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// A stable, machine-readable code; clients branch on it, never on the message.
    pub fn code(&self) -> &'static str {
        match self {
            SignalingError::Invalid { .. } => "invalid-payload",
            SignalingError::TooLarge { .. } => "payload-too-large",
            SignalingError::RateLimited => "rate-limited",
            SignalingError::NotJoined => "not-joined",
            SignalingError::NotAdmitted => "not-admitted",
            SignalingError::TargetNotInCall => "target-not-in-call",
            SignalingError::NothingToResume => "not-in-call",
            SignalingError::UnknownEvent(_) => "unknown-event",
            SignalingError::Unavailable(_) => "unavailable",
            SignalingError::Call(e) => match e {
                CallError::NotFound => "call-not-found",
                CallError::Forbidden(_) => "forbidden",
                CallError::Invalid { .. } => "invalid-payload",
                CallError::Transition { .. } => "call-not-joinable",
                CallError::Busy => "busy",
                CallError::Room(refused) => match refused {
                    RoomRefused::NotHost => "forbidden",
                    RoomRefused::CallFull(_) => "call-full",
                    RoomRefused::NotWaiting => "not-waiting",
                    RoomRefused::NotAdmitted => "not-admitted",
                },
                CallError::Store(_) => "internal",
            },
        }
    }

    /// The message shown to the client. Storage failures are logged, never described.
    fn message(&self) -> String {
        match self {
            SignalingError::Call(CallError::Store(_)) => "internal error; try again".into(),
            SignalingError::Unavailable(_) => "signaling is temporarily unavailable; try again shortly".into(),
            SignalingError::UnknownEvent(name) => {
                format!("unknown event {:?}", name.chars().take(64).collect::<String>())
            }
            other => other.to_string(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.message(),
        }
    }
}
