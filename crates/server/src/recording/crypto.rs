//! Encryption at rest: a fresh AES-256-GCM data key per recording, wrapped by the master key,
//! and the media as a sequence of independently authenticated chunks (the STREAM construction
//! with a 32-bit big-endian counter and a "last chunk" flag in the nonce).
//!
//! Why STREAM: a recording is written while the call goes on, so a crash must leave every
//! chunk written so far readable, while a file that was cut short or altered must never be
//! mistaken for a whole one. Each chunk is its own GCM message whose nonce holds its position,
//! so chunks cannot be reordered, dropped from the middle, or moved between recordings; only
//! the final chunk carries the "last" flag, so a missing end is detected.
//!
//! Layout of a stored object (all integers big-endian; see `docs/recording.md`):
//!
//! ```text
//! header (84 bytes):
//!   magic "VYTLREC1" | version u8 = 1 | master key fingerprint [8]
//!   | wrap nonce [12] | wrapped data key [32 + 16 tag] | stream nonce prefix [7]
//! chunk*:
//!   ciphertext length u32 | media end time (ms) u32 | ciphertext (plaintext + 16-byte tag)
//! ```
//!
//! The wrapped key is authenticated with the magic, version and recording id; every chunk with
//! the whole header and its media end time, so a header from another recording, a changed
//! time or a flipped bit anywhere fails authentication.

use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const MAGIC: &[u8; 8] = b"VYTLREC1";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 8 + 1 + 8 + 12 + 48 + 7;
/// Bytes before each chunk's ciphertext: its length and its media end time.
pub const FRAME_LEN: usize = 8;
pub const TAG_LEN: usize = 16;
/// No chunk is larger than this; a length above it is corruption, not a reason to allocate.
pub const MAX_CHUNK: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("RECORDING_MASTER_KEY must be 32 bytes written as 64 hex characters or base64")]
    BadMasterKey,
    #[error("not a vytalcall recording (bad header)")]
    BadHeader,
    #[error("the recording was encrypted under a different master key")]
    WrongMasterKey,
    #[error("the recording's key or chunk {0} failed authentication: the stored file was altered")]
    Tampered(u32),
    #[error("the recording ends without its final chunk: the stored file was cut short")]
    Truncated,
    #[error("the recording has data after its final chunk")]
    TrailingData,
    #[error("encryption failed")]
    Encrypt,
}

/// The key that wraps every recording's data key. Never logged, never stored with the media.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Parses 64 hex characters or standard base64 of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<MasterKey, CryptoError> {
        use base64::Engine;
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| CryptoError::BadMasterKey)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| CryptoError::BadMasterKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadMasterKey)?;
        Ok(MasterKey { key })
    }

    /// Identifies the master key without revealing it, so a recording names the key it needs.
    fn fingerprint(&self) -> [u8; 8] {
        let digest = Sha256::new_with_prefix(b"vytalcall recording master key\0")
            .chain_update(self.key)
            .finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        out
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key.into())
    }
}

fn wrap_aad(recording: Uuid) -> Vec<u8> {
    let mut aad = Vec::with_capacity(25);
    aad.extend_from_slice(MAGIC);
    aad.push(VERSION);
    aad.extend_from_slice(recording.as_bytes());
    aad
}

/// A recording's data key and the header that carries it wrapped.
pub struct RecordingKey {
    stream: StreamBE32<Aes256Gcm>,
    data_key: [u8; 32],
    header: [u8; HEADER_LEN],
}

