//! Settings, read from environment variables (and an optional `.env` file, loaded into the
//! environment by the CLI), with flags applied on top by the CLI.
//!
//! Parsing is pure: [`Settings::from_vars`] takes a variable lookup and the contents of the
//! files variables name ([`Files`], read beforehand by [`Settings::from_env`] and
//! [`Settings::from_map`], the only I/O here), so every rule is tested without touching the
//! process environment or the disk. A bad value stops start-up with one line that names the
//! variable ([`ConfigError`]).
//!
//! Each group of settings has its parser: [`server`] (the process and its HTTP edge),
//! [`auth`] (token keys), [`signaling`] (calls, Socket.IO, Redis, STUN/TURN) and
//! [`recording`] (master key, storage, recording peer, retention), [`webhooks`] (the
//! environment's endpoint and the retry policy). Rules that span groups
//! (production requires secrets) sit with the setting they require.

mod audit;
mod auth;
mod clinic;
mod recording;
mod server;
mod signaling;
#[cfg(test)]
mod tests;
mod vars;
mod webhooks;

pub use audit::AuditSettings;
pub use auth::JwtSettings;
pub use clinic::ClinicSettings;
pub use recording::{RecordingRtcSettings, StorageProvider, StorageSettings};
pub use server::TlsSettings;
pub use signaling::{SignalingSettings, TurnSettings};
pub use vars::Files;
pub use webhooks::WebhookSettings;

use secrecy::SecretString;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use vars::Vars;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Embedded defaults: generated secrets under the data dir, demo users printed.
    Development,
    /// Every secret must be configured explicitly; nothing is generated.
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
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
    /// `RECORDING_MASTER_KEYS_OLD`: retired master keys, still accepted for unwrapping.
    pub recording_master_keys_old: Vec<SecretString>,
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
    /// The clinic's name and logo shown by the web app.
    pub clinic: ClinicSettings,
    /// `HTTP_REQUEST_TIMEOUT_SECONDS`: a REST request, body included, must be done by then.
    pub request_timeout_seconds: u64,
    /// `TRUSTED_PROXIES`: peers whose `Forwarded` / `X-Forwarded-For` name the client.
    pub trusted_proxies: crate::http::client_addr::TrustedProxies,
    /// `REPORT_TIMEZONE`: the IANA zone whose calendar months the reports follow.
    pub report_time_zone: jiff::tz::TimeZone,
    pub audit: AuditSettings,
    /// `WEBHOOK_*`: the environment's endpoint, private targets, retries.
    pub webhooks: WebhookSettings,
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

impl Settings {
    /// Reads the process environment (and the files it names).
    pub fn from_env() -> Result<Settings, ConfigError> {
        let lookup = |k: &str| std::env::var(k).ok();
        Settings::from_vars(&lookup, &Files::read(&lookup))
    }

    /// Test and fuzz entry point: settings from a map of variables (and the files it names).
    pub fn from_map(map: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let lookup = |k: &str| map.get(k).cloned();
        Settings::from_vars(&lookup, &Files::read(&lookup))
    }

    /// The settings from any variable lookup and the files already read; no I/O.
    pub fn from_vars(lookup: &dyn Fn(&str) -> Option<String>, files: &Files) -> Result<Settings, ConfigError> {
        let v = Vars(lookup);
        let mode = server::mode(&v)?;
        let process = server::process(&v)?;
        let jwt = auth::parse(&v, files, mode)?;
        let recording = recording::parse(&v, mode, process.host)?;
        let calls = signaling::parse(&v)?;
        let http = server::http(&v)?;
        Ok(Settings {
            mode,
            host: process.host,
            port: process.port,
            data_dir: process.data_dir,
            database_url: process.database_url,
            log_format: process.log_format,
            public_url: process.public_url,
            jwt,
            turn: signaling::turn(&v)?,
            storage: recording.storage,
            recording_retention_days: recording.retention_days,
            recording_master_key: recording.master_key,
            recording_master_keys_old: recording.master_keys_old,
            recording_rtc: recording.rtc,
            retention_sweep_seconds: recording.retention_sweep_seconds,
            redis_url: calls.redis_url,
            redis_key_prefix: calls.redis_key_prefix,
            ring_timeout_seconds: calls.ring_timeout_seconds,
            reconnect_grace_seconds: calls.reconnect_grace_seconds,
            signaling: calls.signaling,
            frontend_urls: http.frontend_urls,
            max_body_bytes: http.max_body_bytes,
            rate_limit_per_address_per_minute: http.rate_limit_per_address_per_minute,
            rate_limit_per_user_per_minute: http.rate_limit_per_user_per_minute,
            tls: http.tls,
            header_read_timeout_seconds: http.header_read_timeout_seconds,
            clinic: clinic::parse(&v)?,
            request_timeout_seconds: http.request_timeout_seconds,
            trusted_proxies: http.trusted_proxies,
            report_time_zone: server::report_time_zone(&v)?,
            audit: audit::parse(&v, mode)?,
            webhooks: webhooks::parse(&v)?,
        })
    }

    /// The database to open: the configured URL, or SQLite under the data dir.
    pub fn effective_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("vytalcall.db").display()))
    }
}
