//! The client→server events and their payloads, parsed into types that cannot hold bad
//! values. Field names are the seed's (`callId`, `targetUserId`, `videoEnabled`, ...).
//! Relayed bodies (`offer`, `answer`, `candidate`) are rebuilt from their known fields, so a
//! client can smuggle nothing else to its peer.

use super::error::SignalingError;
use serde::Serialize;
use serde_json::{Map, Value};
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
}

impl EventName {
    pub const ALL: [EventName; 8] = [
        EventName::JoinCall,
        EventName::LeaveCall,
        EventName::Offer,
        EventName::Answer,
        EventName::IceCandidate,
        EventName::UpdateMedia,
        EventName::ConnectionQuality,
        EventName::ReconnectCall,
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
}

impl ClientEvent {
    pub fn call(&self) -> CallId {
        match self {
            ClientEvent::JoinCall { call, .. }
            | ClientEvent::LeaveCall { call, .. }
            | ClientEvent::Relay { call, .. }
            | ClientEvent::UpdateMedia { call, .. }
            | ClientEvent::ConnectionQuality { call, .. }
            | ClientEvent::ReconnectCall { call } => *call,
        }
    }
}

const MAX_REASON: usize = 200;
const MAX_CANDIDATE: usize = 4096;
const MAX_SHORT: usize = 256;

pub fn parse(event: EventName, data: &Value) -> Result<ClientEvent, SignalingError> {
    let Value::Object(m) = data else {
        return Err(SignalingError::invalid("payload", "must be an object"));
    };
    let call = uuid_field(m, "callId")?.ok_or_else(|| missing("callId"))?;
    Ok(match event {
        EventName::JoinCall => ClientEvent::JoinCall {
            call,
            video: bool_field(m, "videoEnabled")?.unwrap_or(true),
            audio: bool_field(m, "audioEnabled")?.unwrap_or(true),
        },
        EventName::LeaveCall => ClientEvent::LeaveCall {
            call,
            reason: text_field(m, "reason", MAX_REASON)?,
        },
        EventName::Offer => ClientEvent::Relay {
            call,
            signal: Signal::Offer(description(m, "offer", &["offer"])?),
            target: uuid_field(m, "targetUserId")?,
        },
        EventName::Answer => ClientEvent::Relay {
            call,
            signal: Signal::Answer(description(m, "answer", &["answer", "pranswer"])?),
            target: uuid_field(m, "targetUserId")?,
        },
        EventName::IceCandidate => ClientEvent::Relay {
            call,
            signal: Signal::Candidate(candidate(m)?),
            target: uuid_field(m, "targetUserId")?,
        },
        EventName::UpdateMedia => {
            let video = bool_field(m, "videoEnabled")?;
            let audio = bool_field(m, "audioEnabled")?;
            let screen = bool_field(m, "screenShareEnabled")?;
            if video.is_none() && audio.is_none() && screen.is_none() {
                return Err(SignalingError::invalid(
                    "videoEnabled",
                    "at least one of videoEnabled, audioEnabled, screenShareEnabled is required",
                ));
            }
            ClientEvent::UpdateMedia {
                call,
                video,
                audio,
                screen,
            }
        }
        EventName::ConnectionQuality => ClientEvent::ConnectionQuality {
            call,
            metrics: metrics(m)?,
        },
        EventName::ReconnectCall => ClientEvent::ReconnectCall { call },
    })
}

fn missing(field: &'static str) -> SignalingError {
    SignalingError::invalid(field, "is required")
}

/// A UUID field; absent and `null` are `None`.
fn uuid_field<T: std::str::FromStr>(m: &Map<String, Value>, field: &'static str) -> Result<Option<T>, SignalingError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| SignalingError::invalid(field, "must be a UUID")),
        Some(_) => Err(SignalingError::invalid(field, "must be a UUID string")),
    }
}

fn bool_field(m: &Map<String, Value>, field: &'static str) -> Result<Option<bool>, SignalingError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(SignalingError::invalid(field, "must be true or false")),
    }
}

