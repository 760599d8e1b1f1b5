//! Keeping recordings in order over time: start-up recovery of recordings a crash left
//! running, the retention job, and operator export (the commands themselves are in
//! `cli/recording.rs`).

use super::RecordingError;
use super::crypto::{ChunkReader, CryptoError};
use super::repo::{self, Closing, RecordingRow, Status};
use super::service::RecordingService;
use super::webm;
use crate::audit::{Action, Actor, Outcome};
use crate::storage;
use base64::Engine;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use vytalcall_domain::RecordingId;

/// What recovery found in a stored object: the complete chunks' plaintext size and the
/// media time at the end of the last one.
struct Scan {
    body_bytes: u64,
    end_ms: u64,
    chunks: u64,
}

impl RecordingService {
    /// Authenticates chunk after chunk and stops at the first incomplete or bad one.
    async fn scan(&self, row: &RecordingRow) -> Result<Scan, RecordingError> {
        let key_name = row.storage_key.as_deref().ok_or(RecordingError::NotFound)?;
        let mut source = self.store.read_from(key_name, 0).await?;
        let mut reader = ChunkReader::default();
        let mut scan = Scan {
            body_bytes: 0,
            end_ms: 0,
            chunks: 0,
        };
        let mut key = None;
        while let Some(bytes) = source.next().await {
            reader.push(&bytes?);
            if key.is_none() {
                match reader.header()? {
                    Some(h) => {
                        let header = h.to_vec();
                        key = Some(self.key_for(row.id, &header).await?);
                    }
                    None => continue,
                }
            }
            let Some(k) = &key else { continue };
            while let Ok(Some((info, sealed))) = reader.next_chunk() {
                if k.open_chunk(info.position, info.end_ms, &sealed).is_err() {
                    return Ok(scan);
                }
                scan.body_bytes += info.plain_len();
                scan.end_ms = scan.end_ms.max(u64::from(info.end_ms));
                scan.chunks += 1;
            }
        }
        Ok(scan)
    }

