//! The client→server events and their payloads, parsed into types that cannot hold bad
//! values. Field names are the seed's (`callId`, `targetUserId`, `videoEnabled`, ...).
//! Relayed bodies (`offer`, `answer`, `candidate`) are rebuilt from their known fields, so a
//! client can smuggle nothing else to its peer.
//!
//! Payloads are read with serde and `serde_path_to_error`, as REST bodies are
//! (`http::extract`): each field's type (in [`fields`]) refuses a bad value with the message
//! clients know, and the error's path names the field.

mod fields;
mod parse;

pub use parse::parse;

use serde::Serialize;
use vytalcall_domain::quality::QualityMetrics;
use vytalcall_domain::{CallId, UserId};

/// The events a client may send, by their wire names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventName {
    JoinCall,
    LeaveCall,
    Offer,
    Answer,
    IceCandidate,
    UpdateMedia,
    ConnectionQuality,
    ReconnectCall,
    DeviceCheck,
    AdmitParticipant,
    ReturnToWaitingRoom,
    WaitingRoomMessage,
}

impl EventName {
    pub const ALL: [EventName; 12] = [
        EventName::JoinCall,
        EventName::LeaveCall,
        EventName::Offer,
        EventName::Answer,
        EventName::IceCandidate,
        EventName::UpdateMedia,
        EventName::ConnectionQuality,
        EventName::ReconnectCall,
        EventName::DeviceCheck,
        EventName::AdmitParticipant,
        EventName::ReturnToWaitingRoom,
        EventName::WaitingRoomMessage,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventName::JoinCall => "join-call",
            EventName::LeaveCall => "leave-call",
            EventName::Offer => "offer",
            EventName::Answer => "answer",
            EventName::IceCandidate => "ice-candidate",
            EventName::UpdateMedia => "update-media",
            EventName::ConnectionQuality => "connection-quality",
            EventName::ReconnectCall => "reconnect-call",
            EventName::DeviceCheck => "device-check",
            EventName::AdmitParticipant => "admit-participant",
            EventName::ReturnToWaitingRoom => "return-to-waiting-room",
            EventName::WaitingRoomMessage => "waiting-room-message",
        }
    }

    pub fn parse(name: &str) -> Option<EventName> {
        EventName::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// An SDP offer or answer as `RTCSessionDescription` serialises it.
#[derive(Clone, Debug, Serialize)]
pub struct Description {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub sdp: String,
}

/// An ICE candidate as `RTCIceCandidate.toJSON()` gives it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub candidate: String,
    pub sdp_mid: Option<String>,
    #[serde(rename = "sdpMLineIndex")]
    pub sdp_m_line_index: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// Which body a relayed event carries.
#[derive(Clone, Debug)]
pub enum Signal {
    Offer(Description),
    Answer(Description),
    Candidate(Candidate),
}

impl Signal {
    /// The event it arrived as, and is relayed as.
    pub fn name(&self) -> &'static str {
        use super::wire::ServerEvent;
        match self {
            Signal::Offer(_) => super::wire::Offer::NAME,
            Signal::Answer(_) => super::wire::Answer::NAME,
            Signal::Candidate(_) => super::wire::IceCandidate::NAME,
        }
    }
}

#[derive(Clone, Debug)]
pub enum ClientEvent {
    JoinCall {
        call: CallId,
        video: bool,
        audio: bool,
    },
    LeaveCall {
        call: CallId,
        reason: Option<String>,
    },
    Relay {
        call: CallId,
        signal: Signal,
        target: Option<UserId>,
    },
    UpdateMedia {
        call: CallId,
        video: Option<bool>,
        audio: Option<bool>,
        screen: Option<bool>,
    },
    ConnectionQuality {
        call: CallId,
        metrics: QualityMetrics,
    },
    ReconnectCall {
        call: CallId,
    },
    DeviceCheck {
        call: CallId,
        check: vytalcall_domain::waiting_room::DeviceCheck,
    },
    Admit {
        call: CallId,
        user: UserId,
    },
    SendBack {
        call: CallId,
        user: UserId,
    },
    WaitingRoomMessage {
        call: CallId,
        text: String,
    },
}