fn text_field(m: &Map<String, Value>, field: &'static str, max: usize) -> Result<Option<String>, SignalingError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(SignalingError::invalid(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(_) => Err(SignalingError::invalid(field, "must be a string")),
    }
}

fn description(
    m: &Map<String, Value>,
    field: &'static str,
    kinds: &[&'static str],
) -> Result<Description, SignalingError> {
    let Some(Value::Object(d)) = m.get(field) else {
        return Err(SignalingError::invalid(field, "must be an object { type, sdp }"));
    };
    let kind = match d.get("type") {
        Some(Value::String(t)) => kinds.iter().find(|k| **k == t.as_str()).copied(),
        _ => None,
    }
    .ok_or_else(|| SignalingError::invalid(field, format!("type must be {}", kinds.join(" or "))))?;
    let sdp = match d.get("sdp") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(SignalingError::invalid(field, "sdp must be a non-empty string")),
    };
    Ok(Description { kind, sdp })
}

fn candidate(m: &Map<String, Value>) -> Result<Candidate, SignalingError> {
    let Some(Value::Object(c)) = m.get("candidate") else {
        return Err(SignalingError::invalid(
            "candidate",
            "must be an object { candidate, sdpMid, sdpMLineIndex }",
        ));
    };
    let candidate = match c.get("candidate") {
        Some(Value::String(s)) if s.len() <= MAX_CANDIDATE => s.clone(),
        _ => {
            return Err(SignalingError::invalid(
                "candidate",
                format!("candidate must be a string of at most {MAX_CANDIDATE} bytes"),
            ));
        }
    };
    let sdp_mid = text_field(c, "sdpMid", MAX_SHORT)
        .map_err(|_| SignalingError::invalid("candidate", "sdpMid must be a short string or null"))?;
    let sdp_m_line_index = match c.get("sdpMLineIndex") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().and_then(|i| u16::try_from(i).ok()).ok_or_else(|| {
            SignalingError::invalid("candidate", "sdpMLineIndex must be a small non-negative integer")
        })?),
        Some(_) => {
            return Err(SignalingError::invalid(
                "candidate",
                "sdpMLineIndex must be an integer or null",
            ));
        }
    };
    if sdp_mid.is_none() && sdp_m_line_index.is_none() {
        return Err(SignalingError::invalid(
            "candidate",
            "sdpMid or sdpMLineIndex is required",
        ));
    }
    let username_fragment = text_field(c, "usernameFragment", MAX_SHORT)
        .map_err(|_| SignalingError::invalid("candidate", "usernameFragment must be a short string or null"))?;
    Ok(Candidate {
        candidate,
        sdp_mid,
        sdp_m_line_index,
        username_fragment,
    })
}

fn number(m: &Map<String, Value>, field: &'static str, max: f64) -> Result<f64, SignalingError> {
    match m.get(field).and_then(Value::as_f64) {
        Some(x) if x.is_finite() && (0.0..=max).contains(&x) => Ok(x),
        Some(_) => Err(SignalingError::invalid(
            field,
            format!("must be a number between 0 and {max}"),
        )),
        None => Err(SignalingError::invalid(field, "is required and must be a number")),
    }
}

fn metrics(m: &Map<String, Value>) -> Result<QualityMetrics, SignalingError> {
    let Some(Value::Object(q)) = m.get("metrics") else {
        return Err(SignalingError::invalid("metrics", "must be an object"));
    };
    let video_resolution = match q.get("videoResolution") {
        None | Some(Value::Null) => None,
        Some(Value::String(s))
            if s.len() <= 16
                && s.split_once('x')
                    .is_some_and(|(w, h)| w.parse::<u32>().is_ok() && h.parse::<u32>().is_ok()) =>
        {
            Some(s.clone())
        }
        Some(_) => {
            return Err(SignalingError::invalid("videoResolution", "must look like 1280x720"));
        }
    };
    Ok(QualityMetrics {
        bandwidth: number(q, "bandwidth", 10_000_000.0)?,
        latency: number(q, "latency", 600_000.0)?,
        packet_loss: number(q, "packetLoss", 100.0)?,
        jitter: number(q, "jitter", 600_000.0)?,
        video_resolution,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
