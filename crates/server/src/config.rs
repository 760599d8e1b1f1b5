//! Settings, read from environment variables (and an optional `.env` file, loaded into the
//! environment by `main`), with flags applied on top by the CLI.
//!
//! [`Settings::from_vars`] is a pure function over a variable lookup, so every rule here is
//! tested without touching the process environment. A bad value stops start-up with one
//! line that names the variable ([`ConfigError`]).

use secrecy::SecretString;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Embedded defaults: generated secrets under the data dir, demo users printed.
    Development,
    /// Every secret must be configured explicitly; nothing is generated.
    Production,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageProvider {
    Local,
    S3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where JWTs are verified against. Both may be set: the token's `alg` picks the key, and
/// a key only ever verifies its own algorithm family (no HS/RS confusion).
#[derive(Clone, Debug, Default)]
pub struct JwtSettings {
    pub secret: Option<SecretString>,
    /// PEM of an RSA or EC public key (RS256 / ES256).
    pub public_key_pem: Option<String>,
    pub leeway_seconds: u64,
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

/// TLS termination in the binary: PEM files re-read when they change.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub reload_seconds: u64,
}

#[derive(Clone, Debug)]
pub struct StorageSettings {
    pub provider: StorageProvider,
    pub bucket: Option<String>,
    pub region: String,
    pub endpoint: Option<String>,
    /// `STORAGE_ACCESS_KEY_ID` / `STORAGE_SECRET_ACCESS_KEY`; without them the standard
    /// `AWS_*` variables (and instance credentials) are used.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
}

/// The recording peer's network side: the address its UDP sockets bind to and the address
/// announced to browsers as its ICE candidate (they differ behind NAT or in containers).
#[derive(Clone, Debug)]
pub struct RecordingRtcSettings {
    pub bind: IpAddr,
    /// `None`: the bind address, or when that is unspecified (0.0.0.0) the address of the
    /// interface that routes outwards, found at start-up.
    pub public_ip: Option<IpAddr>,
}

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
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub mode: Mode,
    pub host: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    /// `None` means SQLite under the data dir.
    pub database_url: Option<String>,
    pub jwt: JwtSettings,
    pub turn: TurnSettings,
    pub storage: StorageSettings,
    pub recording_retention_days: u32,
    pub recording_master_key: Option<SecretString>,
    pub recording_rtc: RecordingRtcSettings,
    /// How often the retention job looks for expired recordings.
    pub retention_sweep_seconds: u64,
    /// Allowed browser origins (CORS); empty means same-origin only.
    pub frontend_urls: Vec<String>,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel (several deployments may share one Redis).
    pub redis_key_prefix: String,
    pub ring_timeout_seconds: u64,
    pub reconnect_grace_seconds: u64,
    pub signaling: SignalingSettings,
    pub max_body_bytes: usize,
    /// REST requests per minute per client address; 0 disables the limit.
    pub rate_limit_per_address_per_minute: u32,
    /// REST requests per minute per authenticated user; 0 disables the limit.
    pub rate_limit_per_user_per_minute: u32,
    pub log_format: LogFormat,
    /// Public base URL printed in the demo links; defaults to http://HOST:PORT.
    pub public_url: Option<String>,
    pub tls: Option<TlsSettings>,
    /// A client must send a request's headers within this time, or its connection is closed.
    pub header_read_timeout_seconds: u64,
    pub audit: AuditSettings,
}

/// The audit trail's key and checkpoints (docs/audit-trail.md).
#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// `AUDIT_KEY`: 32 bytes (hex or base64) the database never sees; generated in development.
    pub key: Option<SecretString>,
    /// `AUDIT_CHECKPOINT_SECONDS`: how often the head is checkpointed outside the database.
    pub checkpoint_seconds: u64,
}