    /// Closes a recording a crash left behind as `partial` (or `failed` when nothing whole
    /// was written), with its head patched to the duration of what survived.
    pub(super) async fn recover_one(&self, row: &RecordingRow) -> Result<Status, RecordingError> {
        if let Some(key_name) = row.storage_key.as_deref() {
            self.store.recover(key_name).await?;
        }
        let scan = match self.scan(row).await {
            Ok(s) => s,
            Err(RecordingError::Store(super::store::StoreError::NotFound)) => Scan {
                body_bytes: 0,
                end_ms: 0,
                chunks: 0,
            },
            Err(e) => return Err(e),
        };
        let mut status = if scan.chunks > 0 && row.media_head.is_some() {
            Status::Partial
        } else {
            Status::Failed
        };
        let mut head_len = 0;
        if status == Status::Partial {
            let key = self.open_key(row).await?;
            match self.open_head(&key, row) {
                Ok(mut head) => {
                    webm::patch_duration(&mut head, scan.end_ms);
                    head_len = head.len() as u64;
                    let sealed = key.seal_blob(row.id.0, &head)?;
                    repo::set_head(
                        &self.db.pool,
                        row.id,
                        &base64::engine::general_purpose::STANDARD.encode(sealed),
                    )
                    .await?;
                }
                Err(_) => status = Status::Failed,
            }
        }
        let key_name = row.storage_key.as_deref().unwrap_or_default();
        let stored = self.store.size(key_name).await.ok().map(|s| s as i64);
        let sizes = if status == Status::Partial {
            (
                Some((head_len + scan.body_bytes) as i64),
                stored,
                Some(scan.end_ms as i64),
            )
        } else {
            (None, stored, None)
        };
        let closing = Closing {
            status: status.clone(),
            stopped_by: None,
            stopped_at: crate::now_millis(),
            size_bytes: sizes.0,
            stored_bytes: sizes.1,
            duration_ms: sizes.2,
        };
        let mut tx = self.db.pool.begin().await?;
        if !repo::close(&mut tx, row.id, &closing).await? {
            repo::set_sizes(&self.db.pool, row.id, &status, sizes).await?;
        }
        let detail = json!({ "status": status.as_str(), "durationMs": sizes.2, "chunks": scan.chunks });
        storage::audit::append(
            &self.db,
            &mut tx,
            Actor::system().fact(
                Action::RecordingRecover,
                Some(row.call_id),
                Some(row.id),
                Outcome::Success,
                detail,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(status)
    }

    /// Start-up: every recording this node left `recording` is closed as `partial`.
    pub async fn recover(&self) -> Result<usize, RecordingError> {
        let rows = repo::running_on_node(&self.db.pool, &self.node_id).await?;
        let mut n = 0;
        for row in rows {
            match self.recover_one(&row).await {
                Ok(status) => {
                    tracing::info!(recording = %row.id, status = status.as_str(), "recovered a recording interrupted by a restart");
                    n += 1;
                }
                Err(e) => tracing::error!(recording = %row.id, error = %e, "could not recover a recording"),
            }
        }
        Ok(n)
    }

    /// Deletes expired recordings (not on legal hold) from storage and database; each
    /// deletion is audited. Returns how many were deleted.
    pub async fn run_retention(&self, now: i64) -> Result<usize, RecordingError> {
        let cutoff = vytalcall_domain::consent::retention_cutoff(now, self.retention_days);
        let mut deleted = 0;
        for row in repo::expired(&self.db.pool, cutoff).await? {
            if !vytalcall_domain::consent::due_for_deletion(row.started_at, self.retention_days, row.legal_hold, now) {
                continue;
            }
            if let Some(key) = row.storage_key.as_deref() {
                self.store.delete(key).await?;
            }
            // The key goes with the row and the audit entry: from this commit on, any copy
            // of the object left anywhere (old versions, backups, a spool) is ciphertext only.
            let mut tx = self.db.pool.begin().await?;
            super::keys::delete(&mut tx, row.id).await?;
            repo::delete(&mut tx, row.id).await?;
            let detail = json!({
                "reason": "retention",
                "retentionDays": self.retention_days,
                "startedAt": row.started_at,
                "keyDestroyed": true,
            });
            storage::audit::append(
                &self.db,
                &mut tx,
                Actor::system().fact(
                    Action::RecordingDelete,
                    Some(row.call_id),
                    Some(row.id),
                    Outcome::Success,
                    detail,
                ),
            )
            .await?;
            tx.commit().await?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Writes a recording's decrypted WebM to `out` (operators; audited under `operator`'s
    /// name). The file is created owner-only (0600) and never replaces an existing one. A
    /// completed recording must be whole; a partial one yields what survived.
    pub async fn export(&self, id: RecordingId, out: &std::path::Path, operator: &str) -> Result<u64, RecordingError> {
        let row = repo::load(&self.db.pool, id).await?.ok_or(RecordingError::NotFound)?;
        match row.status {
            Status::Recording => return Err(RecordingError::StillRunning),
            Status::Failed => return Err(RecordingError::NotFound),
            Status::Completed | Status::Partial => {}
        }
        let fact = |outcome, detail| {
            let fact = Actor::system().fact(Action::RecordingExport, Some(row.call_id), Some(id), outcome, detail);
            crate::audit::by_operator(fact, operator)
        };
        let io = super::store::StoreError::from;
        if tokio::fs::symlink_metadata(out).await.is_ok() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists; refusing to overwrite it", out.display()),
            ))
            .into());
        }
        let mut media = self.read_media(&row, None).await?;
        let tmp = out.with_extension("part");
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&tmp).await.map_err(io)?;
        let mut written = 0u64;
        while let Some(piece) = media.body.next().await {
            let piece = match piece {
                Ok(p) => p,
                Err(e) => {
                    drop(file);
                    let _ = tokio::fs::remove_file(&tmp).await;
                    let detail = json!({ "error": e.to_string() });
                    crate::audit::record(&self.db, fact(Outcome::Failed, detail)).await?;
                    return Err(e);
                }
            };
            file.write_all(&piece).await.map_err(io)?;
            written += piece.len() as u64;
        }
        file.sync_all().await.map_err(io)?;
        // A hard link, unlike a rename, fails if `out` appeared meanwhile.
        let linked = tokio::fs::hard_link(&tmp, out).await;
        let _ = tokio::fs::remove_file(&tmp).await;
        linked.map_err(io)?;
        let detail = json!({ "bytes": written, "via": "cli", "operator": operator });
        crate::audit::record(&self.db, fact(Outcome::Success, detail)).await?;
        if written != media.size {
            return Err(CryptoError::Truncated.into());
        }
        Ok(written)
    }
}

