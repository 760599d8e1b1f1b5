//! The client→server events and their payloads, parsed into types that cannot hold bad
//! values. Field names are the seed's (`callId`, `targetUserId`, `videoEnabled`, ...).
//! Relayed bodies (`offer`, `answer`, `candidate`) are rebuilt from their known fields, so a
//! client can smuggle nothing else to its peer.
//!
//! Payloads are read with serde and `serde_path_to_error`, as REST bodies are
//! (`http::extract`): each field's type (in [`fields`]) refuses a bad value with the message
//! clients know, and the error's path names the field.

mod fields;

use super::error::SignalingError;
use fields::{Flag, Id, Metric, Object, Resolution, Scalar, Shape, Text};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

/// Every event names its call first; a bad `callId` is the refusal whatever else is wrong.
#[derive(Deserialize)]
struct ForCall {
    #[serde(rename = "callId")]
    call: Option<Id<CallId>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinCallIn {
    video_enabled: Option<Flag>,
    audio_enabled: Option<Flag>,
}

#[derive(Deserialize)]
struct LeaveCallIn {
    reason: Option<Text<MAX_REASON>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OfferIn {
    offer: Option<Object<DescriptionIn>>,
    target_user_id: Option<Id<UserId>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnswerIn {
    answer: Option<Object<DescriptionIn>>,
    target_user_id: Option<Id<UserId>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IceCandidateIn {
    candidate: Option<Object<CandidateIn>>,
    target_user_id: Option<Id<UserId>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateMediaIn {
    video_enabled: Option<Flag>,
    audio_enabled: Option<Flag>,
    screen_share_enabled: Option<Flag>,
}

#[derive(Deserialize)]
struct ConnectionQualityIn {
    metrics: Option<Object<MetricsIn>>,
}

/// `{ type, sdp }`, read loosely: the message for a bad part depends on the event.
#[derive(Deserialize)]
struct DescriptionIn {
    #[serde(rename = "type")]
    kind: Option<Scalar>,
    sdp: Option<Scalar>,
}

impl Shape for DescriptionIn {
    const NOT_AN_OBJECT: &'static str = "must be an object { type, sdp }";
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateIn {
    candidate: Option<Scalar>,
    sdp_mid: Option<Scalar>,
    #[serde(rename = "sdpMLineIndex")]
    sdp_m_line_index: Option<Scalar>,
    username_fragment: Option<Scalar>,
}

impl Shape for CandidateIn {
    const NOT_AN_OBJECT: &'static str = "must be an object { candidate, sdpMid, sdpMLineIndex }";
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricsIn {
    bandwidth: Option<Metric<10_000_000>>,
    latency: Option<Metric<600_000>>,
    packet_loss: Option<Metric<100>>,
    jitter: Option<Metric<600_000>>,
    video_resolution: Option<Resolution>,
}

impl Shape for MetricsIn {
    const NOT_AN_OBJECT: &'static str = "must be an object";
}

/// Reads `data` as `T`, naming the field at fault.
fn read<'a, T: Deserialize<'a>>(data: &'a Value) -> Result<T, SignalingError> {
    serde_path_to_error::deserialize(data).map_err(fields::refusal)
}

pub fn parse(event: EventName, data: &Value) -> Result<ClientEvent, SignalingError> {
    // serde would also fill a struct from an array, positionally; payloads are objects only.
    if !data.is_object() {
        return Err(SignalingError::invalid("payload", "must be an object"));
    }
    let ForCall { call } = read(data)?;
    let call = call.ok_or_else(|| missing("callId"))?.0;
    let flag = |f: Option<Flag>| f.map(|Flag(b)| b);
    Ok(match event {
        EventName::JoinCall => {
            let e: JoinCallIn = read(data)?;
            ClientEvent::JoinCall {
                call,
                video: flag(e.video_enabled).unwrap_or(true),
                audio: flag(e.audio_enabled).unwrap_or(true),
            }
        }
        EventName::LeaveCall => {
            let e: LeaveCallIn = read(data)?;
            ClientEvent::LeaveCall {
                call,
                reason: e.reason.map(|Text(r)| r),
            }
        }
        EventName::Offer => {
            let e: OfferIn = read(data)?;
            ClientEvent::Relay {
                call,
                signal: Signal::Offer(description(e.offer, "offer", &["offer"])?),
                target: e.target_user_id.map(|Id(u)| u),
            }
        }
        EventName::Answer => {
            let e: AnswerIn = read(data)?;
            ClientEvent::Relay {
                call,
                signal: Signal::Answer(description(e.answer, "answer", &["answer", "pranswer"])?),
                target: e.target_user_id.map(|Id(u)| u),
            }
        }
        EventName::IceCandidate => {
            let e: IceCandidateIn = read(data)?;
            ClientEvent::Relay {
                call,
                signal: Signal::Candidate(candidate(e.candidate)?),
                target: e.target_user_id.map(|Id(u)| u),
            }
        }
        EventName::UpdateMedia => {
            let e: UpdateMediaIn = read(data)?;
            let (video, audio, screen) = (
                flag(e.video_enabled),
                flag(e.audio_enabled),
                flag(e.screen_share_enabled),
            );
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
        EventName::ConnectionQuality => {
            let e: ConnectionQualityIn = read(data)?;
            ClientEvent::ConnectionQuality {
                call,
                metrics: metrics(e.metrics)?,
            }
        }
        EventName::ReconnectCall => ClientEvent::ReconnectCall { call },
    })
}

fn missing(field: &'static str) -> SignalingError {
    SignalingError::invalid(field, "is required")
}

fn description(
    d: Option<Object<DescriptionIn>>,
    field: &'static str,
    kinds: &[&'static str],
) -> Result<Description, SignalingError> {
    let Some(Object(d)) = d else {
        return Err(SignalingError::invalid(field, DescriptionIn::NOT_AN_OBJECT));
    };
    let kind = match &d.kind {
        Some(Scalar::Str(t)) => kinds.iter().find(|k| **k == t.as_str()).copied(),
        _ => None,
    }
    .ok_or_else(|| SignalingError::invalid(field, format!("type must be {}", kinds.join(" or "))))?;
    let sdp = match d.sdp {
        Some(Scalar::Str(s)) if !s.is_empty() => s,
        _ => return Err(SignalingError::invalid(field, "sdp must be a non-empty string")),
    };
    Ok(Description { kind, sdp })
}

/// A short optional string (`null` and absent are `None`); `why` otherwise.
fn short(v: Option<Scalar>, why: &'static str) -> Result<Option<String>, SignalingError> {
    match v {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Str(s)) if s.chars().count() <= MAX_SHORT => Ok(Some(s)),
        Some(_) => Err(SignalingError::invalid("candidate", why)),
    }
}

fn candidate(c: Option<Object<CandidateIn>>) -> Result<Candidate, SignalingError> {
    let Some(Object(c)) = c else {
        return Err(SignalingError::invalid("candidate", CandidateIn::NOT_AN_OBJECT));
    };
    let candidate = match c.candidate {
        Some(Scalar::Str(s)) if s.len() <= MAX_CANDIDATE => s,
        _ => {
            return Err(SignalingError::invalid(
                "candidate",
                format!("candidate must be a string of at most {MAX_CANDIDATE} bytes"),
            ));
        }
    };
    let sdp_mid = short(c.sdp_mid, "sdpMid must be a short string or null")?;
    let sdp_m_line_index = match c.sdp_m_line_index {
        None | Some(Scalar::Null) => None,
        Some(Scalar::Number(_, n)) => Some(n.and_then(|i| u16::try_from(i).ok()).ok_or_else(|| {
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
    let username_fragment = short(c.username_fragment, "usernameFragment must be a short string or null")?;
    Ok(Candidate {
        candidate,
        sdp_mid,
        sdp_m_line_index,
        username_fragment,
    })
}

fn metrics(m: Option<Object<MetricsIn>>) -> Result<QualityMetrics, SignalingError> {
    let Some(Object(m)) = m else {
        return Err(SignalingError::invalid("metrics", MetricsIn::NOT_AN_OBJECT));
    };
    fn required<const MAX: u64>(v: Option<Metric<MAX>>, field: &'static str) -> Result<f64, SignalingError> {
        v.map(|Metric(x)| x)
            .ok_or_else(|| SignalingError::invalid(field, fields::METRIC_REQUIRED))
    }
    Ok(QualityMetrics {
        bandwidth: required(m.bandwidth, "bandwidth")?,
        latency: required(m.latency, "latency")?,
        packet_loss: required(m.packet_loss, "packetLoss")?,
        jitter: required(m.jitter, "jitter")?,
        video_resolution: m.video_resolution.map(|Resolution(r)| r),
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
