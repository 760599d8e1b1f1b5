//! Encryption at rest: the media of a recording as a sequence of independently authenticated
//! chunks under the recording's own data key (the STREAM construction with a 32-bit
//! big-endian counter and a "last chunk" flag in the nonce). The data key itself is kept in
//! the database, wrapped under a master key ([`super::keyring`]).
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
//! header, version 2 (32 bytes; what is written now; the data key is not in it):
//!   magic "VYTLREC1" | version u8 = 2 | recording id [16] | stream nonce prefix [7]
//! header, version 1 (84 bytes; still read, never written):
//!   magic "VYTLREC1" | version u8 = 1 | master key id [8]
//!   | wrap nonce [12] | wrapped data key [32 + 16 tag] | stream nonce prefix [7]
//! chunk*:
//!   ciphertext length u32 | media end time (ms) u32 | ciphertext (plaintext + 16-byte tag)
//! ```
//!
//! Every chunk is authenticated with the whole header and its media end time, so a header
//! from another recording, a changed time or a flipped bit anywhere fails authentication. A
//! version-1 header's wrapped key is authenticated with the magic, version and recording id.

use super::keyring::{DataKey, KeyId, KeyRing};
use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use rand::RngCore;
use uuid::Uuid;

pub use super::chunks::{ChunkInfo, ChunkReader, decrypt_all};
pub use super::keyring::MasterKey;

pub const MAGIC: &[u8; 8] = b"VYTLREC1";
/// Objects written before data keys moved to the database: the key wrapped in the header.
pub const VERSION_1: u8 = 1;
/// The data key lives only in the database; the header names the recording.
pub const VERSION_2: u8 = 2;
pub const V1_HEADER_LEN: usize = 8 + 1 + 8 + 12 + 48 + 7;
pub const V2_HEADER_LEN: usize = 8 + 1 + 16 + 7;
/// Bytes that say which header follows: the magic and the version.
pub const VERSION_END: usize = 9;
/// Bytes before each chunk's ciphertext: its length and its media end time.
pub const FRAME_LEN: usize = 8;
pub const TAG_LEN: usize = 16;
/// No chunk is larger than this; a length above it is corruption, not a reason to allocate.
pub const MAX_CHUNK: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("a recording master key must be 32 bytes written as 64 hex characters or base64")]
    BadMasterKey,
    #[error("not a vytalcall recording (bad header)")]
    BadHeader,
    #[error("no key for this recording: its key was deleted, so its media cannot be decrypted")]
    NoKey,
    #[error(
        "the recording's key is wrapped under a master key this server does not hold \
         (set it in RECORDING_MASTER_KEYS_OLD)"
    )]
    UnknownMasterKey,
    #[error("the recording's stored key is malformed")]
    BadStoredKey,
    #[error("the recording's key or chunk {0} failed authentication: the stored file was altered")]
    Tampered(u32),
    #[error("the recording ends without its final chunk: the stored file was cut short")]
    Truncated,
    #[error("the recording has data after its final chunk")]
    TrailingData,
    #[error("encryption failed")]
    Encrypt,
}

/// How many bytes the header at the start of `bytes` has; `None` until its version arrived.
pub fn header_len(bytes: &[u8]) -> Result<Option<usize>, CryptoError> {
    if bytes.len() < VERSION_END {
        return if MAGIC.starts_with(bytes) {
            Ok(None)
        } else {
            Err(CryptoError::BadHeader)
        };
    }
    if &bytes[..8] != MAGIC {
        return Err(CryptoError::BadHeader);
    }
    match bytes[8] {
        VERSION_1 => Ok(Some(V1_HEADER_LEN)),
        VERSION_2 => Ok(Some(V2_HEADER_LEN)),
        _ => Err(CryptoError::BadHeader),
    }
}

/// A stored object's header, parsed.
pub enum Header<'a> {
    /// The data key is in the header, wrapped under the master key `master`.
    V1 {
        master: KeyId,
        wrap_nonce: [u8; 12],
        wrapped: &'a [u8],
        prefix: [u8; 7],
    },
    /// The data key is in the database only.
    V2 { recording: Uuid, prefix: [u8; 7] },
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], CryptoError> {
    bytes.try_into().map_err(|_| CryptoError::BadHeader)
}

