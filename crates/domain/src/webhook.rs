//! Webhooks in the Standard Webhooks scheme (standardwebhooks.com), minus the I/O.
//!
//! The server writes each event to an outbox in the transaction of the fact it reports and a
//! worker posts it to every endpoint that asked for it. What is decided here:
//!
//! - [`EventType`]: the closed list of event names a receiver can see;
//! - [`Secret`] and [`signature`]: `whsec_<base64>` secrets and the `webhook-signature`
//!   header, `v1,` + base64 HMAC-SHA-256 of `{id}.{timestamp}.{body}` keyed with the
//!   base64-decoded secret (the scheme the npm and PyPI `standardwebhooks` packages verify);
//! - [`RetryPolicy`]: when a failed delivery is tried again (exponential backoff with jitter)
//!   and when it is given up (after the retry window, 24 hours by default);
//! - [`classify`]: which addresses a delivery may reach, so an admin cannot point the server
//!   at its own loopback, the cloud metadata service (link-local) or the private network
//!   (server-side request forgery).
//!
//! Randomness and time are arguments: the caller passes a uniform number in `[0, 1)` for the
//! jitter and the current time, so every rule here is tested without a clock.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every event a webhook endpoint can receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    CallCreated,
    CallRinging,
    CallAnswered,
    CallEnded,
    CallMissed,
    CallCancelled,
    CallFailed,
    ParticipantJoined,
    ParticipantLeft,
    RecordingStarted,
    RecordingStopped,
    RecordingReady,
    RecordingFailed,
    RecordingDeleted,
    ConsentRecorded,
    WaitingRoomEntered,
    WaitingRoomAdmitted,
}

impl EventType {
    pub const ALL: [EventType; 17] = [
        EventType::CallCreated,
        EventType::CallRinging,
        EventType::CallAnswered,
        EventType::CallEnded,
        EventType::CallMissed,
        EventType::CallCancelled,
        EventType::CallFailed,
        EventType::ParticipantJoined,
        EventType::ParticipantLeft,
        EventType::RecordingStarted,
        EventType::RecordingStopped,
        EventType::RecordingReady,
        EventType::RecordingFailed,
        EventType::RecordingDeleted,
        EventType::ConsentRecorded,
        EventType::WaitingRoomEntered,
        EventType::WaitingRoomAdmitted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CallCreated => "call.created",
            EventType::CallRinging => "call.ringing",
            EventType::CallAnswered => "call.answered",
            EventType::CallEnded => "call.ended",
            EventType::CallMissed => "call.missed",
            EventType::CallCancelled => "call.cancelled",
            EventType::CallFailed => "call.failed",
            EventType::ParticipantJoined => "participant.joined",
            EventType::ParticipantLeft => "participant.left",
            EventType::RecordingStarted => "recording.started",
            EventType::RecordingStopped => "recording.stopped",
            EventType::RecordingReady => "recording.ready",
            EventType::RecordingFailed => "recording.failed",
            EventType::RecordingDeleted => "recording.deleted",
            EventType::ConsentRecorded => "consent.recorded",
            EventType::WaitingRoomEntered => "waiting-room.entered",
            EventType::WaitingRoomAdmitted => "waiting-room.admitted",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which events an endpoint receives: all of them, or the listed ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Only(Vec<EventType>),
}

/// A filter entry that names no event; carries the entry's position for the 422's `field`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("events[{index}] is not an event type (one of call.created, ..., consent.recorded, or *)")]
pub struct UnknownEvent {
    pub index: usize,
}

impl EventFilter {
    /// `["*"]` (or no list) is every event; otherwise each entry must be an event name.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<EventFilter, UnknownEvent> {
        if names.is_empty() || names.iter().any(|n| n.as_ref() == "*") {
            return Ok(EventFilter::All);
        }
        let mut only = Vec::with_capacity(names.len());
        for (index, name) in names.iter().enumerate() {
            let t = EventType::parse(name.as_ref()).ok_or(UnknownEvent { index })?;
            if !only.contains(&t) {
                only.push(t);
            }
        }
        only.sort();
        Ok(EventFilter::Only(only))
    }

    pub fn matches(&self, t: EventType) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Only(list) => list.contains(&t),
        }
    }

    /// The stored and returned form: `["*"]` or the names.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            EventFilter::All => vec!["*"],
            EventFilter::Only(list) => list.iter().map(|t| t.as_str()).collect(),
        }
    }
}