impl AuditSettings {
    fn from_vars(v: &Vars<'_>, mode: Mode) -> Result<AuditSettings, ConfigError> {
        use secrecy::ExposeSecret;
        let key = v.get("AUDIT_KEY").map(SecretString::from);
        if let Some(k) = &key {
            vytalcall_domain::audit::AuditKey::parse(k.expose_secret())
                .map_err(|e| invalid("AUDIT_KEY", "(hidden)", &e.to_string()))?;
        } else if mode == Mode::Production {
            return Err(ConfigError::RequiredInProduction {
                var: "AUDIT_KEY",
                why: "audit entries and checkpoints are authenticated under it (32 bytes, base64 or hex)",
            });
        }
        let checkpoint_seconds = v.parse("AUDIT_CHECKPOINT_SECONDS", 60, "expected a number of seconds")?;
        if checkpoint_seconds == 0 {
            return Err(invalid("AUDIT_CHECKPOINT_SECONDS", "0", "must be at least 1"));
        }
        Ok(AuditSettings {
            key,
            checkpoint_seconds,
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error("{var} is required when VYTALCALL_ENV=production: {why}")]
    RequiredInProduction { var: &'static str, why: &'static str },
}

const DEFAULT_STUN: &str = "stun:stun.l.google.com:19302,stun:stun1.l.google.com:19302";

struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    /// A variable's value, with empty strings treated as unset (as `.env` templates leave them).
    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn parse<T: std::str::FromStr>(&self, var: &'static str, default: T, expected: &str) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| invalid(var, &v, expected)),
        }
    }

    fn list(&self, var: &str, default: &str) -> Vec<String> {
        self.get(var)
            .unwrap_or_else(|| default.to_string())
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
}

fn invalid(var: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.chars().take(80).collect(),
        reason: reason.to_string(),
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_vars(&|k| std::env::var(k).ok())
    }

    /// Test and fuzz entry point: settings from any variable lookup.
    pub fn from_map(map: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        Settings::from_vars(&|k| map.get(k).cloned())
    }

