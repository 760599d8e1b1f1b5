//! The master keys and the wrapping of recordings' data keys under them.
//!
//! Every recording has its own random data key. It is kept in the database
//! (`recording_keys`), wrapped (AES-256-GCM) under a master key, never next to the media: a
//! stored object alone, or any copy of it, cannot be decrypted, and deleting the key's row
//! destroys every copy at once (see `docs/recording.md`).
//!
//! Master keys are named by a [`KeyId`] derived from the key itself, so the configuration
//! needs no ids: `RECORDING_MASTER_KEY` is the current key, which wraps every new data key,
//! and `RECORDING_MASTER_KEYS_OLD` holds retired keys that still unwrap what was wrapped
//! under them until `vytalcall recording rewrap` has moved it to the current key.

use super::crypto::CryptoError;
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Binds a wrapped data key to its format, recording and master key.
const WRAP_LABEL: &[u8] = b"vytalcall recording key v2\0";
const NONCE_LEN: usize = 12;
/// A wrapped data key: nonce, the 32-byte key and its 16-byte tag.
const WRAPPED_LEN: usize = NONCE_LEN + 32 + 16;

/// A master key's public name: the first 8 bytes of SHA-256 over a fixed label and the key.
/// It reveals nothing about the key, and it is the fingerprint version-1 headers carry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub(super) [u8; 8]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl std::str::FromStr for KeyId {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<KeyId, CryptoError> {
        let bytes = hex::decode(s).map_err(|_| CryptoError::BadStoredKey)?;
        Ok(KeyId(bytes.try_into().map_err(|_| CryptoError::BadStoredKey)?))
    }
}

/// A key that wraps recordings' data keys. Never logged, never stored.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
    id: KeyId,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Parses 64 hex characters or standard base64 of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<MasterKey, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| CryptoError::BadMasterKey)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| CryptoError::BadMasterKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadMasterKey)?;
        let digest = Sha256::new_with_prefix(b"vytalcall recording master key\0")
            .chain_update(key)
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Ok(MasterKey { key, id: KeyId(id) })
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(super) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key.into())
    }
}

/// A recording's data key in memory. Never logged; at rest only ever wrapped.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(pub(super) [u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn random() -> DataKey {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        DataKey(key)
    }
}

/// A data key as the database keeps it: the master key's id and the sealed key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    pub master: KeyId,
    sealed: Vec<u8>,
}

impl WrappedKey {
    /// The database's text form of the sealed key (base64).
    pub fn sealed_text(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.sealed)
    }

    /// Reads a stored row back; anything malformed is [`CryptoError::BadStoredKey`].
    pub fn from_stored(master: &str, sealed: &str) -> Result<WrappedKey, CryptoError> {
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| CryptoError::BadStoredKey)?;
        if sealed.len() != WRAPPED_LEN {
            return Err(CryptoError::BadStoredKey);
        }
        Ok(WrappedKey {
            master: master.parse()?,
            sealed,
        })
    }
}

fn wrap_aad(recording: Uuid, master: KeyId) -> Vec<u8> {
    let mut aad = WRAP_LABEL.to_vec();
    aad.extend_from_slice(recording.as_bytes());
    aad.extend_from_slice(&master.0);
    aad
}

/// The current master key and the retired ones still accepted for unwrapping.
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: MasterKey,
    retired: Vec<MasterKey>,
}

impl KeyRing {
    /// Retired keys equal to the current one, or listed twice, are kept once.
    pub fn new(current: MasterKey, retired: Vec<MasterKey>) -> KeyRing {
        let mut kept: Vec<MasterKey> = Vec::new();
        for key in retired {
            if key.id != current.id && !kept.iter().any(|k| k.id == key.id) {
                kept.push(key);
            }
        }
        KeyRing { current, retired: kept }
    }

    pub fn current_id(&self) -> KeyId {
        self.current.id
    }

    /// The master key named `id`, if this ring holds it.
    pub fn get(&self, id: KeyId) -> Option<&MasterKey> {
        std::iter::once(&self.current).chain(&self.retired).find(|k| k.id == id)
    }

