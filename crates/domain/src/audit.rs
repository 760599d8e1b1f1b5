//! The audit chain and what makes it hold against the database's own users.
//!
//! Each entry stores the SHA-256 of its own content together with the previous entry's hash,
//! so changing, inserting, removing or reordering any entry breaks every link after it. A
//! hash chain alone only helps while the attacker cannot recompute it, and anyone with the
//! database can; so each entry also carries an HMAC-SHA-256 of its hash under the audit key
//! ([`AuditKey`], `AUDIT_KEY`), which the database never sees. An entry rewritten without the
//! key no longer verifies. What the key cannot show is an entry that is simply gone from the
//! end (or a whole table emptied, or last week's database put back): for that the server
//! writes keyed [`Checkpoint`]s of the head (sequence number, hash, time) outside the
//! database, the signed tree heads of Certificate Transparency (RFC 6962) applied to a chain.
//!
//! Entries written before the trail was keyed have no authentication code. They are
//! "unkeyed legacy entries": they must form an unbroken prefix of the chain (an unkeyed
//! entry after a keyed one is a forgery), and their hash chain is still checked; the first
//! keyed entry links to the last of them, so its code vouches for all of them too.
//!
//! [`ChainVerifier`] walks the entries in order and names the first thing wrong. The module
//! is one cohesive thing (the entry format, its key, its checkpoints and their verifier),
//! which is why it runs past the usual file size.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The hash that the first entry links to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How far around a damaged entry the verifier looks for the position its content was
/// written for, to tell an entry moved elsewhere ("out of order") from an edited one.
const REORDER_WINDOW: i64 = 64;

/// One audit fact. Ids are kept as text so the chain covers exactly what is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFact {
    pub occurred_at: i64,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub device_id: Option<String>,
    pub client_addr: Option<String>,
    pub action: String,
    pub call_id: Option<String>,
    pub recording_id: Option<String>,
    pub outcome: String,
    /// Free-form context as JSON. Never PHI beyond ids, never a token or SDP.
    pub detail: String,
}

/// A fact as stored: its place in the chain, both hashes and its authentication code
/// (`None` for unkeyed legacy entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainedFact {
    pub seq: i64,
    pub fact: AuditFact,
    pub prev_hash: String,
    pub hash: String,
    pub mac: Option<String>,
}

