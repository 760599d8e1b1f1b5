//! Appending to and reading the hash-chained audit log.

use sqlx::{AnyConnection, Row};
use vytalcall_domain::audit::{AuditFact, ChainedFact, chain};

/// Appends `fact` inside the caller's transaction. The first statement locks the chain head
/// (a row lock on PostgreSQL, the write lock on SQLite), so concurrent appends, from this
/// process or another, line up one after the other and never fork the chain.
pub async fn append(conn: &mut AnyConnection, fact: AuditFact) -> Result<i64, sqlx::Error> {
    sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get(0)?;
    let prev_hash: String = head.try_get(1)?;
    let entry = chain(seq - 1, &prev_hash, fact);
    let f = &entry.fact;
    sqlx::query(
        "INSERT INTO audit_log (seq, occurred_at, actor_id, actor_role, device_id, client_addr, action, \
         call_id, recording_id, outcome, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(entry.seq)
    .bind(f.occurred_at)
    .bind(f.actor_id.as_deref())
    .bind(f.actor_role.as_deref())
    .bind(f.device_id.as_deref())
    .bind(f.client_addr.as_deref())
    .bind(f.action.as_str())
    .bind(f.call_id.as_deref())
    .bind(f.recording_id.as_deref())
    .bind(f.outcome.as_str())
    .bind(f.detail.as_str())
    .bind(entry.prev_hash.as_str())
    .bind(entry.hash.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(entry.hash.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(entry.seq)
}

/// `SELECT` of every audit column, for queries that append their own clauses.
pub const SELECT_ALL: &str = "SELECT seq, occurred_at, actor_id, actor_role, device_id, client_addr, action, \
                              call_id, recording_id, outcome, detail, prev_hash, hash FROM audit_log";

pub fn from_row(row: &sqlx::any::AnyRow) -> Result<ChainedFact, sqlx::Error> {
    Ok(ChainedFact {
        seq: row.try_get("seq")?,
        fact: AuditFact {
            occurred_at: row.try_get("occurred_at")?,
            actor_id: row.try_get("actor_id")?,
            actor_role: row.try_get("actor_role")?,
            device_id: row.try_get("device_id")?,
            client_addr: row.try_get("client_addr")?,
            action: row.try_get("action")?,
            call_id: row.try_get("call_id")?,
            recording_id: row.try_get("recording_id")?,
            outcome: row.try_get("outcome")?,
            detail: row.try_get("detail")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

pub async fn head(pool: &sqlx::AnyPool) -> Result<(i64, String), sqlx::Error> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(pool)
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}