    /// Wraps `key` of `recording` under the current master key.
    pub fn wrap(&self, recording: Uuid, key: &DataKey) -> Result<WrappedKey, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let master = self.current.id;
        let sealed = self
            .current
            .cipher()
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: &key.0,
                    aad: &wrap_aad(recording, master),
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(WrappedKey { master, sealed: out })
    }

    /// Unwraps a stored data key. A master key the ring does not hold is
    /// [`CryptoError::UnknownMasterKey`]; a row altered or moved to another recording fails
    /// authentication.
    pub fn unwrap(&self, recording: Uuid, wrapped: &WrappedKey) -> Result<DataKey, CryptoError> {
        let master = self.get(wrapped.master).ok_or(CryptoError::UnknownMasterKey)?;
        let nonce: [u8; NONCE_LEN] = wrapped
            .sealed
            .get(..NONCE_LEN)
            .and_then(|n| n.try_into().ok())
            .ok_or(CryptoError::BadStoredKey)?;
        let plain = master
            .cipher()
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &wrapped.sealed[NONCE_LEN..],
                    aad: &wrap_aad(recording, wrapped.master),
                },
            )
            .map_err(|_| CryptoError::Tampered(0))?;
        Ok(DataKey(plain.try_into().map_err(|_| CryptoError::BadStoredKey)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: &str) -> MasterKey {
        MasterKey::parse(&byte.repeat(32)).expect("hex key")
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
        assert_eq!(format!("{:?}", key("ab")), "MasterKey(..)");
        assert_eq!(format!("{:?}", DataKey::random()), "DataKey(..)");
    }

    #[test]
    fn a_key_id_names_the_key_and_reads_back_from_its_text() {
        let (a, b) = (key("ab"), key("cd"));
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id(), key("ab").id(), "derived from the key alone");
        assert_eq!(a.id().to_string().len(), 16);
        assert_eq!(a.id().to_string().parse::<KeyId>(), Ok(a.id()));
        assert!("xyz".parse::<KeyId>().is_err());
    }

    #[test]
    fn a_wrapped_key_opens_under_any_key_of_the_ring_that_wrapped_it() {
        let id = Uuid::new_v4();
        let data = DataKey::random();
        let old = KeyRing::new(key("ab"), vec![]);
        let wrapped = old.wrap(id, &data).expect("wrap");
        assert_eq!(wrapped.master, key("ab").id());
        let stored = WrappedKey::from_stored(&wrapped.master.to_string(), &wrapped.sealed_text()).expect("reads");
        assert_eq!(stored, wrapped);

        let rotated = KeyRing::new(key("cd"), vec![key("ab"), key("cd"), key("ab")]);
        assert_eq!(rotated.retired.len(), 1, "duplicates and the current key are kept once");
        assert_eq!(rotated.unwrap(id, &wrapped), Ok(data.clone()));
        let rewrapped = rotated.wrap(id, &data).expect("wrap");
        assert_eq!(rewrapped.master, key("cd").id());

        let without_old = KeyRing::new(key("cd"), vec![]);
        assert_eq!(without_old.unwrap(id, &wrapped), Err(CryptoError::UnknownMasterKey));
        assert_eq!(without_old.unwrap(id, &rewrapped), Ok(data));
    }

    #[test]
    fn a_wrapped_key_moved_to_another_recording_or_altered_is_refused() {
        let ring = KeyRing::new(key("ab"), vec![]);
        let id = Uuid::new_v4();
        let wrapped = ring.wrap(id, &DataKey::random()).expect("wrap");
        assert_eq!(ring.unwrap(Uuid::new_v4(), &wrapped), Err(CryptoError::Tampered(0)));
        let mut bad = wrapped.clone();
        bad.sealed[20] ^= 1;
        assert_eq!(ring.unwrap(id, &bad), Err(CryptoError::Tampered(0)));
        for (master, sealed) in [
            ("zz", wrapped.sealed_text()),
            (&*wrapped.master.to_string(), "AAEC".into()),
        ] {
            assert_eq!(WrappedKey::from_stored(master, &sealed), Err(CryptoError::BadStoredKey));
        }
    }
}