/// This process's node id, kept in the data directory so a restarted node recovers its own
/// interrupted recordings and never another node's.
fn node_id(data_dir: &std::path::Path) -> String {
    let path = data_dir.join("node-id");
    if let Ok(id) = std::fs::read_to_string(&path)
        && let Ok(id) = id.trim().parse::<uuid::Uuid>()
    {
        return id.to_string();
    }
    let id = uuid::Uuid::new_v4().to_string();
    if std::fs::create_dir_all(data_dir)
        .and_then(|_| std::fs::write(&path, &id))
        .is_err()
    {
        tracing::warn!("cannot keep a node id in the data directory; interrupted recordings are recovered by any node");
    }
    id
}

/// Who a recording service is opened for.
pub enum OpenFor {
    /// The server: it recovers what a crash left behind and tells connected clients through
    /// the notifier; with Redis, it reaches other nodes' peers and serves its own to them.
    Server {
        notifier: std::sync::Arc<dyn super::RecordingNotifier>,
        redis: Option<crate::signaling::multinode::RedisLink>,
    },
    /// An operator command, run beside a live server: it must not touch that server's
    /// running recordings, and has no clients to tell.
    Operator,
}

/// Builds the recording service from the settings (for the server, after recovering what a
/// crash left behind). With Redis, the inbox of other nodes' requests comes with it, for
/// [`super::remote::serve`].
pub async fn open_service(
    settings: &crate::config::Settings,
    db: crate::storage::Db,
    open_for: OpenFor,
) -> anyhow::Result<(std::sync::Arc<RecordingService>, Option<super::remote::Inbox>)> {
    use super::crypto::MasterKey;
    use anyhow::Context;
    use secrecy::ExposeSecret;
    let key = settings
        .recording_master_key
        .as_ref()
        .context("RECORDING_MASTER_KEY is not set")?;
    let current = MasterKey::parse(key.expose_secret()).context("RECORDING_MASTER_KEY is invalid")?;
    let retired = settings
        .recording_master_keys_old
        .iter()
        .map(|k| MasterKey::parse(k.expose_secret()))
        .collect::<Result<Vec<_>, _>>()
        .context("RECORDING_MASTER_KEYS_OLD is invalid")?;
    let keys = super::keyring::KeyRing::new(current, retired);
    let node = node_id(&settings.data_dir);
    let (notifier, recover, redis) = match open_for {
        OpenFor::Server { notifier, redis } => (Some(notifier), true, redis),
        OpenFor::Operator => (None, false, None),
    };
    let (remote, inbox) = match &redis {
        Some(link) => {
            let (remote, inbox) = super::remote::Recorders::connect(link, &node)
                .await
                .context("cannot subscribe to other nodes' recording requests on Redis")?;
            (Some(remote), Some(inbox))
        }
        None => (None, None),
    };
    let service =
        RecordingService::new(settings, db, keys, node, notifier, remote).context("cannot set up recording storage")?;
    let recovered = if recover {
        service
            .recover()
            .await
            .context("cannot recover interrupted recordings")?
    } else {
        0
    };
    if recovered > 0 {
        tracing::warn!(
            recordings = recovered,
            "closed recordings interrupted by a restart as partial"
        );
    }
    Ok((std::sync::Arc::new(service), inbox))
}

/// How often the upkeep job looks for leftovers ([`RecordingService::tidy`]).
const TIDY_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The recording background jobs: stop recordings whose call ended (every two seconds), tidy
/// leftovers (every minute, the first time at once) and delete expired recordings (every
/// `retention_sweep_seconds`).
pub async fn run_jobs(service: std::sync::Arc<RecordingService>, retention_every: std::time::Duration) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_retention: Option<tokio::time::Instant> = None;
    let mut last_tidy: Option<tokio::time::Instant> = None;
    loop {
        tick.tick().await;
        if last_tidy.is_none_or(|t| t.elapsed() >= TIDY_EVERY) {
            last_tidy = Some(tokio::time::Instant::now());
            match service.tidy(crate::now_millis()).await {
                Ok(t) if t == super::leftovers::Tidied::default() => {}
                Ok(t) => tracing::info!(
                    peers = t.peers,
                    rows = t.rows,
                    spool_files = t.spool_files,
                    "recording leftovers tidied"
                ),
                Err(e) => tracing::warn!(error = %e, "tidying recording leftovers failed"),
            }
        } else if let Err(e) = service.stop_orphans().await {
            tracing::warn!(error = %e, "stopping recordings of ended calls failed");
        }
        if last_retention.is_none_or(|t| t.elapsed() >= retention_every) {
            last_retention = Some(tokio::time::Instant::now());
            match service.run_retention(crate::now_millis()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "expired recordings deleted"),
                Err(e) => tracing::warn!(error = %e, "recording retention run failed"),
            }
        }
    }
}