/// An endpoint's signing secret: `whsec_` followed by the base64 of the key bytes. `Debug`
/// never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("must start with whsec_")]
    Prefix,
    #[error("must be whsec_ followed by base64")]
    Base64,
    #[error("must hold 24 to 64 bytes after whsec_")]
    Length,
}

impl Secret {
    pub const PREFIX: &'static str = "whsec_";

    /// A secret from fresh random bytes (the caller's generator); 32 bytes is the usual size.
    pub fn from_key(key: [u8; 32]) -> Secret {
        Secret(key.to_vec())
    }

    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let encoded = text.strip_prefix(Self::PREFIX).ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length);
        }
        Ok(Secret(key))
    }

    /// The `whsec_…` text handed to the receiver once and stored for signing.
    pub fn expose(&self) -> String {
        format!("{}{}", Self::PREFIX, STANDARD.encode(&self.0))
    }

    pub fn key(&self) -> &[u8] {
        &self.0
    }
}

/// The `webhook-signature` header for one delivery: `v1,` + base64 HMAC-SHA-256 over
/// `{id}.{timestamp}.{body}` (timestamp in Unix seconds).
pub fn signature(secret: &Secret, id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.key())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// When failed deliveries are tried again. The n-th retry waits `base · 2^(n-1)`, capped at
/// `max`, then scaled by a jitter factor in `[0.5, 1)` so that many receivers coming back at
/// once are not hit by one synchronised wave. A delivery is given up (failed, visible in the
/// endpoint's deliveries) once the next try would fall past `window` after the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_ms: i64,
    pub max_ms: i64,
    pub window_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_ms: 5_000,
            max_ms: 3_600_000,
            window_ms: 24 * 3_600_000,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextAttempt {
    At(i64),
    GiveUp,
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1 = the first retry), given `random` in
    /// `[0, 1)`. Always at least 1 ms and never more than `max_ms`.
    pub fn delay_ms(&self, attempt: u32, random: f64) -> i64 {
        let exp = attempt.saturating_sub(1).min(40);
        let full = self.base_ms.max(1).saturating_mul(1_i64 << exp).min(self.max_ms.max(1));
        let jitter = 0.5 + 0.5 * random.clamp(0.0, 1.0 - f64::EPSILON);
        ((full as f64 * jitter) as i64).clamp(1, self.max_ms.max(1))
    }

    /// After `attempts` failed tries of an event that happened at `occurred_at`, at `now`.
    pub fn after_failure(&self, occurred_at: i64, now: i64, attempts: u32, random: f64) -> NextAttempt {
        let at = now.saturating_add(self.delay_ms(attempts, random));
        if at > occurred_at.saturating_add(self.window_ms) {
            NextAttempt::GiveUp
        } else {
            NextAttempt::At(at)
        }
    }
}

/// Where an address leads, for the SSRF rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    LinkLocal,
    Private,
    Unspecified,
    Multicast,
    /// Broadcast, documentation, benchmarking and other reserved ranges.
    Reserved,
}

impl AddressClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Private => "private",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast",
            AddressClass::Reserved => "reserved",
        }
    }
}

/// Classifies an address; IPv4-mapped and IPv4-compatible IPv6 addresses are judged as the
/// IPv4 address they carry, so `::ffff:127.0.0.1` is loopback.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        AddressClass::Unspecified
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // 10/8, 172.16/12, 192.168/16 and the carrier-grade NAT space 100.64/10.
        AddressClass::Private
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else if ip.is_broadcast()
        || a >= 240
        || ip.is_documentation()
        || (a == 198 && (b & 0xfe) == 18)
        || (a == 192 && b == 0 && c == 0)
    {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if (first & 0xffc0) == 0xfe80 {
        AddressClass::LinkLocal
    } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfec0 {
        // Unique local fc00::/7 and the deprecated site-local fec0::/10.
        AddressClass::Private
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else if let Some(v4) = ip.to_ipv4() {
        // IPv4-compatible ::a.b.c.d (deprecated) still reaches the IPv4 address.
        classify_v4(v4)
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        AddressClass::Reserved
    } else if first == 0x0064 && ip.segments()[1] == 0xff9b {
        // NAT64 (64:ff9b::/96) embeds an IPv4 address in the last 32 bits.
        let [.., a, b] = ip.segments();
        classify_v4(Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8))
    } else {
        AddressClass::Public
    }
}

