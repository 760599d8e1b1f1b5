//! Reading a payload into a [`ClientEvent`]: the wire shapes as serde reads them (every
//! field optional, so the refusal names what is missing rather than failing as a whole),
//! then the rules each event's fields must meet.

use super::fields::{self, Flag, Id, Metric, Object, Resolution, Scalar, Shape, Text};
use super::{Candidate, ClientEvent, Description, EventName, Signal};
use crate::signaling::error::SignalingError;
use serde::Deserialize;
use serde_json::Value;
use vytalcall_domain::quality::QualityMetrics;
use vytalcall_domain::waiting_room::{CheckResult, DeviceCheck, MAX_MESSAGE_CHARS, NetworkCheck};
use vytalcall_domain::{CallId, UserId};

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DoorIn {
    user_id: Option<Id<UserId>>,
}

#[derive(Deserialize)]
struct MessageIn {
    text: Option<Text<MAX_MESSAGE_CHARS>>,
}

#[derive(Deserialize)]
struct DeviceCheckIn {
    camera: Option<CheckResult>,
    microphone: Option<CheckResult>,
    speaker: Option<CheckResult>,
    network: Option<NetworkIn>,
}

/// `network`: a bare result, or `{ result, rttMs, turn }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum NetworkIn {
    Bare(CheckResult),
    Measured(NetworkCheckIn),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NetworkCheckIn {
    result: CheckResult,
    rtt_ms: Option<u32>,
    turn: Option<bool>,
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
            // The same rule as REST's reasons: others read it, and so does the audit trail.
            let reason = vytalcall_domain::text::free_text(e.reason.as_ref().map(|Text(r)| r.as_str()), MAX_REASON)
                .map_err(|why| SignalingError::invalid("reason", why.to_string()))?;
            ClientEvent::LeaveCall { call, reason }
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
        EventName::DeviceCheck => {
            let e: DeviceCheckIn = read(data)?;
            let network = match e.network.ok_or_else(|| missing("network"))? {
                NetworkIn::Bare(result) => NetworkCheck {
                    result,
                    rtt_ms: None,
                    turn: None,
                },
                NetworkIn::Measured(n) => NetworkCheck {
                    result: n.result,
                    rtt_ms: n.rtt_ms,
                    turn: n.turn,
                },
            };
            ClientEvent::DeviceCheck {
                call,
                check: DeviceCheck {
                    camera: e.camera.ok_or_else(|| missing("camera"))?,
                    microphone: e.microphone.ok_or_else(|| missing("microphone"))?,
                    speaker: e.speaker.ok_or_else(|| missing("speaker"))?,
                    network,
                },
            }
        }
        EventName::AdmitParticipant | EventName::ReturnToWaitingRoom => {
            let e: DoorIn = read(data)?;
            let user = e.user_id.ok_or_else(|| missing("userId"))?.0;
            if event == EventName::AdmitParticipant {
                ClientEvent::Admit { call, user }
            } else {
                ClientEvent::SendBack { call, user }
            }
        }
        EventName::WaitingRoomMessage => {
            let e: MessageIn = read(data)?;
            let text = vytalcall_domain::text::free_text(e.text.as_ref().map(|Text(t)| t.as_str()), MAX_MESSAGE_CHARS)
                .map_err(|why| SignalingError::invalid("text", why.to_string()))?
                .ok_or_else(|| missing("text"))?;
            ClientEvent::WaitingRoomMessage { call, text }
        }
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
