//! The audit trail's key and checkpoints (docs/audit-trail.md).

use super::vars::{Vars, invalid};
use super::{ConfigError, Mode};
use secrecy::SecretString;

#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// `AUDIT_KEY`: 32 bytes (hex or base64) the database never sees; generated in development.
    pub key: Option<SecretString>,
    /// `AUDIT_CHECKPOINT_SECONDS`: how often the head is checkpointed outside the database.
    pub checkpoint_seconds: u64,
}

/// `AUDIT_KEY` (required in production) and `AUDIT_CHECKPOINT_SECONDS` (default 60).
pub(super) fn parse(v: &Vars, mode: Mode) -> Result<AuditSettings, ConfigError> {
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