impl Header<'_> {
    /// Parses the header at the start of `bytes` (which may go on with chunks).
    pub fn parse(bytes: &[u8]) -> Result<Header<'_>, CryptoError> {
        let len = header_len(bytes)?.ok_or(CryptoError::BadHeader)?;
        let h = bytes.get(..len).ok_or(CryptoError::BadHeader)?;
        Ok(match h[8] {
            VERSION_1 => Header::V1 {
                master: KeyId(array(&h[9..17])?),
                wrap_nonce: array(&h[17..29])?,
                wrapped: &h[29..77],
                prefix: array(&h[77..84])?,
            },
            _ => Header::V2 {
                recording: Uuid::from_bytes(array(&h[9..25])?),
                prefix: array(&h[25..32])?,
            },
        })
    }

    pub fn version(&self) -> u8 {
        match self {
            Header::V1 { .. } => VERSION_1,
            Header::V2 { .. } => VERSION_2,
        }
    }
}

fn v1_wrap_aad(recording: Uuid) -> Vec<u8> {
    let mut aad = Vec::with_capacity(25);
    aad.extend_from_slice(MAGIC);
    aad.push(VERSION_1);
    aad.extend_from_slice(recording.as_bytes());
    aad
}

/// A recording's data key and the header of its stored object.
pub struct RecordingKey {
    stream: StreamBE32<Aes256Gcm>,
    data_key: DataKey,
    header: Vec<u8>,
}

