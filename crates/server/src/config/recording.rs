//! Recording settings: the master keys, where encrypted recordings are stored, the recording
//! peer's network addresses and retention.

use super::vars::{Vars, invalid};
use super::{ConfigError, Mode};
use secrecy::SecretString;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageProvider {
    Local,
    S3,
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

/// The recording group as parsed, spread into [`super::Settings`].
pub(super) struct Recording {
    pub master_key: Option<SecretString>,
    pub master_keys_old: Vec<SecretString>,
    pub storage: StorageSettings,
    pub rtc: RecordingRtcSettings,
    pub retention_days: u32,
    pub retention_sweep_seconds: u64,
}

/// `STORAGE_*`, `RECORDING_*`. The RTC bind address defaults to the server's `host`.
pub(super) fn parse(v: &Vars, mode: Mode, host: IpAddr) -> Result<Recording, ConfigError> {
    let master_key = master_key(v, mode)?;
    Ok(Recording {
        master_key,
        master_keys_old: master_keys_old(v)?,
        storage: storage(v)?,
        rtc: RecordingRtcSettings {
            bind: v.parse("RECORDING_RTC_HOST", host, "expected an IP address")?,
            public_ip: match v.get("RECORDING_RTC_PUBLIC_IP") {
                None => None,
                Some(ip) => Some(
                    ip.parse()
                        .map_err(|_| invalid("RECORDING_RTC_PUBLIC_IP", &ip, "expected an IP address"))?,
                ),
            },
        },
        retention_days: v.parse("RECORDING_RETENTION_DAYS", 365, "expected a whole number of days")?,
        retention_sweep_seconds: v.parse(
            "RECORDING_RETENTION_SWEEP_SECONDS",
            3600,
            "expected a number of seconds",
        )?,
    })
}

/// `RECORDING_MASTER_KEY`: 32 bytes, never echoed; required in production.
fn master_key(v: &Vars, mode: Mode) -> Result<Option<SecretString>, ConfigError> {
    let Some(key) = v.get("RECORDING_MASTER_KEY") else {
        if mode == Mode::Production {
            return Err(ConfigError::RequiredInProduction {
                var: "RECORDING_MASTER_KEY",
                why: "recordings are encrypted under it (32 bytes, base64 or hex)",
            });
        }
        return Ok(None);
    };
    crate::recording::crypto::MasterKey::parse(&key).map_err(|_| {
        invalid(
            "RECORDING_MASTER_KEY",
            "(hidden)",
            "expected 32 bytes as 64 hex characters or base64",
        )
    })?;
    Ok(Some(SecretString::from(key)))
}

/// `RECORDING_MASTER_KEYS_OLD`: retired master keys, comma-separated, each written like
/// `RECORDING_MASTER_KEY`; they only unwrap keys not yet rewrapped under the current one.
/// Never echoed: an error names the entry by its position.
fn master_keys_old(v: &Vars) -> Result<Vec<SecretString>, ConfigError> {
    const VAR: &str = "RECORDING_MASTER_KEYS_OLD";
    let Some(list) = v.get(VAR) else {
        return Ok(Vec::new());
    };
    let mut keys = Vec::new();
    for (i, key) in list.split(',').enumerate() {
        let key = key.trim();
        if key.is_empty() {
            return Err(invalid(
                VAR,
                "(hidden)",
                &format!("entry {} is empty; expected comma-separated keys", i + 1),
            ));
        }
        crate::recording::crypto::MasterKey::parse(key).map_err(|_| {
            invalid(
                VAR,
                "(hidden)",
                &format!("entry {} is not 32 bytes as 64 hex characters or base64", i + 1),
            )
        })?;
        keys.push(SecretString::from(key.to_string()));
    }
    Ok(keys)
}

/// `STORAGE_PROVIDER` (local or S3) and the S3 bucket, region, endpoint and credentials.
fn storage(v: &Vars) -> Result<StorageSettings, ConfigError> {
    let provider = match v.get("STORAGE_PROVIDER").as_deref() {
        None | Some("local") => StorageProvider::Local,
        Some("aws-s3") | Some("s3") => StorageProvider::S3,
        Some(other) => {
            return Err(invalid("STORAGE_PROVIDER", other, "expected local, s3 or aws-s3"));
        }
    };
    let bucket = v.get("STORAGE_BUCKET");
    if provider == StorageProvider::S3 && bucket.is_none() {
        return Err(invalid(
            "STORAGE_BUCKET",
            "",
            "required when STORAGE_PROVIDER is s3 or aws-s3",
        ));
    }
    Ok(StorageSettings {
        provider,
        bucket,
        region: v.get("STORAGE_REGION").unwrap_or_else(|| "us-east-1".into()),
        endpoint: v.get("STORAGE_ENDPOINT"),
        access_key_id: v.get("STORAGE_ACCESS_KEY_ID"),
        secret_access_key: v.get("STORAGE_SECRET_ACCESS_KEY").map(SecretString::from),
    })
}
