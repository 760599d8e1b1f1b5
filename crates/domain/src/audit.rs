//! The audit chain. Each entry stores the SHA-256 of its own content together with the
//! previous entry's hash, so changing, inserting, removing or reordering any entry breaks
//! every link after it. [`ChainVerifier`] walks the entries in order and names the first
//! broken one.

use sha2::{Digest, Sha256};

/// The hash that the first entry links to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

/// A fact as stored: its place in the chain and both hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainedFact {
    pub seq: i64,
    pub fact: AuditFact,
    pub prev_hash: String,
    pub hash: String,
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

/// Appends `fact` after the chain's current head.
pub fn chain(head_seq: i64, head_hash: &str, fact: AuditFact) -> ChainedFact {
    let seq = head_seq + 1;
    let hash = link_hash(seq, head_hash, &fact);
    ChainedFact {
        seq,
        fact,
        prev_hash: head_hash.to_string(),
        hash,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq}: expected sequence number {expected} (an entry is missing or out of order)")]
    Gap { seq: i64, expected: i64 },
    #[error("entry {seq}: does not link to the entry before it")]
    BadLink { seq: i64 },
    #[error("entry {seq}: content does not match its hash (the entry was altered)")]
    BadHash { seq: i64 },
    #[error(
        "the chain ends at entry {last_seq} but its head records entry {head_seq} (entries were removed from the end)"
    )]
    Truncated { last_seq: i64, head_seq: i64 },
}

impl ChainBreak {
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::Gap { seq, .. } | ChainBreak::BadLink { seq } | ChainBreak::BadHash { seq } => *seq,
            ChainBreak::Truncated { last_seq, .. } => *last_seq + 1,
        }
    }
}

/// Checks entries one at a time, in `seq` order, so a caller can stream them from storage.
pub struct ChainVerifier {
    expected_seq: i64,
    last_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            expected_seq: 1,
            last_hash: GENESIS_HASH.to_string(),
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, entry: &ChainedFact) -> Result<(), ChainBreak> {
        if entry.seq != self.expected_seq {
            return Err(ChainBreak::Gap {
                seq: entry.seq,
                expected: self.expected_seq,
            });
        }
        if entry.prev_hash != self.last_hash {
            return Err(ChainBreak::BadLink { seq: entry.seq });
        }
        if link_hash(entry.seq, &entry.prev_hash, &entry.fact) != entry.hash {
            return Err(ChainBreak::BadHash { seq: entry.seq });
        }
        self.expected_seq += 1;
        self.last_hash.clone_from(&entry.hash);
        Ok(())
    }

    /// Compares the end of the walk with the separately stored head of the chain.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<i64, ChainBreak> {
        let last_seq = self.expected_seq - 1;
        if last_seq != head_seq || (last_seq > 0 && self.last_hash != head_hash) {
            return Err(ChainBreak::Truncated { last_seq, head_seq });
        }
        Ok(last_seq)
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

    fn build(n: i64) -> Vec<ChainedFact> {
        let mut out: Vec<ChainedFact> = Vec::new();
        for i in 0..n {
            let (seq, hash) = out
                .last()
                .map_or((0, GENESIS_HASH.to_string()), |e| (e.seq, e.hash.clone()));
            out.push(chain(seq, &hash, fact(i)));
        }
        out
    }

    fn verify(entries: &[ChainedFact], head: (i64, &str)) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.push(e)?;
        }
        v.finish(head.0, head.1)
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
    fn a_removed_middle_entry_is_a_gap_and_a_removed_last_entry_is_truncation() {
        let entries = build(5);
        let head = (5, entries[4].hash.clone());
        let mut middle = entries.clone();
        middle.remove(1);
        assert_eq!(
            verify(&middle, (head.0, &head.1)),
            Err(ChainBreak::Gap { seq: 3, expected: 2 })
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
}
