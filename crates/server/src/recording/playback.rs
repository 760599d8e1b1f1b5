//! Playback: the decrypted WebM, streamed with HTTP range support.
//!
//! The playable file is the WebM head (kept sealed with the recording's row) followed by the
//! decrypted body. A range request streams the stored object from its start, skipping the
//! chunks before the range without decrypting them and decrypting (so authenticating) every
//! chunk it serves bytes from. The first chunk served is checked before the response starts,
//! so a flipped byte there is refused with an error status; one found later cuts the
//! response short, which players report as an error: altered media is never played.

use super::RecordingError;
use super::crypto::{ChunkReader, RecordingKey};
use super::repo::{RecordingRow, Status};
use super::service::RecordingService;
use super::store::StoreError;
use crate::audit::{self, Action, Actor, Outcome};
use crate::calls::CallsService;
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::json;
use vytalcall_domain::{CallId, RecordingId};

/// A requested byte range, already checked against the file size (inclusive end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// Parses a `Range` header against a file of `size` bytes. `Ok(None)`: serve it whole
/// (no header, or one this server does not split, like multiple ranges).
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<ByteRange>, RecordingError> {
    let Some(h) = header else { return Ok(None) };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(RecordingError::BadRange { size })?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| RecordingError::BadRange { size })?;
        if n == 0 || size == 0 {
            return Err(RecordingError::BadRange { size });
        }
        ByteRange {
            start: size.saturating_sub(n),
            end: size - 1,
        }
    } else {
        let start: u64 = a.parse().map_err(|_| RecordingError::BadRange { size })?;
        let end: u64 = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse().map_err(|_| RecordingError::BadRange { size })?
        };
        if start >= size || end < start {
            return Err(RecordingError::BadRange { size });
        }
        ByteRange {
            start,
            end: end.min(size - 1),
        }
    };
    Ok(Some(range))
}

/// A response body ready to send.
pub struct Media {
    pub size: u64,
    pub range: Option<ByteRange>,
    pub body: BoxStream<'static, Result<Bytes, RecordingError>>,
}

/// Reads the decrypted body between two plaintext offsets (end exclusive).
struct BodyReader {
    source: BoxStream<'static, Result<Bytes, StoreError>>,
    reader: ChunkReader,
    key: RecordingKey,
    from: u64,
    to: u64,
    must_end: bool,
    saw_last: bool,
    done: bool,
}

impl BodyReader {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, RecordingError> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.reader.next_chunk()? {
                Some((info, sealed)) => {
                    let (start, end) = (info.plain_offset, info.plain_offset + info.plain_len());
                    if end <= self.from && info.plain_len() > 0 {
                        continue;
                    }
                    let (plain, last) = self.key.open_chunk(info.position, info.end_ms, &sealed)?;
                    if last {
                        self.reader.saw_last();
                        self.saw_last = true;
                    }
                    if start >= self.to {
                        self.done = true;
                        return Ok(None);
                    }
                    let lo = self.from.saturating_sub(start) as usize;
                    let hi = (self.to.min(end) - start) as usize;
                    if lo < hi {
                        return Ok(Some(Bytes::copy_from_slice(&plain[lo..hi])));
                    }
                }
                None => match self.source.next().await {
                    Some(bytes) => self.reader.push(&bytes?),
                    None => {
                        self.done = true;
                        if self.must_end && (!self.saw_last || self.reader.leftover() > 0) {
                            return Err(super::crypto::CryptoError::Truncated.into());
                        }
                        return Ok(None);
                    }
                },
            }
        }
    }
}

impl RecordingService {
    pub(super) fn open_head(&self, key: &RecordingKey, row: &RecordingRow) -> Result<Vec<u8>, RecordingError> {
        let sealed = row
            .media_head
            .as_deref()
            .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
            .ok_or(super::crypto::CryptoError::BadHeader)?;
        Ok(key.open_blob(row.id.0, &sealed)?)
    }