/// Whether a delivery may go to `ip`: public addresses always, others only when the
/// deployment allows private targets (`WEBHOOK_ALLOW_PRIVATE=true`, for receivers on the
/// same network or tests).
pub fn may_deliver_to(ip: IpAddr, allow_private: bool) -> Result<(), AddressClass> {
    match classify(ip) {
        AddressClass::Public => Ok(()),
        _ if allow_private => Ok(()),
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        // The test vector of the Standard Webhooks reference implementations.
        Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("the test vector secret")
    }

    #[test]
    fn the_signature_matches_the_reference_implementations_test_vector() {
        let body = br#"{"test": 2432232314}"#;
        let sig = signature(&secret(), "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_different_body_id_or_time_changes_the_signature() {
        let s = secret();
        let base = signature(&s, "msg_1", 10, b"{}");
        assert_ne!(base, signature(&s, "msg_2", 10, b"{}"));
        assert_ne!(base, signature(&s, "msg_1", 11, b"{}"));
        assert_ne!(base, signature(&s, "msg_1", 10, b"{ }"));
    }

    #[test]
    fn secrets_parse_only_with_the_prefix_and_enough_key() {
        assert_eq!(
            Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::Prefix)
        );
        assert_eq!(Secret::parse("whsec_***"), Err(SecretError::Base64));
        assert_eq!(Secret::parse("whsec_YWJj"), Err(SecretError::Length));
        let fresh = Secret::from_key([7; 32]);
        assert_eq!(Secret::parse(&fresh.expose()), Ok(fresh.clone()));
        assert_eq!(format!("{fresh:?}"), "Secret(..)");
    }

    #[test]
    fn every_event_type_has_a_unique_dotted_name_that_parses_back() {
        let mut names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert!(t.as_str().split_once('.').is_some());
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EventType::ALL.len());
        assert_eq!(EventType::parse("waiting-room.left"), None);
    }

    #[test]
    fn a_filter_names_events_or_takes_them_all() {
        assert_eq!(EventFilter::parse::<&str>(&[]), Ok(EventFilter::All));
        assert_eq!(EventFilter::parse(&["*"]), Ok(EventFilter::All));
        let only = EventFilter::parse(&["call.ended", "call.created", "call.ended"]).expect("known events");
        assert_eq!(only.names(), vec!["call.created", "call.ended"]);
        assert!(only.matches(EventType::CallEnded));
        assert!(!only.matches(EventType::RecordingReady));
        assert_eq!(
            EventFilter::parse(&["call.created", "call.nope"]),
            Err(UnknownEvent { index: 1 })
        );
    }

    #[test]
    fn retries_double_until_the_cap_with_jitter_between_half_and_all() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_ms(1, 0.999_999), 4_999);
        assert_eq!(p.delay_ms(1, 0.0), 2_500);
        assert_eq!(p.delay_ms(2, 0.0), 5_000);
        assert_eq!(p.delay_ms(30, 0.0), 1_800_000);
        assert_eq!(p.delay_ms(u32::MAX, 0.999), 3_598_200);
    }

    #[test]
    fn a_delivery_is_given_up_once_the_next_try_falls_past_the_window() {
        let p = RetryPolicy {
            base_ms: 1_000,
            max_ms: 1_000,
            window_ms: 10_000,
        };
        assert_eq!(p.after_failure(0, 5_000, 3, 0.0), NextAttempt::At(5_500));
        assert_eq!(p.after_failure(0, 9_600, 4, 0.0), NextAttempt::GiveUp);
    }

    #[test]
    fn addresses_are_classified_for_the_ssrf_rule() {
        let cases = [
            ("127.0.0.1", AddressClass::Loopback),
            ("::1", AddressClass::Loopback),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("fe80::1", AddressClass::LinkLocal),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Private),
            ("fd00::1", AddressClass::Private),
            ("0.0.0.0", AddressClass::Unspecified),
            ("::", AddressClass::Unspecified),
            ("224.0.0.1", AddressClass::Multicast),
            ("ff02::1", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Reserved),
            ("64:ff9b::a00:1", AddressClass::Private),
            ("93.184.216.34", AddressClass::Public),
            ("2606:4700::1111", AddressClass::Public),
        ];
        for (text, class) in cases {
            assert_eq!(classify(text.parse().expect("an address")), class, "{text}");
        }
        assert!(may_deliver_to("10.0.0.1".parse().expect("an address"), true).is_ok());
        assert_eq!(
            may_deliver_to("10.0.0.1".parse().expect("an address"), false),
            Err(AddressClass::Private)
        );
    }
}