impl RecordingKey {
    /// A fresh random data key for a new recording, wrapped under `master`.
    pub fn generate(master: &MasterKey, recording: Uuid) -> Result<RecordingKey, CryptoError> {
        let mut rng = rand::rng();
        let mut data_key = [0u8; 32];
        rng.fill_bytes(&mut data_key);
        let mut wrap_nonce = [0u8; 12];
        rng.fill_bytes(&mut wrap_nonce);
        let mut prefix = [0u8; 7];
        rng.fill_bytes(&mut prefix);
        let wrapped = master
            .cipher()
            .encrypt(
                &wrap_nonce.into(),
                Payload {
                    msg: &data_key,
                    aad: &wrap_aad(recording),
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut header = [0u8; HEADER_LEN];
        let mut at = 0;
        for part in [
            &MAGIC[..],
            &[VERSION],
            &master.fingerprint(),
            &wrap_nonce,
            &wrapped,
            &prefix,
        ] {
            header[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Ok(RecordingKey {
            stream: StreamBE32::new(&data_key.into(), &prefix.into()),
            data_key,
            header,
        })
    }

    /// Unwraps the data key from a stored header.
    pub fn open(master: &MasterKey, recording: Uuid, header: &[u8]) -> Result<RecordingKey, CryptoError> {
        let header: [u8; HEADER_LEN] = header
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(CryptoError::BadHeader)?;
        if &header[..8] != MAGIC || header[8] != VERSION {
            return Err(CryptoError::BadHeader);
        }
        if header[9..17] != master.fingerprint() {
            return Err(CryptoError::WrongMasterKey);
        }
        let wrap_nonce: [u8; 12] = header[17..29].try_into().map_err(|_| CryptoError::BadHeader)?;
        let plain = master
            .cipher()
            .decrypt(
                &wrap_nonce.into(),
                Payload {
                    msg: &header[29..77],
                    aad: &wrap_aad(recording),
                },
            )
            .map_err(|_| CryptoError::Tampered(0))?;
        let data_key: [u8; 32] = plain.try_into().map_err(|_| CryptoError::BadHeader)?;
        let prefix: [u8; 7] = header[77..84].try_into().map_err(|_| CryptoError::BadHeader)?;
        Ok(RecordingKey {
            stream: StreamBE32::new(&data_key.into(), &prefix.into()),
            data_key,
            header,
        })
    }

    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    fn chunk_aad(&self, end_ms: u32) -> Vec<u8> {
        let mut aad = self.header.to_vec();
        aad.extend_from_slice(&end_ms.to_be_bytes());
        aad
    }

    /// Encrypts chunk `position` and frames it for appending to the stored object.
    pub fn seal_chunk(&self, position: u32, last: bool, end_ms: u32, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if position == u32::MAX || plain.len() + TAG_LEN > MAX_CHUNK {
            return Err(CryptoError::Encrypt);
        }
        let aad = self.chunk_aad(end_ms);
        let sealed = self
            .stream
            .encrypt(position, last, Payload { msg: plain, aad: &aad })
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(FRAME_LEN + sealed.len());
        out.extend_from_slice(&(sealed.len() as u32).to_be_bytes());
        out.extend_from_slice(&end_ms.to_be_bytes());
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts the ciphertext of chunk `position`; says whether it was the final chunk.
    pub fn open_chunk(&self, position: u32, end_ms: u32, sealed: &[u8]) -> Result<(Vec<u8>, bool), CryptoError> {
        let aad = self.chunk_aad(end_ms);
        for last in [false, true] {
            if let Ok(plain) = self.stream.decrypt(position, last, Payload { msg: sealed, aad: &aad }) {
                return Ok((plain, last));
            }
        }
        Err(CryptoError::Tampered(position))
    }

    /// A one-shot sealed blob under the data key with a random nonce (the WebM head, which is
    /// rewritten at the end of a recording and so cannot be a STREAM chunk: a nonce must
    /// never encrypt two different plaintexts).
    pub fn seal_blob(&self, recording: Uuid, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let mut aad = self.header.to_vec();
        aad.extend_from_slice(recording.as_bytes());
        let sealed = Aes256Gcm::new(&self.data_key.into())
            .encrypt(&nonce.into(), Payload { msg: plain, aad: &aad })
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open_blob(&self, recording: Uuid, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 12 + TAG_LEN {
            return Err(CryptoError::Tampered(0));
        }
        let nonce: [u8; 12] = sealed[..12].try_into().map_err(|_| CryptoError::Tampered(0))?;
        let mut aad = self.header.to_vec();
        aad.extend_from_slice(recording.as_bytes());
        Aes256Gcm::new(&self.data_key.into())
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &sealed[12..],
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Tampered(0))
    }
}

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
            if self.buf.len() < HEADER_LEN {
                return Ok(None);
            }
            self.header = self.buf.drain(..HEADER_LEN).collect();
            self.offset = HEADER_LEN as u64;
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

/// Decrypts a whole stored object. `require_end`: a finished recording must end with its
/// final chunk; a crashed (`partial`) one yields every complete chunk and stops.
pub fn decrypt_all(
    master: &MasterKey,
    recording: Uuid,
    stored: &[u8],
    require_end: bool,
) -> Result<(RecordingKey, Vec<u8>, Vec<ChunkInfo>), CryptoError> {
    let mut reader = ChunkReader::default();
    reader.push(stored);
    let header = reader.header()?.ok_or(CryptoError::BadHeader)?.to_vec();
    let key = RecordingKey::open(master, recording, &header)?;
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
    Ok((key, plain, chunks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::parse(&"ab".repeat(32)).expect("hex key")
    }

    /// A stored object of `n` chunks, the last one final when `close`.
    fn object(key: &RecordingKey, chunks: &[&[u8]], close: bool) -> Vec<u8> {
        let mut out = key.header().to_vec();
        for (i, c) in chunks.iter().enumerate() {
            let last = close && i + 1 == chunks.len();
            out.extend(key.seal_chunk(i as u32, last, (i as u32 + 1) * 1000, c).expect("seal"));
        }
        out
    }

    #[test]
    fn master_keys_are_read_from_hex_or_base64_and_nothing_else() {
        assert!(MasterKey::parse(&"0f".repeat(32)).is_ok());
        assert!(MasterKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").is_ok());
        for bad in ["", "k", &"0f".repeat(31), &"zz".repeat(32), "AAEC"] {
            assert_eq!(
                MasterKey::parse(bad).map(|_| ()),
                Err(CryptoError::BadMasterKey),
                "{bad}"
            );
        }
        assert_eq!(format!("{:?}", master()), "MasterKey(..)");
    }

    #[test]
    fn a_closed_recording_decrypts_to_exactly_what_was_written() {
        let id = Uuid::new_v4();
        let key = RecordingKey::generate(&master(), id).expect("key");
        let stored = object(&key, &[b"first cluster", b"second", b"cues"], true);
        let (_, plain, chunks) = decrypt_all(&master(), id, &stored, true).expect("decrypts");
        assert_eq!(plain, b"first clustersecondcues");
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[2].end_ms, 3000);
        assert_eq!(chunks[1].plain_offset, 13);
        assert!(!stored.windows(6).any(|w| w == b"second"), "no plaintext at rest");
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let id = Uuid::new_v4();
        let key = RecordingKey::generate(&master(), id).expect("key");
        let stored = object(&key, &[b"alpha", b"beta"], true);
        for i in 0..stored.len() {
            let mut bad = stored.clone();
            bad[i] ^= 0x01;
            assert!(
                decrypt_all(&master(), id, &bad, true).is_err(),
                "byte {i} flipped went unnoticed"
            );
        }
    }

    #[test]
    fn a_truncated_recording_is_detected_but_its_complete_chunks_stay_readable() {
        let id = Uuid::new_v4();
        let key = RecordingKey::generate(&master(), id).expect("key");
        let closed = object(&key, &[b"one", b"two", b"three"], true);
        let last_frame = FRAME_LEN + 5 + TAG_LEN;
        let cut = &closed[..closed.len() - last_frame];
        assert_eq!(
            decrypt_all(&master(), id, cut, true).err(),
            Some(CryptoError::Truncated)
        );
        let (_, plain, _) = decrypt_all(&master(), id, cut, false).expect("prefix readable");
        assert_eq!(plain, b"onetwo");
        // A crash in the middle of writing a chunk: the torn tail is ignored.
        let torn = &closed[..closed.len() - 3];
        let (_, plain, _) = decrypt_all(&master(), id, torn, false).expect("prefix readable");
        assert_eq!(plain, b"onetwo");
        // A recording that crashed never wrote a final chunk.
        let crashed = object(&key, &[b"one", b"two"], false);
        assert_eq!(
            decrypt_all(&master(), id, &crashed, true).err(),
            Some(CryptoError::Truncated)
        );
    }

    #[test]
    fn chunks_cannot_be_reordered_dropped_or_moved_between_recordings() {
        let id = Uuid::new_v4();
        let key = RecordingKey::generate(&master(), id).expect("key");
        let a = key.seal_chunk(0, false, 1, b"a").expect("seal");
        let b = key.seal_chunk(1, false, 2, b"b").expect("seal");
        let c = key.seal_chunk(2, true, 3, b"c").expect("seal");
        let join = |parts: &[&Vec<u8>]| {
            let mut out = key.header().to_vec();
            for p in parts {
                out.extend_from_slice(p);
            }
            out
        };
        assert!(decrypt_all(&master(), id, &join(&[&b, &a, &c]), true).is_err());
        assert!(decrypt_all(&master(), id, &join(&[&a, &c]), true).is_err());
        assert!(decrypt_all(&master(), id, &join(&[&a, &b, &c, &c]), true).is_err());
        assert!(decrypt_all(&master(), Uuid::new_v4(), &join(&[&a, &b, &c]), true).is_err());
        let other = MasterKey::parse(&"cd".repeat(32)).expect("key");
        assert_eq!(
            decrypt_all(&other, id, &join(&[&a, &b, &c]), true).err(),
            Some(CryptoError::WrongMasterKey)
        );
    }

    #[test]
    fn a_lying_length_never_allocates_more_than_a_chunk() {
        let id = Uuid::new_v4();
        let key = RecordingKey::generate(&master(), id).expect("key");
        let mut stored = key.header().to_vec();
        stored.extend_from_slice(&u32::MAX.to_be_bytes());
        stored.extend_from_slice(&[0; 40]);
        assert!(decrypt_all(&master(), id, &stored, false).is_err());
    }

    #[test]
    fn blobs_under_the_data_key_are_authenticated() {
        let id = Uuid::new_v4();
        let key = RecordingKey::generate(&master(), id).expect("key");
        let sealed = key.seal_blob(id, b"webm head").expect("seal");
        let reopened = RecordingKey::open(&master(), id, key.header()).expect("open");
        assert_eq!(reopened.open_blob(id, &sealed).expect("open"), b"webm head");
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        assert!(reopened.open_blob(id, &bad).is_err());
        assert!(reopened.open_blob(Uuid::new_v4(), &sealed).is_err());
    }
}