/// The hash of `fact` at position `seq` after `prev_hash`. The content is encoded as a JSON
/// array in a fixed order, which is unambiguous (no field can bleed into the next).
pub fn link_hash(seq: i64, prev_hash: &str, fact: &AuditFact) -> String {
    let canonical = serde_json::json!([
        seq,
        prev_hash,
        fact.occurred_at,
        fact.actor_id,
        fact.actor_role,
        fact.device_id,
        fact.client_addr,
        fact.action,
        fact.call_id,
        fact.recording_id,
        fact.outcome,
        fact.detail,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Appends `fact` after the chain's current head, without a key (tests and legacy only).
pub fn chain(head_seq: i64, head_hash: &str, fact: AuditFact) -> ChainedFact {
    let seq = head_seq + 1;
    let hash = link_hash(seq, head_hash, &fact);
    ChainedFact {
        seq,
        fact,
        prev_hash: head_hash.to_string(),
        hash,
        mac: None,
    }
}

/// Appends `fact` after the chain's current head and authenticates it under `key`.
pub fn chain_keyed(key: &AuditKey, head_seq: i64, head_hash: &str, fact: AuditFact) -> ChainedFact {
    let mut entry = chain(head_seq, head_hash, fact);
    entry.mac = Some(key.entry_mac(&entry.hash));
    entry
}

/// The audit key: 32 secret bytes that stay with the servers and the auditor, never in the
/// database. Entry codes and checkpoint codes use distinct labels, so neither can stand in
/// for the other.
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected 32 bytes as 64 hex characters or base64")]
pub struct BadAuditKey;

const ENTRY_LABEL: &[u8] = b"vytalcall/audit/entry/v1\n";
const CHECKPOINT_LABEL: &[u8] = b"vytalcall/audit/checkpoint/v1\n";

impl AuditKey {
    pub fn from_bytes(bytes: [u8; 32]) -> AuditKey {
        AuditKey(bytes)
    }

    /// Parses 64 hex characters or base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<AuditKey, BadAuditKey> {
        use base64::Engine;
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .ok_or(BadAuditKey)?;
        Ok(AuditKey(bytes.try_into().map_err(|_| BadAuditKey)?))
    }

    fn hmac(&self, label: &[u8], message: &str) -> Hmac<Sha256> {
        // HMAC accepts a key of any length; 32 bytes cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(label);
        mac.update(message.as_bytes());
        mac
    }

    fn check(&self, label: &[u8], message: &str, code: &str) -> bool {
        hex::decode(code).is_ok_and(|code| self.hmac(label, message).verify_slice(&code).is_ok())
    }

    /// The code of the entry whose hash is `hash` (the hash already covers its sequence
    /// number, content and predecessor).
    pub fn entry_mac(&self, hash: &str) -> String {
        hex::encode(self.hmac(ENTRY_LABEL, hash).finalize().into_bytes())
    }

    pub fn entry_mac_is_valid(&self, hash: &str, code: &str) -> bool {
        self.check(ENTRY_LABEL, hash, code)
    }
}

/// A keyed statement "the chain's head was entry `seq` with hash `hash` at `at`" (Unix ms).
/// Its text form is one line: `vytalcall-audit-checkpoint/v1 seq=.. hash=.. at=.. mac=..`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: i64,
    pub mac: String,
}

const CHECKPOINT_TAG: &str = "vytalcall-audit-checkpoint/v1";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadCheckpoint {
    #[error("not a vytalcall audit checkpoint")]
    Malformed,
    #[error("the checkpoint's authentication code does not match (forged, or another AUDIT_KEY)")]
    Forged,
}

impl Checkpoint {
    fn message(seq: i64, hash: &str, at: i64) -> String {
        format!("{seq}\n{hash}\n{at}")
    }

    pub fn sign(key: &AuditKey, seq: i64, hash: &str, at: i64) -> Checkpoint {
        let mac = hex::encode(
            key.hmac(CHECKPOINT_LABEL, &Self::message(seq, hash, at))
                .finalize()
                .into_bytes(),
        );
        Checkpoint {
            seq,
            hash: hash.to_string(),
            at,
            mac,
        }
    }

    /// Parses the one-line text form and checks its code under `key`.
    pub fn parse_verified(text: &str, key: &AuditKey) -> Result<Checkpoint, BadCheckpoint> {
        let mut words = text.split_whitespace();
        if words.next() != Some(CHECKPOINT_TAG) {
            return Err(BadCheckpoint::Malformed);
        }
        let mut field = |name: &str| {
            words
                .next()
                .and_then(|w| w.strip_prefix(name))
                .and_then(|w| w.strip_prefix('='))
                .map(str::to_string)
                .ok_or(BadCheckpoint::Malformed)
        };
        let seq = field("seq")?.parse().map_err(|_| BadCheckpoint::Malformed)?;
        let hash = field("hash")?;
        let at = field("at")?.parse().map_err(|_| BadCheckpoint::Malformed)?;
        let mac = field("mac")?;
        if !key.check(CHECKPOINT_LABEL, &Self::message(seq, &hash, at), &mac) {
            return Err(BadCheckpoint::Forged);
        }
        Ok(Checkpoint { seq, hash, at, mac })
    }
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{CHECKPOINT_TAG} seq={} hash={} at={} mac={}",
            self.seq, self.hash, self.at, self.mac
        )
    }
}

