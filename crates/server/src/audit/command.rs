//! `vytalcall audit verify` and `vytalcall audit checkpoint`: what they print and how they
//! exit. Neither migrates or writes to the database, so an auditor can run them under a role
//! that may only read the trail.

use super::checkpoint::Checkpoints;
use super::{VerifyError, verify};
use crate::config::Settings;
use std::process::ExitCode;
use vytalcall_domain::audit::{Checkpoint, Verified};

/// `audit verify [--expect-head <checkpoint>]`: exit 0 only when the trail is intact.
pub async fn run_verify(settings: &Settings, expect_head: Option<&str>) -> anyhow::Result<ExitCode> {
    let db = crate::storage::Db::open_as_is(settings).await?;
    let key = db.audit_key.clone().ok_or(VerifyError::NoKey)?;
    let expected = match expect_head {
        None => None,
        Some(text) => match Checkpoint::parse_verified(text, &key) {
            Ok(c) => Some(c),
            Err(e) => {
                println!("BROKEN: the expected head given with --expect-head is not valid: {e}");
                return Ok(ExitCode::FAILURE);
            }
        },
    };
    Ok(match verify(&db, settings, expected).await {
        Ok(v) => {
            println!("{}", report(&v));
            ExitCode::SUCCESS
        }
        Err(VerifyError::Broken(b)) => {
            println!("BROKEN at entry {}: {b}", b.seq());
            ExitCode::FAILURE
        }
        Err(VerifyError::Checkpoint(e)) => {
            println!("BROKEN: {e}");
            ExitCode::FAILURE
        }
        Err(e) => return Err(e.into()),
    })
}

fn report(v: &Verified) -> String {
    let mut out = format!("OK: {} audit entries verified", v.entries);
    if v.legacy > 0 {
        out.push_str(&format!(
            "\n  {} unkeyed legacy entries (1-{}), written before the trail was keyed: their hash chain is checked, their content is vouched for by the first keyed entry",
            v.legacy, v.legacy
        ));
    }
    match &v.checkpoint {
        Some(c) if c.seq > 0 => out.push_str(&format!(
            "\n  checked against the checkpoint of entry {} taken at {}",
            c.seq,
            crate::calls::view::iso(c.at)
        )),
        _ => out.push_str("\n  warning: no checkpoint found, so entries removed from the end could not be detected"),
    }
    out
}

/// `audit checkpoint`: signs the current head, stores it like the server's own checkpoints,
/// and prints it for the operator to keep anywhere write-once.
pub async fn run_checkpoint(settings: &Settings) -> anyhow::Result<ExitCode> {
    let db = crate::storage::Db::open_as_is(settings).await?;
    let key = db.audit_key.clone().ok_or(VerifyError::NoKey)?;
    let checkpoint = Checkpoints::new(settings, key)?.write(&db).await?;
    println!("{checkpoint}");
    Ok(ExitCode::SUCCESS)
}
