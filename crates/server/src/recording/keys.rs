//! Where recordings' data keys live: the `recording_keys` rows (each key wrapped under a
//! master key of the [`super::keyring::KeyRing`]), and how the service finds the key of a
//! stored object.
//!
//! A version-2 object carries no key, so its row is the only way to read it: the row is
//! written in the transaction that starts the recording, before any media exists, and
//! deleted in the transaction that deletes the recording. A version-1 object carries its key
//! in its header; it is read from there until `recording rewrap` moves it into a row
//! ([`super::rewrap`]), and from the row afterwards.

use super::RecordingError;
use super::crypto::{self, CryptoError, Header, RecordingKey};
use super::keyring::{KeyId, WrappedKey};
use super::repo::RecordingRow;
use super::service::RecordingService;
use crate::storage::parse_id;
use sqlx::{AnyConnection, AnyPool, Row};
use vytalcall_domain::{CallId, RecordingId};

/// Stores `recording`'s wrapped key; false if it already has one (kept as it is) or the
/// recording was deleted meanwhile.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    recording: RecordingId,
    wrapped: &WrappedKey,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = match sqlx::query(
        "INSERT INTO recording_keys (recording_id, master_key_id, wrapped_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (recording_id) DO NOTHING",
    )
    .bind(recording.to_string())
    .bind(wrapped.master.to_string())
    .bind(wrapped.sealed_text())
    .bind(now)
    .execute(&mut *conn)
    .await
    {
        Ok(done) => done,
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(done.rows_affected() == 1)
}

fn wrapped_from(row: &sqlx::any::AnyRow) -> Result<WrappedKey, RecordingError> {
    let master: String = row.try_get("master_key_id")?;
    let sealed: String = row.try_get("wrapped_key")?;
    Ok(WrappedKey::from_stored(&master, &sealed)?)
}

pub(super) async fn load(pool: &AnyPool, recording: RecordingId) -> Result<Option<WrappedKey>, RecordingError> {
    sqlx::query("SELECT master_key_id, wrapped_key FROM recording_keys WHERE recording_id = $1")
        .bind(recording.to_string())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(wrapped_from)
        .transpose()
}

/// Destroys `recording`'s key: every copy of a version-2 object becomes unreadable.
pub(super) async fn delete(conn: &mut AnyConnection, recording: RecordingId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recording_keys WHERE recording_id = $1")
        .bind(recording.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Replaces `old` by `new`; false if the row is no longer `old` (changed or deleted since it
/// was read), so a concurrent deletion or rewrap is never undone.
pub(super) async fn replace(
    conn: &mut AnyConnection,
    recording: RecordingId,
    old: &WrappedKey,
    new: &WrappedKey,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE recording_keys SET master_key_id = $1, wrapped_key = $2, updated_at = $3 \
         WHERE recording_id = $4 AND master_key_id = $5 AND wrapped_key = $6",
    )
    .bind(new.master.to_string())
    .bind(new.sealed_text())
    .bind(now)
    .bind(recording.to_string())
    .bind(old.master.to_string())
    .bind(old.sealed_text())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A stored key that is not under the current master key.
pub(super) struct Stale {
    pub recording: RecordingId,
    pub call: CallId,
    /// `None`: the row is malformed.
    pub wrapped: Option<WrappedKey>,
}

/// The keys not wrapped under `current`, oldest recording first.
pub(super) async fn not_under(pool: &AnyPool, current: KeyId) -> Result<Vec<Stale>, RecordingError> {
    let rows = sqlx::query(
        "SELECT k.recording_id, r.call_id, k.master_key_id, k.wrapped_key FROM recording_keys k \
         JOIN call_recordings r ON r.id = k.recording_id WHERE k.master_key_id <> $1 \
         ORDER BY r.started_at, k.recording_id",
    )
    .bind(current.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Stale {
                recording: parse_id(row, "recording_id")?,
                call: parse_id(row, "call_id")?,
                wrapped: wrapped_from(row).ok(),
            })
        })
        .collect()
}

pub(super) async fn count_not_under(pool: &AnyPool, current: KeyId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM recording_keys WHERE master_key_id <> $1")
        .bind(current.to_string())
        .fetch_one(pool)
        .await
}

/// Recordings with a stored object and no key row: version-1 objects whose key is still only
/// in their header (or objects whose key is lost). Running ones are left to their writer.
pub(super) async fn without_row(pool: &AnyPool) -> Result<Vec<(RecordingId, CallId, String)>, RecordingError> {
    let rows = sqlx::query(
        "SELECT r.id, r.call_id, r.storage_key FROM call_recordings r WHERE r.status <> 'recording' \
         AND r.storage_key IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM recording_keys k WHERE k.recording_id = r.id) ORDER BY r.started_at, r.id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                parse_id(row, "id")?,
                parse_id(row, "call_id")?,
                row.try_get("storage_key")?,
            ))
        })
        .collect()
}