    pub fn from_vars(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let v = Vars(lookup);
        let mode = match v.get("VYTALCALL_ENV").as_deref() {
            None | Some("development") | Some("dev") => Mode::Development,
            Some("production") | Some("prod") => Mode::Production,
            Some(other) => {
                return Err(invalid("VYTALCALL_ENV", other, "expected development or production"));
            }
        };
        let storage_provider = match v.get("STORAGE_PROVIDER").as_deref() {
            None | Some("local") => StorageProvider::Local,
            Some("aws-s3") | Some("s3") => StorageProvider::S3,
            Some(other) => {
                return Err(invalid("STORAGE_PROVIDER", other, "expected local, s3 or aws-s3"));
            }
        };
        let database_url = v.get("DATABASE_URL");
        if let Some(url) = &database_url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(invalid("DATABASE_URL", "(hidden)", "expected sqlite:… or postgres://…"));
        }
        let log_format = match v.get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("LOG_FORMAT", other, "expected text or json")),
        };
        let jwt = JwtSettings {
            secret: v.get("JWT_SECRET").map(SecretString::from),
            public_key_pem: match (v.get("JWT_PUBLIC_KEY"), v.get("JWT_PUBLIC_KEY_FILE")) {
                (Some(pem), _) => Some(pem.replace("\\n", "\n")),
                (None, Some(path)) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| invalid("JWT_PUBLIC_KEY_FILE", &path, &format!("cannot read it: {e}")))?,
                ),
                (None, None) => None,
            },
            leeway_seconds: v.parse("JWT_LEEWAY_SECONDS", 30, "expected a number of seconds")?,
        };
        let master_key = v.get("RECORDING_MASTER_KEY").map(SecretString::from);
        if let Some(key) = &master_key {
            use secrecy::ExposeSecret;
            crate::recording::crypto::MasterKey::parse(key.expose_secret()).map_err(|_| {
                invalid(
                    "RECORDING_MASTER_KEY",
                    "(hidden)",
                    "expected 32 bytes as 64 hex characters or base64",
                )
            })?;
        }
        if storage_provider == StorageProvider::S3 && v.get("STORAGE_BUCKET").is_none() {
            return Err(invalid(
                "STORAGE_BUCKET",
                "",
                "required when STORAGE_PROVIDER is s3 or aws-s3",
            ));
        }
        let host: IpAddr = v.parse("HOST", IpAddr::from([127, 0, 0, 1]), "expected an IP address")?;
        let rtc_bind: IpAddr = v.parse("RECORDING_RTC_HOST", host, "expected an IP address")?;
        let rtc_public: Option<IpAddr> = match v.get("RECORDING_RTC_PUBLIC_IP") {
            None => None,
            Some(ip) => Some(
                ip.parse()
                    .map_err(|_| invalid("RECORDING_RTC_PUBLIC_IP", &ip, "expected an IP address"))?,
            ),
        };
        let recording_rtc = RecordingRtcSettings {
            bind: rtc_bind,
            public_ip: rtc_public,
        };
        if mode == Mode::Production {
            if jwt.secret.is_none() && jwt.public_key_pem.is_none() {
                return Err(ConfigError::RequiredInProduction {
                    var: "JWT_SECRET",
                    why: "set JWT_SECRET (HS256) or JWT_PUBLIC_KEY / JWT_PUBLIC_KEY_FILE (RS256, ES256)",
                });
            }
            if master_key.is_none() {
                return Err(ConfigError::RequiredInProduction {
                    var: "RECORDING_MASTER_KEY",
                    why: "recordings are encrypted under it (32 bytes, base64 or hex)",
                });
            }
        }
        if let Some(secret) = v.get("JWT_SECRET")
            && mode == Mode::Production
            && secret.len() < 32
        {
            return Err(invalid(
                "JWT_SECRET",
                "(hidden)",
                "must be at least 32 characters in production",
            ));
        }
        let max_body_bytes: usize = v.parse("MAX_BODY_BYTES", 64 * 1024, "expected a number of bytes")?;
        if max_body_bytes < 1024 {
            return Err(invalid(
                "MAX_BODY_BYTES",
                &max_body_bytes.to_string(),
                "must be at least 1024",
            ));
        }
        let ring_timeout_seconds = v.parse("RING_TIMEOUT_SECONDS", 60, "expected a number of seconds")?;
        if ring_timeout_seconds == 0 {
            return Err(invalid("RING_TIMEOUT_SECONDS", "0", "must be at least 1"));
        }
        let signaling = SignalingSettings {
            max_event_bytes: v.parse("SIGNALING_MAX_EVENT_BYTES", 128 * 1024, "expected a number of bytes")?,
            events_per_second: v.parse("SIGNALING_EVENTS_PER_SECOND", 30, "expected a number of events")?,
            event_burst: v.parse("SIGNALING_EVENT_BURST", 120, "expected a number of events")?,
            quality_sample_seconds: v.parse("QUALITY_SAMPLE_SECONDS", 10, "expected a number of seconds")?,
            quality_stats_request_seconds: v.parse(
                "QUALITY_STATS_REQUEST_SECONDS",
                30,
                "expected a number of seconds",
            )?,
        };
        let at_least_one = [
            ("SIGNALING_EVENTS_PER_SECOND", u64::from(signaling.events_per_second)),
            ("SIGNALING_EVENT_BURST", u64::from(signaling.event_burst)),
            ("QUALITY_STATS_REQUEST_SECONDS", signaling.quality_stats_request_seconds),
        ];
        for (var, value) in at_least_one {
            if value == 0 {
                return Err(invalid(var, "0", "must be at least 1"));
            }
        }
        if signaling.max_event_bytes < 1024 {
            return Err(invalid(
                "SIGNALING_MAX_EVENT_BYTES",
                &signaling.max_event_bytes.to_string(),
                "must be at least 1024",
            ));
        }
        let tls = match (v.get("TLS_CERT_FILE"), v.get("TLS_KEY_FILE")) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsSettings {
                cert_file: cert.into(),
                key_file: key.into(),
                reload_seconds: v.parse("TLS_RELOAD_SECONDS", 10, "expected a number of seconds")?,
            }),
            (Some(_), None) => return Err(invalid("TLS_KEY_FILE", "", "must be set together with TLS_CERT_FILE")),
            (None, Some(_)) => return Err(invalid("TLS_CERT_FILE", "", "must be set together with TLS_KEY_FILE")),
        };
        Ok(Settings {
            audit: AuditSettings::from_vars(&v, mode)?,
            header_read_timeout_seconds: v.parse(
                "HTTP_HEADER_READ_TIMEOUT_SECONDS",
                10,
                "expected a number of seconds",
            )?,
            tls,
            mode,
            host,
            port: v.parse("PORT", 8080, "expected a port number 0-65535")?,
            data_dir: PathBuf::from(v.get("DATA_DIR").unwrap_or_else(|| "./data".into())),
            database_url,
            jwt,
            turn: TurnSettings {
                stun_servers: v.list("WEBRTC_STUN_SERVERS", DEFAULT_STUN),
                turn_servers: v.list("WEBRTC_TURN_SERVERS", ""),
                static_username: v.get("WEBRTC_TURN_USERNAME"),
                static_password: v.get("WEBRTC_TURN_PASSWORD").map(SecretString::from),
                rest_secret: v.get("TURN_SECRET").map(SecretString::from),
                credential_ttl_seconds: v.parse(
                    "TURN_CREDENTIAL_TTL_SECONDS",
                    86_400,
                    "expected a number of seconds",
                )?,
            },
            storage: StorageSettings {
                provider: storage_provider,
                bucket: v.get("STORAGE_BUCKET"),
                region: v.get("STORAGE_REGION").unwrap_or_else(|| "us-east-1".into()),
                endpoint: v.get("STORAGE_ENDPOINT"),
                access_key_id: v.get("STORAGE_ACCESS_KEY_ID"),
                secret_access_key: v.get("STORAGE_SECRET_ACCESS_KEY").map(SecretString::from),
            },
            recording_rtc,
            retention_sweep_seconds: v.parse(
                "RECORDING_RETENTION_SWEEP_SECONDS",
                3600,
                "expected a number of seconds",
            )?,
            recording_retention_days: v.parse("RECORDING_RETENTION_DAYS", 365, "expected a whole number of days")?,
            recording_master_key: master_key,
            frontend_urls: v.list("FRONTEND_URL", ""),
            redis_url: v.get("REDIS_URL"),
            redis_key_prefix: v.get("REDIS_KEY_PREFIX").unwrap_or_else(|| "vytalcall".into()),
            ring_timeout_seconds,
            reconnect_grace_seconds: v.parse("RECONNECT_GRACE_SECONDS", 30, "expected a number of seconds")?,
            signaling,
            max_body_bytes,
            rate_limit_per_address_per_minute: v.parse(
                "RATE_LIMIT_PER_ADDRESS_PER_MINUTE",
                1200,
                "expected a number of requests per minute",
            )?,
            rate_limit_per_user_per_minute: v.parse(
                "RATE_LIMIT_PER_USER_PER_MINUTE",
                600,
                "expected a number of requests per minute",
            )?,
            log_format,
            public_url: v.get("PUBLIC_URL"),
        })
    }

    /// The database to open: the configured URL, or SQLite under the data dir.
    pub fn effective_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("vytalcall.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_map(&map)
    }

    #[test]
    fn no_configuration_at_all_gives_the_embedded_demo_defaults() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.mode, Mode::Development);
        assert_eq!(s.port, 8080);
        assert_eq!(s.host.to_string(), "127.0.0.1");
        assert_eq!(s.storage.provider, StorageProvider::Local);
        assert_eq!(s.turn.stun_servers.len(), 2);
        assert_eq!(s.recording_retention_days, 365);
        assert!(s.effective_database_url().starts_with("sqlite://"));
    }

    #[test]
    fn signaling_limits_have_defaults_that_fit_a_real_sdp_and_can_be_tuned() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(s.reconnect_grace_seconds, 30);
        assert!(s.signaling.max_event_bytes >= 64 * 1024, "a 50 KB SDP fits");
        assert!(s.signaling.max_event_bytes < 1024 * 1024, "a 1 MB payload does not");
        let s = settings(&[
            ("SIGNALING_MAX_EVENT_BYTES", "65536"),
            ("SIGNALING_EVENTS_PER_SECOND", "5"),
            ("SIGNALING_EVENT_BURST", "10"),
            ("QUALITY_SAMPLE_SECONDS", "0"),
            ("QUALITY_STATS_REQUEST_SECONDS", "3"),
            ("RECONNECT_GRACE_SECONDS", "2"),
        ])
        .expect("tuned");
        assert_eq!(
            s.signaling,
            SignalingSettings {
                max_event_bytes: 65536,
                events_per_second: 5,
                event_burst: 10,
                quality_sample_seconds: 0,
                quality_stats_request_seconds: 3,
            }
        );
        assert_eq!(s.reconnect_grace_seconds, 2);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let cases = [
            ("PORT", "eighty"),
            ("PORT", "70000"),
            ("HOST", "localhost:1"),
            ("STORAGE_PROVIDER", "dropbox"),
            ("RECORDING_RETENTION_DAYS", "-3"),
            ("VYTALCALL_ENV", "staging"),
            ("DATABASE_URL", "mysql://x"),
            ("LOG_FORMAT", "xml"),
            ("MAX_BODY_BYTES", "12"),
            ("RING_TIMEOUT_SECONDS", "0"),
            ("SIGNALING_MAX_EVENT_BYTES", "100"),
            ("SIGNALING_EVENTS_PER_SECOND", "0"),
            ("SIGNALING_EVENT_BURST", "many"),
            ("QUALITY_SAMPLE_SECONDS", "-1"),
            ("QUALITY_STATS_REQUEST_SECONDS", "0"),
            ("RECONNECT_GRACE_SECONDS", "soon"),
        ];
        for (var, value) in cases {
            let err = settings(&[(var, value)]).expect_err(var);
            assert!(err.to_string().starts_with(var), "{var}: {err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn production_refuses_to_start_without_explicit_secrets() {
        let err = settings(&[("VYTALCALL_ENV", "production")]).expect_err("no secret");
        assert!(matches!(
            err,
            ConfigError::RequiredInProduction { var: "JWT_SECRET", .. }
        ));
        let err = settings(&[("VYTALCALL_ENV", "production"), ("JWT_SECRET", "x".repeat(40).as_str())])
            .expect_err("no master key");
        assert!(matches!(
            err,
            ConfigError::RequiredInProduction {
                var: "RECORDING_MASTER_KEY",
                ..
            }
        ));
        let err = settings(&[
            ("VYTALCALL_ENV", "production"),
            ("JWT_SECRET", "short"),
            ("RECORDING_MASTER_KEY", KEY),
        ])
        .expect_err("short secret");
        assert!(err.to_string().starts_with("JWT_SECRET"));
        assert!(!err.to_string().contains("short"), "secrets never echoed");
        let err = settings(&[
            ("VYTALCALL_ENV", "production"),
            ("JWT_SECRET", "x".repeat(40).as_str()),
            ("RECORDING_MASTER_KEY", KEY),
        ])
        .expect_err("no audit key");
        assert!(matches!(
            err,
            ConfigError::RequiredInProduction { var: "AUDIT_KEY", .. }
        ));
        settings(&[
            ("VYTALCALL_ENV", "production"),
            ("JWT_SECRET", "x".repeat(40).as_str()),
            ("RECORDING_MASTER_KEY", KEY),
            ("AUDIT_KEY", KEY),
        ])
        .expect("complete production settings");
    }

    #[test]
    fn recording_settings_are_checked_at_start_up() {
        let err = settings(&[("RECORDING_MASTER_KEY", "too-short")]).expect_err("bad key");
        assert!(err.to_string().starts_with("RECORDING_MASTER_KEY"), "{err}");
        assert!(!err.to_string().contains("too-short"), "keys never echoed: {err}");
        settings(&[("RECORDING_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")]).expect("base64 key");
        let err = settings(&[("STORAGE_PROVIDER", "s3")]).expect_err("no bucket");
        assert!(err.to_string().starts_with("STORAGE_BUCKET"), "{err}");
        let s = settings(&[
            ("STORAGE_PROVIDER", "s3"),
            ("STORAGE_BUCKET", "recs"),
            ("STORAGE_ENDPOINT", "http://127.0.0.1:9000"),
            ("STORAGE_ACCESS_KEY_ID", "id"),
            ("STORAGE_SECRET_ACCESS_KEY", "secret"),
        ])
        .expect("s3 settings");
        assert_eq!(s.storage.access_key_id.as_deref(), Some("id"));
        assert_eq!(s.recording_rtc.bind.to_string(), "127.0.0.1");
        assert_eq!(s.recording_rtc.public_ip, None);
        let err = settings(&[("RECORDING_RTC_PUBLIC_IP", "somewhere")]).expect_err("bad ip");
        assert!(err.to_string().starts_with("RECORDING_RTC_PUBLIC_IP"), "{err}");
        let s = settings(&[("HOST", "0.0.0.0"), ("RECORDING_RTC_PUBLIC_IP", "203.0.113.7")]).expect("public ip");
        assert_eq!(s.recording_rtc.bind.to_string(), "0.0.0.0");
        assert_eq!(
            s.recording_rtc.public_ip.map(|ip| ip.to_string()).as_deref(),
            Some("203.0.113.7")
        );
    }

    #[test]
    fn seed_variable_names_are_honoured() {
        let s = settings(&[
            ("WEBRTC_STUN_SERVERS", "stun:a:1, stun:b:2"),
            ("WEBRTC_TURN_SERVERS", "turn:t:3478"),
            ("WEBRTC_TURN_USERNAME", "u"),
            ("STORAGE_PROVIDER", "aws-s3"),
            ("STORAGE_BUCKET", "b"),
            ("FRONTEND_URL", "https://app.example"),
        ])
        .expect("valid");
        assert_eq!(s.turn.stun_servers, vec!["stun:a:1", "stun:b:2"]);
        assert_eq!(s.turn.turn_servers, vec!["turn:t:3478"]);
        assert_eq!(s.storage.provider, StorageProvider::S3);
        assert_eq!(s.frontend_urls, vec!["https://app.example"]);
    }
}