/// The first thing wrong with a trail, named for the person reading `audit verify`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {expected} is missing (the next entry stored is {seq}): an entry was deleted")]
    Missing { seq: i64, expected: i64 },
    #[error("entry {seq} holds the entry written for position {belongs_at}: entries are out of order")]
    OutOfOrder { seq: i64, belongs_at: i64 },
    #[error("entry {seq}: content does not match its hash: the entry was altered")]
    BadHash { seq: i64 },
    #[error("entry {seq}: its authentication code does not match: the entry was altered or forged without AUDIT_KEY")]
    BadMac { seq: i64 },
    #[error(
        "entry {seq}: has no authentication code although entries before it do: it was altered or forged without AUDIT_KEY"
    )]
    Unauthenticated { seq: i64 },
    #[error("entry {seq}: does not link to the entry before it: an earlier entry was replaced or removed")]
    BadLink { seq: i64 },
    #[error(
        "the chain ends at entry {last_seq} but its head records entry {head_seq}: entries were removed from the end"
    )]
    Truncated { last_seq: i64, head_seq: i64 },
    #[error("the chain ends at entry {last_seq} but its head row says entry {head_seq}: the head row was changed")]
    HeadMismatch { last_seq: i64, head_seq: i64 },
    #[error(
        "the chain is shorter than its last checkpoint: it ends at entry {last_seq} but a checkpoint of {at_ms} (Unix ms) recorded entry {checkpoint_seq}: entries were removed from the end (the tail deleted, the table emptied or an older database restored)"
    )]
    ShorterThanCheckpoint {
        last_seq: i64,
        checkpoint_seq: i64,
        at_ms: i64,
    },
    #[error(
        "entry {seq} differs from the checkpoint of {at_ms} (Unix ms): the trail was rewritten from some point on, or an older database was restored and written to"
    )]
    DivergesFromCheckpoint { seq: i64, at_ms: i64 },
}

impl ChainBreak {
    /// The first entry the break concerns.
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::Missing { seq, .. }
            | ChainBreak::OutOfOrder { seq, .. }
            | ChainBreak::BadHash { seq }
            | ChainBreak::BadMac { seq }
            | ChainBreak::Unauthenticated { seq }
            | ChainBreak::BadLink { seq }
            | ChainBreak::DivergesFromCheckpoint { seq, .. } => *seq,
            ChainBreak::Truncated { last_seq, .. }
            | ChainBreak::HeadMismatch { last_seq, .. }
            | ChainBreak::ShorterThanCheckpoint { last_seq, .. } => *last_seq + 1,
        }
    }
}

/// What an intact trail showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub entries: i64,
    /// Unkeyed legacy entries at the start of the chain (`1..=legacy`).
    pub legacy: i64,
    /// The newest checkpoint the chain was checked against, if any was given.
    pub checkpoint: Option<Checkpoint>,
}

/// Checks entries one at a time, in `seq` order, so a caller can stream them from storage.
/// [`ChainVerifier::default`] checks the hash chain only; [`ChainVerifier::new`] also checks
/// each entry's code and the chain against a checkpoint.
pub struct ChainVerifier {
    key: Option<AuditKey>,
    checkpoints: Vec<Checkpoint>,
    expected_seq: i64,
    last_hash: String,
    keyed_seen: bool,
    legacy: i64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            key: None,
            checkpoints: Vec::new(),
            expected_seq: 1,
            last_hash: GENESIS_HASH.to_string(),
            keyed_seen: false,
            legacy: 0,
        }
    }
}

impl ChainVerifier {
    /// A verifier that checks codes under `key` and the chain against every checkpoint in
    /// `checkpoints` (each must be reached, and match the entry it names).
    pub fn new(key: AuditKey, checkpoints: impl IntoIterator<Item = Checkpoint>) -> ChainVerifier {
        let mut checkpoints: Vec<Checkpoint> = checkpoints.into_iter().collect();
        checkpoints.sort_by_key(|c| c.seq);
        ChainVerifier {
            key: Some(key),
            checkpoints,
            ..ChainVerifier::default()
        }
    }