impl RecordingService {
    /// A new recording's key and its row's wrapped form (under the current master key).
    pub(super) fn new_key(&self, id: RecordingId) -> Result<(RecordingKey, WrappedKey), RecordingError> {
        let key = RecordingKey::generate(id.0);
        let wrapped = self.keys.wrap(id.0, key.data_key())?;
        Ok((key, wrapped))
    }

    /// The key of `id`'s stored object, whose header starts `header`: from the key's row if
    /// it has one, else (a version-1 object only) from the header. A version-2 object without
    /// a row has no key anywhere: [`CryptoError::NoKey`].
    pub(super) async fn key_for(&self, id: RecordingId, header: &[u8]) -> Result<RecordingKey, RecordingError> {
        match load(&self.db.pool, id).await? {
            Some(wrapped) => {
                let data_key = self.keys.unwrap(id.0, &wrapped)?;
                Ok(RecordingKey::with_data_key(data_key, id.0, header)?)
            }
            None => match Header::parse(header)? {
                Header::V1 { .. } => Ok(RecordingKey::open_v1(&self.keys, id.0, header)?),
                Header::V2 { .. } => Err(CryptoError::NoKey.into()),
            },
        }
    }

    /// The header of the stored object `key_name` (its version says how long it is).
    pub(super) async fn read_header(&self, key_name: &str) -> Result<Vec<u8>, RecordingError> {
        // Two small reads, never a range past the end of a short object.
        let start = self.store.read_range(key_name, 0..crypto::VERSION_END as u64).await?;
        let len = crypto::header_len(&start)?.ok_or(CryptoError::BadHeader)?;
        let header = self.store.read_range(key_name, 0..len as u64).await?;
        if header.len() != len {
            return Err(CryptoError::BadHeader.into());
        }
        Ok(header.to_vec())
    }

    /// Opens a recording's key for its stored object.
    pub(super) async fn open_key(&self, row: &RecordingRow) -> Result<RecordingKey, RecordingError> {
        let key_name = row.storage_key.as_deref().ok_or(RecordingError::NotFound)?;
        let header = self.read_header(key_name).await?;
        self.key_for(row.id, &header).await
    }

    /// Decrypts the bytes of a stored object (or of any copy of one: a backup, an old object
    /// version, a spool file) as recording `id` with the keys this server holds; what it
    /// would take to read such a copy. `require_end`: it must be a whole, closed recording.
    pub async fn decrypt_stored(
        &self,
        id: RecordingId,
        stored: &[u8],
        require_end: bool,
    ) -> Result<Vec<u8>, RecordingError> {
        let len = crypto::header_len(stored)?.ok_or(CryptoError::BadHeader)?;
        let header = stored.get(..len).ok_or(CryptoError::BadHeader)?;
        let key = self.key_for(id, header).await?;
        Ok(crypto::decrypt_all(&key, stored, require_end)?.0)
    }
}