impl RecordingKey {
    /// A fresh random data key for a new recording, with its version-2 header. The caller
    /// keeps [`Self::data_key`] wrapped in the database before writing any media.
    pub fn generate(recording: Uuid) -> RecordingKey {
        let data_key = DataKey::random();
        let mut prefix = [0u8; 7];
        rand::rng().fill_bytes(&mut prefix);
        let mut header = Vec::with_capacity(V2_HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.push(VERSION_2);
        header.extend_from_slice(recording.as_bytes());
        header.extend_from_slice(&prefix);
        RecordingKey {
            stream: StreamBE32::new(&data_key.0.into(), &prefix.into()),
            data_key,
            header,
        }
    }

    /// The key of the object whose header starts `header`, from its data key (unwrapped from
    /// the database). A version-2 header of another recording is refused.
    pub fn with_data_key(data_key: DataKey, recording: Uuid, header: &[u8]) -> Result<RecordingKey, CryptoError> {
        let len = header_len(header)?.ok_or(CryptoError::BadHeader)?;
        let prefix = match Header::parse(header)? {
            Header::V1 { prefix, .. } => prefix,
            Header::V2 { recording: r, prefix } if r == recording => prefix,
            Header::V2 { .. } => return Err(CryptoError::BadHeader),
        };
        Ok(RecordingKey {
            stream: StreamBE32::new(&data_key.0.into(), &prefix.into()),
            data_key,
            header: header[..len].to_vec(),
        })
    }

    /// The key of a version-1 object, unwrapped from its header by the ring's key of the id
    /// the header names. Only for objects whose key has not moved to the database yet.
    pub fn open_v1(ring: &KeyRing, recording: Uuid, header: &[u8]) -> Result<RecordingKey, CryptoError> {
        let Header::V1 {
            master,
            wrap_nonce,
            wrapped,
            ..
        } = Header::parse(header)?
        else {
            return Err(CryptoError::NoKey);
        };
        let master = ring.get(master).ok_or(CryptoError::UnknownMasterKey)?;
        let plain = master
            .cipher()
            .decrypt(
                &wrap_nonce.into(),
                Payload {
                    msg: wrapped,
                    aad: &v1_wrap_aad(recording),
                },
            )
            .map_err(|_| CryptoError::Tampered(0))?;
        let data_key = DataKey(plain.try_into().map_err(|_| CryptoError::BadHeader)?);
        RecordingKey::with_data_key(data_key, recording, header)
    }

    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    pub fn header(&self) -> &[u8] {
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
        let sealed = Aes256Gcm::new(&self.data_key.0.into())
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
        Aes256Gcm::new(&self.data_key.0.into())
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

    /// The key of an object in the old format: its data key wrapped in the header.
    fn v1_key(master: &MasterKey, recording: Uuid) -> RecordingKey {
        let data_key = DataKey::random();
        let mut rng = rand::rng();
        let (mut wrap_nonce, mut prefix) = ([0u8; 12], [0u8; 7]);
        rng.fill_bytes(&mut wrap_nonce);
        rng.fill_bytes(&mut prefix);
        let wrapped = master
            .cipher()
            .encrypt(
                &wrap_nonce.into(),
                Payload {
                    msg: &data_key.0,
                    aad: &v1_wrap_aad(recording),
                },
            )
            .expect("wrap");
        let mut header = MAGIC.to_vec();
        header.push(VERSION_1);
        header.extend_from_slice(&master.id().0);
        header.extend_from_slice(&wrap_nonce);
        header.extend_from_slice(&wrapped);
        header.extend_from_slice(&prefix);
        assert_eq!(header.len(), V1_HEADER_LEN);
        RecordingKey::with_data_key(data_key, recording, &header).expect("v1 key")
    }

    #[test]
    fn a_new_header_carries_the_recording_but_no_key() {
        let id = Uuid::new_v4();
        let key = RecordingKey::generate(id);
        assert_eq!(key.header().len(), V2_HEADER_LEN);
        assert!(matches!(Header::parse(key.header()), Ok(Header::V2 { recording, .. }) if recording == id));
        assert!(
            !key.header().windows(32).any(|w| w == key.data_key().0),
            "the data key is not in the object"
        );
        assert_eq!(
            RecordingKey::open_v1(&KeyRing::new(master(), vec![]), id, key.header()).err(),
            Some(CryptoError::NoKey)
        );
        let again = RecordingKey::with_data_key(key.data_key().clone(), id, key.header()).expect("reopens");
        assert_eq!(again.header(), key.header());
        assert_eq!(
            RecordingKey::with_data_key(key.data_key().clone(), Uuid::new_v4(), key.header()).err(),
            Some(CryptoError::BadHeader),
            "another recording's object"
        );
        for bad in [&b"VYTLREC1\x03"[..], b"NOTAREC1\x02", b"VYTLX"] {
            assert_eq!(header_len(bad), Err(CryptoError::BadHeader));
        }
        assert_eq!(header_len(b"VYTL"), Ok(None), "not all arrived yet");
    }

    #[test]
    fn a_version_1_object_still_opens_with_its_master_key_from_the_ring() {
        let id = Uuid::new_v4();
        let key = v1_key(&master(), id);
        let stored = object(&key, &[b"old", b"format"], true);
        let other = MasterKey::parse(&"cd".repeat(32)).expect("key");
        let rotated = KeyRing::new(other.clone(), vec![master()]);
        let opened = RecordingKey::open_v1(&rotated, id, &stored).expect("opens through the retired key");
        assert_eq!(opened.data_key(), key.data_key());
        let (plain, _) = decrypt_all(&opened, &stored, true).expect("decrypts");
        assert_eq!(plain, b"oldformat");
        assert_eq!(
            RecordingKey::open_v1(&KeyRing::new(other, vec![]), id, &stored).err(),
            Some(CryptoError::UnknownMasterKey)
        );
        assert_eq!(
            RecordingKey::open_v1(&rotated, Uuid::new_v4(), &stored).err(),
            Some(CryptoError::Tampered(0)),
            "a header moved to another recording"
        );
        // Once its key is in the database, the header's copy is not needed.
        let from_table = RecordingKey::with_data_key(key.data_key().clone(), id, &stored).expect("key");
        assert_eq!(
            decrypt_all(&from_table, &stored, true).expect("decrypts").0,
            b"oldformat"
        );
    }

    #[test]
    fn a_closed_recording_decrypts_to_exactly_what_was_written() {
        let id = Uuid::new_v4();
        let key = RecordingKey::generate(id);
        let stored = object(&key, &[b"first cluster", b"second", b"cues"], true);
        let (plain, chunks) = decrypt_all(&key, &stored, true).expect("decrypts");
        assert_eq!(plain, b"first clustersecondcues");
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[2].end_ms, 3000);
        assert_eq!(chunks[1].plain_offset, 13);
        assert!(!stored.windows(6).any(|w| w == b"second"), "no plaintext at rest");
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        for key in [
            RecordingKey::generate(Uuid::new_v4()),
            v1_key(&master(), Uuid::new_v4()),
        ] {
            let stored = object(&key, &[b"alpha", b"beta"], true);
            for i in 0..stored.len() {
                let mut bad = stored.clone();
                bad[i] ^= 0x01;
                assert!(
                    decrypt_all(&key, &bad, true).is_err(),
                    "byte {i} flipped went unnoticed"
                );
            }
        }
    }

    #[test]
    fn a_truncated_recording_is_detected_but_its_complete_chunks_stay_readable() {
        let key = RecordingKey::generate(Uuid::new_v4());
        let closed = object(&key, &[b"one", b"two", b"three"], true);
        let last_frame = FRAME_LEN + 5 + TAG_LEN;
        let cut = &closed[..closed.len() - last_frame];
        assert_eq!(decrypt_all(&key, cut, true).err(), Some(CryptoError::Truncated));
        let (plain, _) = decrypt_all(&key, cut, false).expect("prefix readable");
        assert_eq!(plain, b"onetwo");
        // A crash in the middle of writing a chunk: the torn tail is ignored.
        let torn = &closed[..closed.len() - 3];
        let (plain, _) = decrypt_all(&key, torn, false).expect("prefix readable");
        assert_eq!(plain, b"onetwo");
        // A recording that crashed never wrote a final chunk.
        let crashed = object(&key, &[b"one", b"two"], false);
        assert_eq!(decrypt_all(&key, &crashed, true).err(), Some(CryptoError::Truncated));
    }

    #[test]
    fn chunks_cannot_be_reordered_dropped_or_moved_between_recordings() {
        let key = RecordingKey::generate(Uuid::new_v4());
        let a = key.seal_chunk(0, false, 1, b"a").expect("seal");
        let b = key.seal_chunk(1, false, 2, b"b").expect("seal");
        let c = key.seal_chunk(2, true, 3, b"c").expect("seal");
        let join = |header: &[u8], parts: &[&Vec<u8>]| {
            let mut out = header.to_vec();
            for p in parts {
                out.extend_from_slice(p);
            }
            out
        };
        let h = key.header();
        assert!(decrypt_all(&key, &join(h, &[&b, &a, &c]), true).is_err());
        assert!(decrypt_all(&key, &join(h, &[&a, &c]), true).is_err());
        assert!(decrypt_all(&key, &join(h, &[&a, &b, &c, &c]), true).is_err());
        let other_id = Uuid::new_v4();
        let other = RecordingKey::generate(other_id);
        assert_eq!(
            decrypt_all(&other, &join(h, &[&a, &b, &c]), true).err(),
            Some(CryptoError::BadHeader)
        );
        let same_key_other_header =
            RecordingKey::with_data_key(key.data_key().clone(), other_id, other.header()).expect("key");
        assert!(decrypt_all(&same_key_other_header, &join(other.header(), &[&a, &b, &c]), true).is_err());
    }

    #[test]
    fn a_lying_length_never_allocates_more_than_a_chunk() {
        let key = RecordingKey::generate(Uuid::new_v4());
        let mut stored = key.header().to_vec();
        stored.extend_from_slice(&u32::MAX.to_be_bytes());
        stored.extend_from_slice(&[0; 40]);
        assert!(decrypt_all(&key, &stored, false).is_err());
    }

    #[test]
    fn blobs_under_the_data_key_are_authenticated() {
        let id = Uuid::new_v4();
        let key = RecordingKey::generate(id);
        let sealed = key.seal_blob(id, b"webm head").expect("seal");
        let reopened = RecordingKey::with_data_key(key.data_key().clone(), id, key.header()).expect("open");
        assert_eq!(reopened.open_blob(id, &sealed).expect("open"), b"webm head");
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        assert!(reopened.open_blob(id, &bad).is_err());
        assert!(reopened.open_blob(Uuid::new_v4(), &sealed).is_err());
    }
}
