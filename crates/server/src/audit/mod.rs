//! The audit trail as the rest of the server sees it: who did what ([`Actor`]), writing
//! facts (inside a caller's transaction with [`crate::storage::audit::append`], or alone with
//! [`record`]), keyed checkpoints of its head outside the database ([`checkpoint`]) and
//! checking the whole chain ([`verify`]). docs/audit-trail.md describes the threat model.

mod action;
pub mod checkpoint;
pub mod command;

pub use action::Action;

use crate::config::{Mode, Settings};
use crate::storage::{self, Db};
use serde_json::Value;
use vytalcall_domain::access::Caller;
use vytalcall_domain::audit::{AuditFact, AuditKey, ChainBreak, ChainVerifier, Checkpoint, Verified};
use vytalcall_domain::{CallId, RecordingId};

/// Who is acting, as the audit trail records it. `caller` is `None` for the server itself
/// (ring time-outs, reconnection grace expiry).
#[derive(Clone, Debug, Default)]
pub struct Actor {
    pub caller: Option<Caller>,
    pub device_id: Option<String>,
    pub client_addr: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

impl Actor {
    pub fn system() -> Actor {
        Actor::default()
    }

    /// A fact about this actor. `detail` must hold ids and states only: no PHI, tokens or SDP.
    pub fn fact(
        &self,
        action: Action,
        call: Option<CallId>,
        recording: Option<RecordingId>,
        outcome: Outcome,
        detail: Value,
    ) -> AuditFact {
        AuditFact {
            occurred_at: crate::now_millis(),
            actor_id: self.caller.map(|c| c.user.to_string()),
            actor_role: self.caller.map(|c| c.role.as_str().to_string()),
            device_id: self.device_id.clone(),
            client_addr: self.client_addr.clone(),
            action: action.as_str().to_string(),
            call_id: call.map(|c| c.to_string()),
            recording_id: recording.map(|r| r.to_string()),
            outcome: outcome.as_str().to_string(),
            detail: detail.to_string(),
        }
    }
}

/// `fact` as done by a named operator at the command line (`actor_role` "operator").
pub fn by_operator(mut fact: AuditFact, operator: &str) -> AuditFact {
    fact.actor_id = Some(operator.to_string());
    fact.actor_role = Some("operator".to_string());
    fact
}

/// The operating-system user running this command (`USER`, `LOGNAME`, else the uid).
pub fn os_user() -> String {
    let named = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()));
    #[cfg(unix)]
    let uid = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").map_or_else(|_| "unknown".to_string(), |m| format!("uid {}", m.uid()))
    };
    #[cfg(not(unix))]
    let uid = || "unknown".to_string();
    named.unwrap_or_else(uid)
}

/// Appends one fact in a transaction of its own.
pub async fn record(db: &Db, fact: AuditFact) -> Result<i64, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let seq = storage::audit::append(db, &mut tx, fact).await?;
    tx.commit().await?;
    Ok(seq)
}

/// The audit key the settings name: `AUDIT_KEY`, or in development the key generated into
/// the data directory (production settings cannot lack it).
pub fn key(settings: &Settings) -> anyhow::Result<AuditKey> {
    use secrecy::ExposeSecret;
    let text = match &settings.audit.key {
        Some(k) => k.expose_secret().to_string(),
        None if settings.mode == Mode::Development => crate::demo::development_audit_key(&settings.data_dir)?,
        None => anyhow::bail!("AUDIT_KEY is required"),
    };
    Ok(AuditKey::parse(&text)?)
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Broken(#[from] ChainBreak),
    #[error("could not read the audit log: {0}")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error("the audit key is not loaded")]
    NoKey,
}

/// Walks the whole chain in order from one snapshot, checking every entry's code and the
/// chain against the newest checkpoints found (and `expected`, an operator's own copy).
/// The checkpoints are read before the snapshot is taken: a checkpoint is only ever written
/// for a committed head, so one read first can never be ahead of the snapshot.
pub async fn verify(db: &Db, settings: &Settings, expected: Option<Checkpoint>) -> Result<Verified, VerifyError> {
    let key = db.audit_key.clone().ok_or(VerifyError::NoKey)?;
    let mut found = checkpoint::Checkpoints::new(settings, key.clone())?.newest().await?;
    found.extend(expected);
    let verifier = ChainVerifier::new(key, found);
    Ok(storage::audit::verify_snapshot(db, verifier).await??)
}