    pub fn push(&mut self, entry: &ChainedFact) -> Result<(), ChainBreak> {
        let seq = entry.seq;
        if seq > self.expected_seq {
            return Err(ChainBreak::Missing {
                seq,
                expected: self.expected_seq,
            });
        }
        if seq < self.expected_seq {
            return Err(ChainBreak::OutOfOrder {
                seq: self.expected_seq,
                belongs_at: seq,
            });
        }
        if link_hash(seq, &entry.prev_hash, &entry.fact) != entry.hash {
            let window = (seq - REORDER_WINDOW).max(1)..=seq.saturating_add(REORDER_WINDOW);
            return Err(
                match window
                    .filter(|s| *s != seq)
                    .find(|s| link_hash(*s, &entry.prev_hash, &entry.fact) == entry.hash)
                {
                    Some(belongs_at) => ChainBreak::OutOfOrder { seq, belongs_at },
                    None => ChainBreak::BadHash { seq },
                },
            );
        }
        if let Some(key) = &self.key {
            match &entry.mac {
                Some(code) if key.entry_mac_is_valid(&entry.hash, code) => self.keyed_seen = true,
                Some(_) => return Err(ChainBreak::BadMac { seq }),
                None if self.keyed_seen => return Err(ChainBreak::Unauthenticated { seq }),
                None => self.legacy += 1,
            }
        } else {
            self.legacy += i64::from(entry.mac.is_none());
        }
        if entry.prev_hash != self.last_hash {
            return Err(ChainBreak::BadLink { seq });
        }
        if let Some(cp) = self.checkpoints.iter().find(|c| c.seq == seq && c.hash != entry.hash) {
            return Err(ChainBreak::DivergesFromCheckpoint { seq, at_ms: cp.at });
        }
        self.expected_seq += 1;
        self.last_hash.clone_from(&entry.hash);
        Ok(())
    }

