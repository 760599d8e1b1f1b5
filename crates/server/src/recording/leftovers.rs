//! What a recording can leave behind, found and tidied by the recording upkeep job: a peer
//! whose call has ended, a peer whose row was closed elsewhere, a row this node left
//! `recording` without a peer, and spool files of recordings no longer running anywhere.
//! Each is rare (a crash, a lost reply between nodes), and each would otherwise hold a UDP
//! socket, a task or a file for good.

use super::RecordingError;
use super::repo::{self, Status};
use super::service::RecordingService;
use super::store::StoreError;
use crate::audit::Actor;
use crate::storage::calls as call_repo;
use std::str::FromStr;
use vytalcall_domain::call::CallStatus;
use vytalcall_domain::{CallId, RecordingId};

/// A row left `recording` on this node with no peer here is closed once it is this old, so
/// a recording still launching (row written, peer starting) is never taken for one.
const STRANDED_AFTER_MS: i64 = 2 * 60 * 1000;

/// What one tidy-up did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tidied {
    /// Peers stopped: their call ended, or their row was closed elsewhere.
    pub peers: usize,
    /// Rows closed whose peer was gone.
    pub rows: usize,
    /// Spool files removed (after making sure their object is stored).
    pub spool_files: usize,
}

impl RecordingService {
    /// Stops the recordings of calls that are no longer active (ended, failed). Run
    /// regularly by the server; a recording never outlives its call. A peer whose row was
    /// closed (or deleted) by another node meanwhile is stopped too, its file completed.
    pub async fn stop_orphans(&self) -> Result<usize, RecordingError> {
        let running: Vec<(RecordingId, CallId)> = self
            .active
            .lock()
            .map(|m| m.iter().map(|(id, a)| (*id, a.call)).collect())
            .unwrap_or_default();
        let mut stopped = 0;
        for (id, call) in running {
            let Some(stored) = call_repo::load(&self.db.pool, call).await? else {
                continue;
            };
            match repo::load(&self.db.pool, id).await? {
                Some(row) if row.status == Status::Recording => {
                    if stored.call.status != CallStatus::Active {
                        self.finish(&stored, row, &Actor::system()).await?;
                        stopped += 1;
                    }
                }
                _ => {
                    tracing::warn!(recording = %id, "stopping a peer whose recording was closed elsewhere");
                    self.finish_peer(id).await;
                    stopped += 1;
                }
            }
        }
        Ok(stopped)
    }

    /// Closes rows this node left `recording` without a peer (as recovery does after a
    /// restart), and removes spool files whose recording runs nowhere: deleted ones at
    /// once, closed ones once their object is in the store (uploading it first if needed).
    pub async fn tidy(&self, now: i64) -> Result<Tidied, RecordingError> {
        let mut tidied = Tidied {
            peers: self.stop_orphans().await?,
            ..Tidied::default()
        };
        for row in repo::running_on_node(&self.db.pool, &self.node_id).await? {
            if self.runs_here(row.id) || now - row.started_at < STRANDED_AFTER_MS {
                continue;
            }
            let status = self.recover_one(&row).await?;
            tracing::warn!(recording = %row.id, status = status.as_str(), "closed a recording whose peer was gone");
            tidied.rows += 1;
        }
        for key in self.store.spooled().await? {
            let Some(id) = recording_of(&key) else { continue };
            if self.runs_here(id) {
                continue;
            }
            match repo::load(&self.db.pool, id).await? {
                // Still running: this node's own is closed above once stranded; another
                // node's is not this node's to touch.
                Some(row) if row.status == Status::Recording => continue,
                Some(_) => match self.store.size(&key).await {
                    Ok(_) => self.store.remove_spool(&key).await?,
                    // Closed but never uploaded: the spool is the recording; store it.
                    Err(StoreError::NotFound) => self.store.recover(&key).await?,
                    Err(e) => return Err(e.into()),
                },
                // Deleted (retention): its key is gone, so the file is ciphertext nobody
                // can read; it goes too.
                None => self.store.remove_spool(&key).await?,
            }
            tidied.spool_files += 1;
        }
        Ok(tidied)
    }
}

/// The recording a storage key (`recordings/<call>/<recording>.vrec`) belongs to.
fn recording_of(key: &str) -> Option<RecordingId> {
    let name = key.rsplit('/').next()?.strip_suffix(".vrec")?;
    RecordingId::from_str(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_key_names_its_recording_and_nothing_else_does() {
        let call = uuid::Uuid::new_v4();
        let id = uuid::Uuid::new_v4();
        let key = super::super::store::key_for(call, id);
        assert_eq!(recording_of(&key).map(|r| r.0), Some(id));
        assert_eq!(recording_of("recordings/x/not-an-id.vrec"), None);
        assert_eq!(recording_of(&format!("recordings/{call}/{id}.part")), None);
    }
}