    /// The playable bytes of `row` in `range` (or all of them).
    pub async fn read_media(&self, row: &RecordingRow, range: Option<ByteRange>) -> Result<Media, RecordingError> {
        let size = u64::try_from(row.size_bytes.unwrap_or(0)).unwrap_or(0);
        let key = self.open_key(row).await?;
        let head = self.open_head(&key, row)?;
        let head_len = head.len() as u64;
        let ByteRange { start, end } = range.unwrap_or(ByteRange {
            start: 0,
            end: size.saturating_sub(1),
        });
        let to = end + 1;
        let head_part = if start < head_len {
            Bytes::copy_from_slice(&head[start as usize..to.min(head_len) as usize])
        } else {
            Bytes::new()
        };
        let key_name = row.storage_key.clone().ok_or(RecordingError::NotFound)?;
        let mut body: BoxStream<'static, Result<Bytes, RecordingError>> = futures_util::stream::empty().boxed();
        if to > head_len {
            let mut reader = ChunkReader::default();
            let mut source = self.store.read_from(&key_name, 0).await?;
            while reader.header()?.is_none() {
                match source.next().await {
                    Some(bytes) => reader.push(&bytes?),
                    None => return Err(super::crypto::CryptoError::BadHeader.into()),
                }
            }
            let mut body_reader = BodyReader {
                source,
                reader,
                key,
                from: start.saturating_sub(head_len),
                to: to - head_len,
                must_end: row.status == Status::Completed && to >= size,
                saw_last: false,
                done: false,
            };
            // Authenticate the first piece before answering, so most tampering gets a clean error.
            let first = body_reader.next_piece().await?;
            let rest = futures_util::stream::unfold(Some(body_reader), |state| async move {
                let mut r = state?;
                match r.next_piece().await {
                    Ok(Some(b)) => Some((Ok(b), Some(r))),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::error!(error = %e, "recording failed its integrity check during playback");
                        Some((Err(e), None))
                    }
                }
            });
            body = futures_util::stream::iter(first.map(Ok)).chain(rest).boxed();
        }
        let body = futures_util::stream::iter([Ok(head_part)]).chain(body).boxed();
        Ok(Media { size, range, body })
    }

    /// The media of a recording for the call's providers and admins; every access audited.
    pub async fn media(
        &self,
        calls: &CallsService,
        actor: &Actor,
        call: CallId,
        id: RecordingId,
        range_header: Option<&str>,
    ) -> Result<Media, RecordingError> {
        let (_, row) = self.load_for(calls, actor, call, id, Action::RecordingAccess).await?;
        match row.status {
            Status::Recording => return Err(RecordingError::StillRunning),
            Status::Failed => return Err(RecordingError::NotFound),
            Status::Completed | Status::Partial => {}
        }
        let size = u64::try_from(row.size_bytes.unwrap_or(0)).unwrap_or(0);
        let range = parse_range(range_header, size)?;
        let detail = json!({ "range": range.map(|r| format!("{}-{}", r.start, r.end)), "size": size });
        match self.read_media(&row, range).await {
            Ok(media) => {
                audit::record(
                    &self.db,
                    actor.fact(Action::RecordingAccess, Some(call), Some(id), Outcome::Success, detail),
                )
                .await?;
                Ok(media)
            }
            Err(e) => {
                let detail = json!({ "error": e.to_string() });
                audit::record(
                    &self.db,
                    actor.fact(Action::RecordingAccess, Some(call), Some(id), Outcome::Failed, detail),
                )
                .await?;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_as_players_send_them() {
        let r = |h: &str| parse_range(Some(h), 1000).map_err(|_| ());
        assert_eq!(r("bytes=0-"), Ok(Some(ByteRange { start: 0, end: 999 })));
        assert_eq!(r("bytes=100-199"), Ok(Some(ByteRange { start: 100, end: 199 })));
        assert_eq!(r("bytes=900-5000"), Ok(Some(ByteRange { start: 900, end: 999 })));
        assert_eq!(r("bytes=-100"), Ok(Some(ByteRange { start: 900, end: 999 })));
        assert_eq!(r("bytes=0-1,5-6"), Ok(None));
        assert_eq!(r("items=0-1"), Ok(None));
        assert!(r("bytes=1000-").is_err());
        assert!(r("bytes=5-1").is_err());
        assert!(r("bytes=x-").is_err());
        assert!(r("bytes=-0").is_err());
        assert_eq!(parse_range(None, 10).map_err(|_| ()), Ok(None));
    }
}