    /// Compares the end of the walk with the separately stored head of the chain.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<i64, ChainBreak> {
        self.conclude(Some((head_seq, head_hash))).map(|v| v.entries)
    }

    /// Ends the walk: the chain must reach the checkpoint, and match the head row if the
    /// store keeps one.
    pub fn conclude(mut self, head: Option<(i64, &str)>) -> Result<Verified, ChainBreak> {
        let last_seq = self.expected_seq - 1;
        if let Some(cp) = self.checkpoints.last()
            && last_seq < cp.seq
        {
            return Err(ChainBreak::ShorterThanCheckpoint {
                last_seq,
                checkpoint_seq: cp.seq,
                at_ms: cp.at,
            });
        }
        if let Some((head_seq, head_hash)) = head {
            if head_seq > last_seq {
                return Err(ChainBreak::Truncated { last_seq, head_seq });
            }
            if head_seq != last_seq || (last_seq > 0 && self.last_hash != head_hash) {
                return Err(ChainBreak::HeadMismatch { last_seq, head_seq });
            }
        }
        Ok(Verified {
            entries: last_seq,
            legacy: self.legacy,
            checkpoint: self.checkpoints.pop(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(n: i64) -> AuditFact {
        AuditFact {
            occurred_at: n,
            actor_id: Some(format!("user-{n}")),
            action: "call.view".into(),
            outcome: "success".into(),
            detail: "{}".into(),
            ..Default::default()
        }
    }

    fn key() -> AuditKey {
        AuditKey::from_bytes([7; 32])
    }

    /// `legacy` unkeyed entries, then keyed ones up to `n`.
    fn build_mixed(n: i64, legacy: i64) -> Vec<ChainedFact> {
        let mut out: Vec<ChainedFact> = Vec::new();
        for i in 0..n {
            let (seq, hash) = out
                .last()
                .map_or((0, GENESIS_HASH.to_string()), |e| (e.seq, e.hash.clone()));
            out.push(if i < legacy {
                chain(seq, &hash, fact(i))
            } else {
                chain_keyed(&key(), seq, &hash, fact(i))
            });
        }
        out
    }

    fn build(n: i64) -> Vec<ChainedFact> {
        build_mixed(n, n)
    }

    fn verify(entries: &[ChainedFact], head: (i64, &str)) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.push(e)?;
        }
        v.finish(head.0, head.1)
    }

    fn verify_keyed(entries: &[ChainedFact], checkpoint: Option<Checkpoint>) -> Result<Verified, ChainBreak> {
        let mut v = ChainVerifier::new(key(), checkpoint.into_iter().chain([checkpoint_of(&[], 0)]));
        for e in entries {
            v.push(e)?;
        }
        v.conclude(None)
    }

    fn checkpoint_of(entries: &[ChainedFact], seq: i64) -> Checkpoint {
        let hash = entries
            .iter()
            .find(|e| e.seq == seq)
            .map_or(GENESIS_HASH, |e| e.hash.as_str());
        Checkpoint::sign(&key(), seq, hash, 1_000)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let entries = build(5);
        let last = entries.last().expect("five entries");
        assert_eq!(verify(&entries, (last.seq, &last.hash)), Ok(5));
        assert_eq!(verify(&[], (0, GENESIS_HASH)), Ok(0));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut entries = build(5);
        let head = (5, entries[4].hash.clone());
        entries[2].fact.outcome = "denied".into();
        assert_eq!(verify(&entries, (head.0, &head.1)), Err(ChainBreak::BadHash { seq: 3 }));
    }

    #[test]
    fn a_removed_middle_entry_is_missing_and_a_removed_last_entry_is_truncation() {
        let entries = build(5);
        let head = (5, entries[4].hash.clone());
        let mut middle = entries.clone();
        middle.remove(1);
        assert_eq!(
            verify(&middle, (head.0, &head.1)),
            Err(ChainBreak::Missing { seq: 3, expected: 2 })
        );
        let tail = &entries[..4];
        assert!(matches!(
            verify(tail, (head.0, &head.1)),
            Err(ChainBreak::Truncated { .. })
        ));
    }

    #[test]
    fn a_rehashed_forgery_still_breaks_the_next_link() {
        let mut entries = build(4);
        let head = (4, entries[3].hash.clone());
        entries[1].fact.actor_id = Some("someone-else".into());
        entries[1].hash = link_hash(2, &entries[1].prev_hash, &entries[1].fact);
        assert_eq!(verify(&entries, (head.0, &head.1)), Err(ChainBreak::BadLink { seq: 3 }));
    }

    #[test]
    fn a_keyed_chain_with_a_legacy_prefix_verifies_and_counts_the_legacy_entries() {
        let entries = build_mixed(6, 2);
        let cp = checkpoint_of(&entries, 6);
        let v = verify_keyed(&entries, Some(cp.clone())).expect("intact");
        assert_eq!((v.entries, v.legacy, v.checkpoint), (6, 2, Some(cp)));
    }

    #[test]
    fn a_suffix_rewritten_with_recomputed_hashes_fails_its_code() {
        let mut entries = build_mixed(6, 0);
        for i in 3..6 {
            entries[i].fact.outcome = "denied".into();
            let prev = entries[i - 1].hash.clone();
            entries[i] = chain(i as i64, &prev, entries[i].fact.clone());
        }
        assert_eq!(
            verify_keyed(&entries, None),
            Err(ChainBreak::Unauthenticated { seq: 4 })
        );
        entries[3].mac = Some(key().entry_mac(&entries[3].hash).replace('a', "b").replace('0', "1"));
        assert_eq!(verify_keyed(&entries, None), Err(ChainBreak::BadMac { seq: 4 }));
        let other = AuditKey::from_bytes([8; 32]);
        entries[3].mac = Some(other.entry_mac(&entries[3].hash));
        assert_eq!(verify_keyed(&entries, None), Err(ChainBreak::BadMac { seq: 4 }));
    }

    #[test]
    fn a_whole_chain_rewritten_as_legacy_diverges_from_its_checkpoint() {
        let entries = build_mixed(5, 0);
        let cp = checkpoint_of(&entries, 4);
        let mut forged = build(5);
        forged[0].fact.actor_id = Some("nobody".into());
        let forged: Vec<ChainedFact> = forged
            .iter()
            .scan((0, GENESIS_HASH.to_string()), |head, e| {
                let next = chain(head.0, &head.1, e.fact.clone());
                *head = (next.seq, next.hash.clone());
                Some(next)
            })
            .collect();
        assert_eq!(
            verify_keyed(&forged, Some(cp)),
            Err(ChainBreak::DivergesFromCheckpoint { seq: 4, at_ms: 1_000 })
        );
    }

    #[test]
    fn a_chain_shorter_than_its_checkpoint_is_named() {
        let entries = build_mixed(5, 0);
        let cp = checkpoint_of(&entries, 5);
        assert_eq!(
            verify_keyed(&entries[..3], Some(cp.clone())),
            Err(ChainBreak::ShorterThanCheckpoint {
                last_seq: 3,
                checkpoint_seq: 5,
                at_ms: 1_000
            })
        );
        assert!(matches!(
            verify_keyed(&[], Some(cp)),
            Err(ChainBreak::ShorterThanCheckpoint { last_seq: 0, .. })
        ));
    }

    #[test]
    fn swapped_entries_are_named_out_of_order() {
        let mut entries = build_mixed(5, 0);
        entries.swap(1, 2);
        entries[1].seq = 2;
        entries[2].seq = 3;
        assert_eq!(
            verify_keyed(&entries, None),
            Err(ChainBreak::OutOfOrder { seq: 2, belongs_at: 3 })
        );
    }

    #[test]
    fn checkpoints_round_trip_and_refuse_forgery() {
        let cp = Checkpoint::sign(&key(), 12, &"ab".repeat(32), 99);
        assert_eq!(Checkpoint::parse_verified(&cp.to_string(), &key()), Ok(cp.clone()));
        let moved = cp.to_string().replace("seq=12", "seq=11");
        assert_eq!(Checkpoint::parse_verified(&moved, &key()), Err(BadCheckpoint::Forged));
        let other = AuditKey::from_bytes([1; 32]);
        assert_eq!(
            Checkpoint::parse_verified(&cp.to_string(), &other),
            Err(BadCheckpoint::Forged)
        );
        assert_eq!(
            Checkpoint::parse_verified("hello", &key()),
            Err(BadCheckpoint::Malformed)
        );
        // An entry's code is not a checkpoint's code for the same text.
        assert_ne!(key().entry_mac(&cp.hash), cp.mac);
    }

    /// The CPU cost the key adds to an append (run by hand; figures in docs/audit-trail.md):
    /// `cargo test -p vytalcall-domain --release audit_key_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark; run by hand"]
    fn audit_key_cost_per_entry() {
        let n = 20_000;
        let started = std::time::Instant::now();
        let mut head = (0, GENESIS_HASH.to_string());
        for i in 0..n {
            let e = chain(head.0, &head.1, fact(i));
            head = (e.seq, e.hash);
        }
        let plain = started.elapsed().as_secs_f64() / n as f64 * 1e6;
        let started = std::time::Instant::now();
        let mut head = (0, GENESIS_HASH.to_string());
        for i in 0..n {
            let e = chain_keyed(&key(), head.0, &head.1, fact(i));
            head = (e.seq, e.hash);
        }
        let keyed = started.elapsed().as_secs_f64() / n as f64 * 1e6;
        println!("per entry: {plain:.1} µs hash chain only, {keyed:.1} µs with its HMAC");
        assert!(head.0 == n);
    }

    #[test]
    fn audit_keys_parse_from_hex_or_base64_and_nothing_else() {
        let hex_key = "11".repeat(32);
        assert!(AuditKey::parse(&hex_key).is_ok());
        assert!(AuditKey::parse("ERERERERERERERERERERERERERERERERERERERERERE=").is_ok());
        assert_eq!(AuditKey::parse("short").map(|_| ()), Err(BadAuditKey));
        assert_eq!(format!("{:?}", key()), "AuditKey(..)");
    }
}
