//! `vytalcall recording rewrap`: moves every recording's data key under the current master
//! key, so a retired master key can be removed from `RECORDING_MASTER_KEYS_OLD`.
//!
//! Two kinds of work, one recording per transaction with its own `recording.rewrap` audit
//! entry, so an interrupted run loses nothing and a rerun continues where it stopped:
//! - a key row under a retired master key is unwrapped and wrapped again under the current
//!   one (the update only applies if the row is unchanged since it was read);
//! - a version-1 object's key, still only in its header, is moved into a row. This happens
//!   here and not on first read, so playback never writes key material, and an operator
//!   sees in one summary when no recording needs a retired key any more.

use super::RecordingError;
use super::crypto::{CryptoError, Header, RecordingKey};
use super::keys;
use super::service::RecordingService;
use super::store::StoreError;
use crate::audit::{Actor, Outcome};
use crate::storage;
use serde_json::json;
use vytalcall_domain::{CallId, RecordingId};

/// What a rewrap run did and what is left.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RewrapSummary {
    /// Key rows wrapped again under the current master key.
    pub rewrapped: usize,
    /// Version-1 header keys moved into the database.
    pub moved: usize,
    /// Recordings whose key this server cannot open (their master key is not configured, or
    /// the stored key or header is damaged), with why; retried by every run.
    pub unreadable: Vec<(RecordingId, String)>,
    /// Whether `--max` stopped the run before the work was done.
    pub stopped_at_max: bool,
    /// Key rows still under a retired master key when the run ended.
    pub remaining: i64,
}

impl std::fmt::Display for RewrapSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "rewrapped {} recording key(s) under the current master key; moved {} key(s) from version-1 headers into the database",
            self.rewrapped, self.moved
        )?;
        for (id, why) in &self.unreadable {
            writeln!(f, "cannot rewrap recording {id}: {why}")?;
        }
        if self.stopped_at_max {
            writeln!(f, "stopped at --max; run the command again to continue")?;
        }
        write!(
            f,
            "{} recording key(s) remain under a retired master key",
            self.remaining
        )
    }
}

impl RecordingService {
    /// Rewraps at most `max` recordings' keys (all without a limit); audited under
    /// `operator`'s name.
    pub async fn rewrap(&self, max: Option<usize>, operator: &str) -> Result<RewrapSummary, RecordingError> {
        let mut summary = RewrapSummary::default();
        let budget = max.unwrap_or(usize::MAX);
        let current = self.keys.current_id();
        for stale in keys::not_under(&self.db.pool, current).await? {
            if summary.rewrapped >= budget {
                summary.stopped_at_max = true;
                break;
            }
            match self.rewrap_row(&stale, operator).await {
                Ok(true) => summary.rewrapped += 1,
                Ok(false) => {}
                Err(RecordingError::Integrity(e)) => summary.unreadable.push((stale.recording, e.to_string())),
                Err(e) => return Err(e),
            }
        }
        for (id, call, key_name) in keys::without_row(&self.db.pool).await? {
            if summary.stopped_at_max || summary.rewrapped + summary.moved >= budget {
                summary.stopped_at_max = true;
                break;
            }
            match self.move_header_key(id, call, &key_name, operator).await {
                Ok(true) => summary.moved += 1,
                Ok(false) => {}
                Err(RecordingError::Integrity(e)) => summary.unreadable.push((id, e.to_string())),
                Err(e) => return Err(e),
            }
        }
        summary.remaining = keys::count_not_under(&self.db.pool, current).await?;
        Ok(summary)
    }

    /// One key row under a retired master key, wrapped again; false if it changed meanwhile.
    async fn rewrap_row(&self, stale: &keys::Stale, operator: &str) -> Result<bool, RecordingError> {
        let old = stale.wrapped.as_ref().ok_or(CryptoError::BadStoredKey)?;
        let data_key = self.keys.unwrap(stale.recording.0, old)?;
        let new = self.keys.wrap(stale.recording.0, &data_key)?;
        let mut tx = self.db.pool.begin().await?;
        if !keys::replace(&mut tx, stale.recording, old, &new, crate::now_millis()).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        let detail = json!({ "from": old.master.to_string(), "to": new.master.to_string(), "source": "database" });
        self.audit_rewrap(&mut tx, stale.call, stale.recording, detail, operator)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A version-1 object's header key moved into a row under the current master key; false
    /// if there is no object (nothing was stored) or a row appeared meanwhile.
    async fn move_header_key(
        &self,
        id: RecordingId,
        call: CallId,
        key_name: &str,
        operator: &str,
    ) -> Result<bool, RecordingError> {
        let header = match self.read_header(key_name).await {
            Ok(h) => h,
            Err(RecordingError::Store(StoreError::NotFound)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let Header::V1 { master, .. } = Header::parse(&header)? else {
            return Err(CryptoError::NoKey.into());
        };
        let key = RecordingKey::open_v1(&self.keys, id.0, &header)?;
        let new = self.keys.wrap(id.0, key.data_key())?;
        let mut tx = self.db.pool.begin().await?;
        if !keys::insert(&mut tx, id, &new, crate::now_millis()).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        let detail = json!({ "from": master.to_string(), "to": new.master.to_string(), "source": "header" });
        self.audit_rewrap(&mut tx, call, id, detail, operator).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn audit_rewrap(
        &self,
        tx: &mut sqlx::AnyConnection,
        call: CallId,
        id: RecordingId,
        detail: serde_json::Value,
        operator: &str,
    ) -> Result<(), RecordingError> {
        let fact = Actor::system().fact(
            crate::audit::Action::RecordingRewrap,
            Some(call),
            Some(id),
            Outcome::Success,
            detail,
        );
        storage::audit::append(&self.db, tx, crate::audit::by_operator(fact, operator)).await?;
        Ok(())
    }
}