impl ClientEvent {
    pub fn call(&self) -> CallId {
        match self {
            ClientEvent::JoinCall { call, .. }
            | ClientEvent::LeaveCall { call, .. }
            | ClientEvent::Relay { call, .. }
            | ClientEvent::UpdateMedia { call, .. }
            | ClientEvent::ConnectionQuality { call, .. }
            | ClientEvent::ReconnectCall { call }
            | ClientEvent::DeviceCheck { call, .. }
            | ClientEvent::Admit { call, .. }
            | ClientEvent::SendBack { call, .. }
            | ClientEvent::WaitingRoomMessage { call, .. } => *call,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signaling::error::SignalingError;
    use serde_json::json;

    const CALL: &str = "6f1c2c1e-8f4b-4d5e-9a0b-1c2d3e4f5a6b";

    fn field_of(e: SignalingError) -> &'static str {
        match e {
            SignalingError::Invalid { field, .. } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn the_seed_payloads_parse() {
        let cases = [
            (
                EventName::JoinCall,
                json!({"callId": CALL, "videoEnabled": true, "audioEnabled": true}),
            ),
            (EventName::LeaveCall, json!({"callId": CALL, "reason": "User left"})),
            (
                EventName::Offer,
                json!({"callId": CALL, "offer": {"type": "offer", "sdp": "v=0"}, "targetUserId": CALL}),
            ),
            (
                EventName::Answer,
                json!({"callId": CALL, "answer": {"type": "answer", "sdp": "v=0"}, "targetUserId": CALL}),
            ),
            (
                EventName::IceCandidate,
                json!({"callId": CALL, "candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host", "sdpMid": "0", "sdpMLineIndex": 0}}),
            ),
            (
                EventName::UpdateMedia,
                json!({"callId": CALL, "videoEnabled": false, "audioEnabled": true, "screenShareEnabled": false}),
            ),
            (
                EventName::ConnectionQuality,
                json!({"callId": CALL, "metrics": {"bandwidth": 1500, "latency": 45, "packetLoss": 0.5, "jitter": 12, "videoResolution": "1280x720"}}),
            ),
            (EventName::ReconnectCall, json!({"callId": CALL})),
        ];
        for (event, data) in cases {
            let parsed = parse(event, &data).unwrap_or_else(|e| panic!("{event:?}: {e}"));
            assert_eq!(parsed.call().to_string(), CALL);
        }
    }

    #[test]
    fn bad_payloads_name_the_field_at_fault() {
        let cases = [
            (EventName::JoinCall, json!("hello"), "payload"),
            (EventName::JoinCall, json!({}), "callId"),
            (EventName::JoinCall, json!({"callId": "not-a-uuid"}), "callId"),
            (
                EventName::JoinCall,
                json!({"callId": CALL, "videoEnabled": "yes"}),
                "videoEnabled",
            ),
            (EventName::LeaveCall, json!({"callId": CALL, "reason": 5}), "reason"),
            (
                EventName::Offer,
                json!({"callId": CALL, "offer": {"type": "answer", "sdp": "v=0"}}),
                "offer",
            ),
            (
                EventName::Offer,
                json!({"callId": CALL, "offer": {"type": "offer"}}),
                "offer",
            ),
            (
                EventName::Offer,
                json!({"callId": CALL, "offer": {"type": "offer", "sdp": "v=0"}, "targetUserId": 7}),
                "targetUserId",
            ),
            (EventName::Answer, json!({"callId": CALL, "answer": "v=0"}), "answer"),
            (
                EventName::IceCandidate,
                json!({"callId": CALL, "candidate": {"candidate": "x"}}),
                "candidate",
            ),
            (
                EventName::IceCandidate,
                json!({"callId": CALL, "candidate": {"candidate": "x", "sdpMLineIndex": -1}}),
                "candidate",
            ),
            (EventName::UpdateMedia, json!({"callId": CALL}), "videoEnabled"),
            (
                EventName::UpdateMedia,
                json!({"callId": CALL, "screenShareEnabled": 1}),
                "screenShareEnabled",
            ),
            (
                EventName::ConnectionQuality,
                json!({"callId": CALL, "metrics": {"bandwidth": 1, "latency": 1, "packetLoss": 120, "jitter": 1}}),
                "packetLoss",
            ),
            (
                EventName::ConnectionQuality,
                json!({"callId": CALL, "metrics": {"latency": 1, "packetLoss": 1, "jitter": 1}}),
                "bandwidth",
            ),
            (
                EventName::ConnectionQuality,
                json!({"callId": CALL, "metrics": {"bandwidth": 1, "latency": 1, "packetLoss": 1, "jitter": 1, "videoResolution": "big"}}),
                "videoResolution",
            ),
            (EventName::ReconnectCall, json!({"callId": null}), "callId"),
        ];
        for (event, data, field) in cases {
            let err = parse(event, &data).expect_err(&format!("{event:?} {data}"));
            assert_eq!(field_of(err), field, "{event:?} {data}");
        }
    }

    #[test]
    fn refusals_read_as_clients_know_them() {
        let cases = [
            (EventName::JoinCall, json!([CALL]), "payload: must be an object"),
            (
                EventName::JoinCall,
                json!({"callId": 7}),
                "callId: must be a UUID string",
            ),
            (EventName::JoinCall, json!({"callId": "x"}), "callId: must be a UUID"),
            (EventName::JoinCall, json!({"callId": null}), "callId: is required"),
            (
                EventName::JoinCall,
                json!({"callId": "x", "audioEnabled": 1}),
                "callId: must be a UUID",
            ),
            (
                EventName::JoinCall,
                json!({"callId": CALL, "audioEnabled": 1}),
                "audioEnabled: must be true or false",
            ),
            (
                EventName::LeaveCall,
                json!({"callId": CALL, "reason": "x".repeat(201)}),
                "reason: must be at most 200 characters",
            ),
            (
                EventName::LeaveCall,
                json!({"callId": CALL, "reason": {"text": "x"}}),
                "reason: must be a string",
            ),
            (
                EventName::LeaveCall,
                json!({"callId": CALL, "reason": "bye\n2026-01-01 admin granted"}),
                "reason: must not contain control characters",
            ),
            (
                EventName::Offer,
                json!({"callId": CALL, "offer": "v=0"}),
                "offer: must be an object { type, sdp }",
            ),
            (
                EventName::Answer,
                json!({"callId": CALL, "answer": {"type": "offer", "sdp": "v=0"}}),
                "answer: type must be answer or pranswer",
            ),
            (
                EventName::Answer,
                json!({"callId": CALL, "answer": {"type": "answer", "sdp": 5}}),
                "answer: sdp must be a non-empty string",
            ),
            (
                EventName::IceCandidate,
                json!({"callId": CALL, "candidate": [1]}),
                "candidate: must be an object { candidate, sdpMid, sdpMLineIndex }",
            ),
            (
                EventName::IceCandidate,
                json!({"callId": CALL, "candidate": {"candidate": "c", "sdpMLineIndex": 1.5}}),
                "candidate: sdpMLineIndex must be a small non-negative integer",
            ),
            (
                EventName::IceCandidate,
                json!({"callId": CALL, "candidate": {"candidate": "c", "sdpMLineIndex": "0"}}),
                "candidate: sdpMLineIndex must be an integer or null",
            ),
            (
                EventName::IceCandidate,
                json!({"callId": CALL, "candidate": {"candidate": "c", "sdpMid": 0}}),
                "candidate: sdpMid must be a short string or null",
            ),
            (
                EventName::ConnectionQuality,
                json!({"callId": CALL, "metrics": {"bandwidth": -1, "latency": 1, "packetLoss": 1, "jitter": 1}}),
                "bandwidth: must be a number between 0 and 10000000",
            ),
            (
                EventName::ConnectionQuality,
                json!({"callId": CALL, "metrics": {"bandwidth": 1, "latency": "1", "packetLoss": 1, "jitter": 1}}),
                "latency: is required and must be a number",
            ),
            (
                EventName::ConnectionQuality,
                json!({"callId": CALL, "metrics": 3}),
                "metrics: must be an object",
            ),
        ];
        for (event, data, message) in cases {
            let err = parse(event, &data).expect_err(&format!("{event:?} {data}"));
            assert_eq!(err.to_string(), message, "{event:?} {data}");
        }
    }

    #[test]
    fn relayed_bodies_keep_only_known_fields() {
        let data = json!({"callId": CALL, "offer": {"type": "offer", "sdp": "v=0", "evil": true}, "fromUserId": CALL});
        let ClientEvent::Relay { signal, .. } = parse(EventName::Offer, &data).expect("valid") else {
            panic!("a relay");
        };
        let Signal::Offer(offer) = signal else {
            panic!("an offer")
        };
        assert_eq!(
            serde_json::to_value(offer).expect("json"),
            json!({"type": "offer", "sdp": "v=0"})
        );
    }
}
