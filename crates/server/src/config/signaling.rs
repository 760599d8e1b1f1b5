//! Calls and signaling: ring and reconnection times, Socket.IO limits, the Redis link of a
//! multi-node deployment, and the STUN/TURN servers handed to clients.

use super::ConfigError;
use super::vars::Vars;
use secrecy::SecretString;

/// Limits and intervals of Socket.IO signaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalingSettings {
    /// Largest accepted event payload; an SDP of a few tens of KB must fit.
    pub max_event_bytes: usize,
    /// Sustained events per second per socket, and the burst allowed above it.
    pub events_per_second: u32,
    pub event_burst: u32,
    /// At most one stored quality sample per participant per this many seconds.
    pub quality_sample_seconds: u64,
    /// A participant silent for this long is sent `request-quality-stats`.
    pub quality_stats_request_seconds: u64,
    /// Sockets one user may hold open on this node at once.
    pub max_sockets_per_user: usize,
    /// Sockets one client address may hold open on this node at once (a clinic behind one
    /// NAT counts as one address, hence the larger default).
    pub max_sockets_per_address: usize,
    /// `MAX_CALL_PARTICIPANTS`: people in a call at once (media is peer to peer).
    pub max_call_participants: usize,
}

#[derive(Clone, Debug)]
pub struct TurnSettings {
    pub stun_servers: Vec<String>,
    pub turn_servers: Vec<String>,
    pub static_username: Option<String>,
    pub static_password: Option<SecretString>,
    /// coturn `use-auth-secret` shared secret; when set, credentials are time-limited.
    pub rest_secret: Option<SecretString>,
    pub credential_ttl_seconds: i64,
}

const DEFAULT_STUN: &str = "stun:stun.l.google.com:19302,stun:stun1.l.google.com:19302";

/// The calls and signaling group as parsed, spread into [`super::Settings`].
pub(super) struct Calls {
    pub ring_timeout_seconds: u64,
    pub reconnect_grace_seconds: u64,
    pub signaling: SignalingSettings,
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
}

pub(super) fn parse(v: &Vars) -> Result<Calls, ConfigError> {
    const SECONDS: &str = "expected a number of seconds";
    const EVENTS: &str = "expected a number of events";
    const SOCKETS: &str = "expected a number of sockets";
    Ok(Calls {
        ring_timeout_seconds: v.at_least("RING_TIMEOUT_SECONDS", 60, 1, SECONDS)?,
        reconnect_grace_seconds: v.parse("RECONNECT_GRACE_SECONDS", 30, SECONDS)?,
        signaling: SignalingSettings {
            max_event_bytes: v.at_least(
                "SIGNALING_MAX_EVENT_BYTES",
                128 * 1024,
                1024,
                "expected a number of bytes",
            )?,
            events_per_second: v.at_least("SIGNALING_EVENTS_PER_SECOND", 30, 1, EVENTS)?,
            event_burst: v.at_least("SIGNALING_EVENT_BURST", 120, 1, EVENTS)?,
            quality_sample_seconds: v.parse("QUALITY_SAMPLE_SECONDS", 10, SECONDS)?,
            quality_stats_request_seconds: v.at_least("QUALITY_STATS_REQUEST_SECONDS", 30, 1, SECONDS)?,
            max_sockets_per_user: v.at_least("SIGNALING_MAX_SOCKETS_PER_USER", 10, 1, SOCKETS)?,
            max_sockets_per_address: v.at_least("SIGNALING_MAX_SOCKETS_PER_ADDRESS", 100, 1, SOCKETS)?,
            max_call_participants: v.at_least(
                "MAX_CALL_PARTICIPANTS",
                vytalcall_domain::waiting_room::DEFAULT_MAX_CALL_PARTICIPANTS,
                2,
                "expected a number of people",
            )?,
        },
        redis_url: v.get("REDIS_URL"),
        redis_key_prefix: v.get("REDIS_KEY_PREFIX").unwrap_or_else(|| "vytalcall".into()),
    })
}

/// `WEBRTC_STUN_SERVERS`, `WEBRTC_TURN_*` and coturn's `TURN_SECRET`.
pub(super) fn turn(v: &Vars) -> Result<TurnSettings, ConfigError> {
    Ok(TurnSettings {
        stun_servers: v.list("WEBRTC_STUN_SERVERS", DEFAULT_STUN),
        turn_servers: v.list("WEBRTC_TURN_SERVERS", ""),
        static_username: v.get("WEBRTC_TURN_USERNAME"),
        static_password: v.get("WEBRTC_TURN_PASSWORD").map(SecretString::from),
        rest_secret: v.get("TURN_SECRET").map(SecretString::from),
        credential_ttl_seconds: v.parse("TURN_CREDENTIAL_TTL_SECONDS", 86_400, "expected a number of seconds")?,
    })
}
