//! The audit trail as the rest of the server sees it: who did what ([`Actor`]), writing
//! facts (inside a caller's transaction with [`crate::storage::audit::append`], or alone with
//! [`record`]) and checking the whole chain ([`verify`]).

use crate::storage::{self, Db};
use futures_util::TryStreamExt;
use serde_json::Value;
use vytalcall_domain::access::Caller;
use vytalcall_domain::audit::{AuditFact, ChainBreak, ChainVerifier};
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
        action: &str,
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
            action: action.to_string(),
            call_id: call.map(|c| c.to_string()),
            recording_id: recording.map(|r| r.to_string()),
            outcome: outcome.as_str().to_string(),
            detail: detail.to_string(),
        }
    }
}

/// Appends one fact in a transaction of its own.
pub async fn record(db: &Db, fact: AuditFact) -> Result<i64, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let seq = storage::audit::append(&mut tx, fact).await?;
    tx.commit().await?;
    Ok(seq)
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Broken(#[from] ChainBreak),
    #[error("could not read the audit log: {0}")]
    Store(#[from] sqlx::Error),
}

/// Walks the whole chain in order; returns the number of entries checked.
pub async fn verify(db: &Db) -> Result<i64, VerifyError> {
    let (head_seq, head_hash) = storage::audit::head(&db.pool).await?;
    let mut verifier = ChainVerifier::default();
    let mut sql = storage::Sql::new(storage::audit::SELECT_ALL);
    sql.push(" ORDER BY seq");
    let mut rows = sql.query().fetch(&db.pool);
    while let Some(row) = rows.try_next().await? {
        verifier.push(&storage::audit::from_row(&row)?)?;
    }
    Ok(verifier.finish(head_seq, &head_hash)?)
}
