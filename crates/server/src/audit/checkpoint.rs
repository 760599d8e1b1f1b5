//! Keyed checkpoints of the trail's head, kept where the database's users cannot reach:
//! the data directory (`audit-checkpoint`, mode 0600) and, when recordings go to S3, the
//! bucket (`audit/checkpoints/…`, one object per checkpoint, meant for a bucket under
//! S3 Object Lock so no one can remove or overwrite them; docs/audit-trail.md).
//!
//! A checkpoint is HMAC-signed under the audit key rather than with an Ed25519 key: the only
//! party that checks it, `audit verify`, already holds the audit key to check the entries,
//! and anyone holding that key can forge entries anyway, so a second (public) key would add
//! a secret to manage without stopping anyone new.
//!
//! The writer never moves a checkpoint backwards: before signing the current head it checks
//! that the chain still holds the previous checkpoint's entry with the same hash. If the
//! trail was shortened or rewritten it refuses (and logs), so the evidence stays for
//! `audit verify` instead of being replaced by a checkpoint of the forgery.

use crate::config::{Settings, StorageProvider};
use crate::recording::store::Store;
use crate::state::AppState;
use crate::storage::{self, Db};
use crate::tasks::Jobs;
use futures_util::StreamExt;
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use vytalcall_domain::audit::{AuditKey, BadCheckpoint, Checkpoint};

/// The newest checkpoint in the data directory.
pub const LOCAL_FILE: &str = "audit-checkpoint";
/// Object names sort newest first: the part after the prefix is `i64::MAX - seq`, padded.
const S3_PREFIX: &str = "audit/checkpoints";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint in {place} is not valid: {why}")]
    Invalid { place: String, why: BadCheckpoint },
    #[error(
        "refusing to checkpoint: the trail no longer holds entry {seq} as its last checkpoint recorded it (run `vytalcall audit verify`)"
    )]
    Regressed { seq: i64 },
    #[error("cannot read the audit log: {0}")]
    Store(#[from] sqlx::Error),
    #[error("cannot write the checkpoint file: {0}")]
    Io(#[from] std::io::Error),
    #[error("object storage failed: {0}")]
    Object(#[from] object_store::Error),
    #[error("storage is misconfigured: {0}")]
    Config(String),
}

/// Where this deployment's checkpoints live.
pub struct Checkpoints {
    key: AuditKey,
    local: PathBuf,
    s3: Option<Arc<AmazonS3>>,
}

impl Checkpoints {
    pub fn new(settings: &Settings, key: AuditKey) -> Result<Checkpoints, CheckpointError> {
        let s3 = match settings.storage.provider {
            StorageProvider::Local => None,
            StorageProvider::S3 => match Store::from_settings(&settings.storage, &settings.data_dir) {
                Ok(Store::S3 { store, .. }) => Some(store),
                Ok(Store::Local { .. }) => None,
                Err(e) => return Err(CheckpointError::Config(e.to_string())),
            },
        };
        Ok(Checkpoints {
            key,
            local: settings.data_dir.join(LOCAL_FILE),
            s3,
        })
    }

    fn parse(&self, text: &str, place: String) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse_verified(text, &self.key).map_err(|why| CheckpointError::Invalid { place, why })
    }

    /// The newest checkpoint of each place that has one, each checked under the key. A
    /// checkpoint that does not verify is an error, never skipped.
    pub async fn newest(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        let mut found = Vec::new();
        match tokio::fs::read_to_string(&self.local).await {
            Ok(text) => found.push(self.parse(&text, self.local.display().to_string())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(s3) = &self.s3 {
            let prefix = ObjectPath::from(S3_PREFIX);
            if let Some(meta) = s3.list(Some(&prefix)).next().await.transpose()? {
                let bytes = s3.get(&meta.location).await?.bytes().await?;
                let place = format!("the bucket ({})", meta.location);
                found.push(self.parse(&String::from_utf8_lossy(&bytes), place)?);
            }
        }
        Ok(found)
    }

    /// Signs the current head and stores it in every place, after checking that the chain
    /// still holds the newest earlier checkpoint.
    pub async fn write(&self, db: &Db) -> Result<Checkpoint, CheckpointError> {
        let previous = self.newest().await?.into_iter().max_by_key(|c| c.seq);
        let (seq, hash) = {
            let mut conn = db.pool.acquire().await?;
            storage::audit::newest(&mut conn).await?
        };
        if let Some(prev) = previous
            && prev.seq > 0
            && storage::audit::hash_at(&db.pool, prev.seq).await?.as_deref() != Some(prev.hash.as_str())
        {
            return Err(CheckpointError::Regressed { seq: prev.seq });
        }
        let checkpoint = Checkpoint::sign(&self.key, seq, &hash, crate::now_millis());
        let text = format!("{checkpoint}\n");
        let tmp = self
            .local
            .with_extension(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&tmp).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, text.as_bytes()).await?;
        file.sync_all().await?;
        // Another writer (the CLI next to a server) may have stored a newer one meanwhile.
        let newer = match tokio::fs::read_to_string(&self.local).await {
            Ok(text) => Checkpoint::parse_verified(&text, &self.key).is_ok_and(|c| c.seq > seq),
            Err(_) => false,
        };
        if newer {
            tokio::fs::remove_file(&tmp).await?;
        } else {
            tokio::fs::rename(&tmp, &self.local).await?;
        }
        if let Some(s3) = &self.s3 {
            let name = format!("{S3_PREFIX}/{:019}-{:013}", i64::MAX - seq, checkpoint.at);
            s3.put(&ObjectPath::from(name), PutPayload::from(text.into_bytes()))
                .await?;
        }
        Ok(checkpoint)
    }
}

async fn write_logged(state: &AppState) {
    let Some(key) = state.db.audit_key.clone() else { return };
    let written = match Checkpoints::new(&state.settings, key) {
        Ok(c) => c.write(&state.db).await,
        Err(e) => Err(e),
    };
    match written {
        Ok(c) => tracing::debug!(seq = c.seq, "audit checkpoint written"),
        Err(e) => tracing::error!(error = %e, "audit checkpoint not written"),
    }
}

/// Starts the checkpoint job: one checkpoint now, then one every `AUDIT_CHECKPOINT_SECONDS`.
pub fn start(jobs: &mut Jobs, state: &AppState) {
    let state = state.clone();
    let every = Duration::from_secs(state.settings.audit.checkpoint_seconds.max(1));
    jobs.spawn("audit checkpoints", async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            write_logged(&state).await;
        }
    });
}

/// The last checkpoint, once everything that writes to the trail has stopped.
pub async fn at_shutdown(state: &AppState) {
    write_logged(state).await;
}
