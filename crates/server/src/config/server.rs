//! The server process itself: mode, listening address, data directory, database, logs and
//! the HTTP edge (TLS, body size, rate limits, CORS, time-outs).

use super::vars::{Vars, invalid};
use super::{ConfigError, LogFormat, Mode};
use std::net::IpAddr;
use std::path::PathBuf;

/// TLS termination in the binary: PEM files re-read when they change.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub reload_seconds: u64,
}

/// `VYTALCALL_ENV`: development unless production is asked for.
pub(super) fn mode(v: &Vars) -> Result<Mode, ConfigError> {
    match v.get("VYTALCALL_ENV").as_deref() {
        None | Some("development") | Some("dev") => Ok(Mode::Development),
        Some("production") | Some("prod") => Ok(Mode::Production),
        Some(other) => Err(invalid("VYTALCALL_ENV", other, "expected development or production")),
    }
}

/// The process group as parsed, spread into [`super::Settings`].
pub(super) struct Process {
    pub host: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub log_format: LogFormat,
    pub public_url: Option<String>,
}

/// `HOST`, `PORT`, `DATA_DIR`, `DATABASE_URL` (never echoed: it may hold a password),
/// `LOG_FORMAT` and `PUBLIC_URL`.
pub(super) fn process(v: &Vars) -> Result<Process, ConfigError> {
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
    Ok(Process {
        host: v.parse("HOST", IpAddr::from([127, 0, 0, 1]), "expected an IP address")?,
        port: v.parse("PORT", 8080, "expected a port number 0-65535")?,
        data_dir: PathBuf::from(v.get("DATA_DIR").unwrap_or_else(|| "./data".into())),
        database_url,
        log_format,
        public_url: v.get("PUBLIC_URL"),
    })
}

/// The HTTP group as parsed, spread into [`super::Settings`].
pub(super) struct Http {
    pub tls: Option<TlsSettings>,
    pub max_body_bytes: usize,
    pub rate_limit_per_address_per_minute: u32,
    pub rate_limit_per_user_per_minute: u32,
    pub frontend_urls: Vec<String>,
    pub header_read_timeout_seconds: u64,
    pub request_timeout_seconds: u64,
    pub trusted_proxies: crate::http::client_addr::TrustedProxies,
}

/// `TLS_*`, `MAX_BODY_BYTES`, `RATE_LIMIT_*`, `FRONTEND_URL`, `TRUSTED_PROXIES`,
/// `HTTP_HEADER_READ_TIMEOUT_SECONDS` and `HTTP_REQUEST_TIMEOUT_SECONDS`.
pub(super) fn http(v: &Vars) -> Result<Http, ConfigError> {
    const PER_MINUTE: &str = "expected a number of requests per minute";
    Ok(Http {
        tls: tls(v)?,
        max_body_bytes: v.at_least("MAX_BODY_BYTES", 64 * 1024, 1024, "expected a number of bytes")?,
        rate_limit_per_address_per_minute: v.parse("RATE_LIMIT_PER_ADDRESS_PER_MINUTE", 1200, PER_MINUTE)?,
        rate_limit_per_user_per_minute: v.parse("RATE_LIMIT_PER_USER_PER_MINUTE", 600, PER_MINUTE)?,
        frontend_urls: v.list("FRONTEND_URL", ""),
        header_read_timeout_seconds: v.parse("HTTP_HEADER_READ_TIMEOUT_SECONDS", 10, "expected a number of seconds")?,
        request_timeout_seconds: v.parse("HTTP_REQUEST_TIMEOUT_SECONDS", 30, "expected a number of seconds")?,
        trusted_proxies: {
            let list = v.get("TRUSTED_PROXIES").unwrap_or_default();
            crate::http::client_addr::TrustedProxies::parse(&list)
                .map_err(|why| invalid("TRUSTED_PROXIES", &list, &why))?
        },
    })
}

/// `TLS_CERT_FILE` and `TLS_KEY_FILE` go together; `TLS_RELOAD_SECONDS` is how often they
/// are checked for a renewal.
fn tls(v: &Vars) -> Result<Option<TlsSettings>, ConfigError> {
    match (v.get("TLS_CERT_FILE"), v.get("TLS_KEY_FILE")) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsSettings {
            cert_file: cert.into(),
            key_file: key.into(),
            reload_seconds: v.parse("TLS_RELOAD_SECONDS", 10, "expected a number of seconds")?,
        })),
        (Some(_), None) => Err(invalid("TLS_KEY_FILE", "", "must be set together with TLS_CERT_FILE")),
        (None, Some(_)) => Err(invalid("TLS_CERT_FILE", "", "must be set together with TLS_KEY_FILE")),
    }
}

/// `REPORT_TIMEZONE`: the IANA zone whose calendar months the reports follow (default UTC).
pub(super) fn report_time_zone(v: &Vars) -> Result<jiff::tz::TimeZone, ConfigError> {
    match v.get("REPORT_TIMEZONE") {
        None => Ok(jiff::tz::TimeZone::UTC),
        Some(name) => jiff::tz::TimeZone::get(&name).map_err(|_| {
            invalid(
                "REPORT_TIMEZONE",
                &name,
                "expected an IANA time zone name such as Europe/Berlin",
            )
        }),
    }
}
