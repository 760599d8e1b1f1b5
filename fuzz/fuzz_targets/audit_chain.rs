//! The audit chain verifier: any sequence of stored rows verifies or names a break, never a
//! panic. Input: JSON array of `[seq, prev_hash, hash, action]`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vytalcall_domain::audit::{AuditFact, ChainVerifier, ChainedFact};

fuzz_target!(|data: &[u8]| {
    let Ok(rows) = serde_json::from_slice::<Vec<(i64, String, String, String)>>(data) else { return };
    let mut verifier = ChainVerifier::default();
    for (seq, prev_hash, hash, action) in &rows {
        let entry = ChainedFact {
            seq: *seq,
            fact: AuditFact { action: action.clone(), ..Default::default() },
            prev_hash: prev_hash.clone(),
            hash: hash.clone(),
            mac: None,
        };
        if verifier.push(&entry).is_err() {
            return;
        }
    }
    let _ = verifier.finish(rows.len() as i64, "");
});
