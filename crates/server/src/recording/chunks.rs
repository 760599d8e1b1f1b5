//! Reading a stored object's chunk frames as they arrive ([`ChunkReader`]), and decrypting
//! a whole object at once ([`decrypt_all`]). The format is described in [`super::crypto`].

use super::crypto::{CryptoError, FRAME_LEN, MAX_CHUNK, RecordingKey, TAG_LEN, header_len};

/// Where one chunk lies in the stored object and in the plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkInfo {
    pub position: u32,
    /// Offset of the chunk's frame in the stored object.
    pub stored_offset: u64,
    pub sealed_len: u32,
    /// Offset of the chunk's plaintext in the decrypted body.
    pub plain_offset: u64,
    pub end_ms: u32,
}

impl ChunkInfo {
    pub fn plain_len(&self) -> u64 {
        u64::from(self.sealed_len).saturating_sub(TAG_LEN as u64)
    }
}

/// Incremental parser of an object's chunk frames: feed it bytes as they arrive, get whole
/// sealed chunks out. It allocates no more than one chunk, whatever the input claims.
#[derive(Default)]
pub struct ChunkReader {
    buf: Vec<u8>,
    /// Stored offset of `buf[0]`.
    offset: u64,
    next_position: u32,
    plain_offset: u64,
    header_seen: bool,
    header: Vec<u8>,
    finished: bool,
}

impl ChunkReader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The header, once its bytes have arrived.
    pub fn header(&mut self) -> Result<Option<&[u8]>, CryptoError> {
        if !self.header_seen {
            let Some(len) = header_len(&self.buf)? else {
                return Ok(None);
            };
            if self.buf.len() < len {
                return Ok(None);
            }
            self.header = self.buf.drain(..len).collect();
            self.offset = len as u64;
            self.header_seen = true;
        }
        Ok(Some(&self.header))
    }

    /// The next complete sealed chunk, if all its bytes have arrived.
    pub fn next_chunk(&mut self) -> Result<Option<(ChunkInfo, Vec<u8>)>, CryptoError> {
        if !self.header_seen || self.buf.len() < FRAME_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let end_ms = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
        if (len as usize) < TAG_LEN || len as usize > MAX_CHUNK {
            return Err(CryptoError::Tampered(self.next_position));
        }
        if self.finished {
            return Err(CryptoError::TrailingData);
        }
        let total = FRAME_LEN + len as usize;
        if self.buf.len() < total {
            return Ok(None);
        }
        let sealed = self.buf[FRAME_LEN..total].to_vec();
        self.buf.drain(..total);
        let info = ChunkInfo {
            position: self.next_position,
            stored_offset: self.offset,
            sealed_len: len,
            plain_offset: self.plain_offset,
            end_ms,
        };
        self.offset += total as u64;
        self.plain_offset += info.plain_len();
        self.next_position = self.next_position.saturating_add(1);
        Ok(Some((info, sealed)))
    }

    /// Marks that the final chunk was read; anything after it is an error.
    pub fn saw_last(&mut self) {
        self.finished = true;
    }

    /// Bytes received but not forming a whole chunk (a crash's torn write, or truncation).
    pub fn leftover(&self) -> usize {
        self.buf.len()
    }
}

/// Decrypts a whole stored object with its key (whose header it must start with).
/// `require_end`: a finished recording must end with its final chunk; a crashed (`partial`)
/// one yields every complete chunk and stops.
pub fn decrypt_all(
    key: &RecordingKey,
    stored: &[u8],
    require_end: bool,
) -> Result<(Vec<u8>, Vec<ChunkInfo>), CryptoError> {
    let mut reader = ChunkReader::default();
    reader.push(stored);
    if reader.header()?.ok_or(CryptoError::BadHeader)? != key.header() {
        return Err(CryptoError::BadHeader);
    }
    let mut plain = Vec::new();
    let mut chunks = Vec::new();
    let mut ended = false;
    while let Some((info, sealed)) = reader.next_chunk()? {
        let (bytes, last) = key.open_chunk(info.position, info.end_ms, &sealed)?;
        plain.extend_from_slice(&bytes);
        chunks.push(info);
        if last {
            reader.saw_last();
            ended = true;
        }
    }
    if require_end && (!ended || reader.leftover() > 0) {
        return Err(CryptoError::Truncated);
    }
    Ok((plain, chunks))
}
