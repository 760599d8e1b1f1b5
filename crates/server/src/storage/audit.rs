//! Appending to and reading the hash-chained, keyed audit log.
//!
//! Appends are serialised per database: on SQLite by the write lock (the first statement
//! bumps the one-row `audit_head`), on PostgreSQL by a transaction-scoped advisory lock, after
//! which the newest entry is read afresh (READ COMMITTED gives each statement a new snapshot).
//! PostgreSQL keeps no head row, so the serving role needs only INSERT and SELECT on the trail.

use super::{Arg, Backend, Db, Sql};
use futures_util::TryStreamExt;
use sqlx::{AnyConnection, Row};
use vytalcall_domain::audit::{AuditFact, ChainBreak, ChainVerifier, ChainedFact, GENESIS_HASH, Verified, chain_keyed};

/// The advisory lock id that serialises appends on PostgreSQL ("vcaudit1" in ASCII).
const APPEND_LOCK: i64 = 0x7663_6175_6469_7431;

/// Appends `fact` inside the caller's transaction, authenticated under the database's audit
/// key. The first statement takes the append lock, so concurrent appends, from this process
/// or another, line up one after the other and never fork the chain.
pub async fn append(db: &Db, conn: &mut AnyConnection, fact: AuditFact) -> Result<i64, sqlx::Error> {
    let key = db
        .audit_key
        .as_ref()
        .ok_or_else(|| sqlx::Error::Configuration("the audit key (AUDIT_KEY) is not loaded".into()))?;
    let (head_seq, head_hash) = match db.backend {
        Backend::Sqlite => {
            // One statement takes the write lock and reads the head (each statement is a
            // round trip to the driver's worker thread).
            let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *conn)
                .await?;
            (head.try_get::<i64, _>(0)? - 1, head.try_get(1)?)
        }
        Backend::Postgres => {
            sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                .bind(APPEND_LOCK)
                .execute(&mut *conn)
                .await?;
            newest(&mut *conn).await?
        }
    };
    let entry = chain_keyed(key, head_seq, &head_hash, fact);
    let f = &entry.fact;
    sqlx::query(
        "INSERT INTO audit_log (seq, occurred_at, actor_id, actor_role, device_id, client_addr, action, \
         call_id, recording_id, outcome, detail, prev_hash, hash, mac) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
    .bind(entry.mac.as_deref())
    .execute(&mut *conn)
    .await?;
    if db.backend == Backend::Sqlite {
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(entry.hash.as_str())
            .execute(&mut *conn)
            .await?;
    }
    // The webhook events this fact reports, in the same transaction (docs/webhooks.md).
    super::webhooks::enqueue(conn, &crate::webhooks::events::from_fact(&entry.fact)).await?;
    Ok(entry.seq)
}

/// `SELECT` of every audit column, for queries that append their own clauses.
pub const SELECT_ALL: &str = "SELECT seq, occurred_at, actor_id, actor_role, device_id, client_addr, action, \
                              call_id, recording_id, outcome, detail, prev_hash, hash, mac FROM audit_log";

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
        mac: row.try_get("mac")?,
    })
}

/// The newest entry's sequence number and hash (0 and the genesis hash for an empty trail).
pub async fn newest(conn: &mut AnyConnection) -> Result<(i64, String), sqlx::Error> {
    let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => Ok((r.try_get(0)?, r.try_get(1)?)),
        None => Ok((0, GENESIS_HASH.to_string())),
    }
}

/// The stored hash of entry `seq`, if there is one.
pub async fn hash_at(pool: &sqlx::AnyPool, seq: i64) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_optional(pool)
        .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// Feeds the whole trail, in order, to `verifier` from one consistent snapshot (one read
/// transaction; REPEATABLE READ on PostgreSQL), so appends by other nodes while it runs can
/// never look like a gap or a shortened chain. The outer error is the store's, the inner one
/// the chain's.
pub async fn verify_snapshot(
    db: &Db,
    mut verifier: ChainVerifier,
) -> Result<Result<Verified, ChainBreak>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    if db.backend == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    let head = match db.backend {
        Backend::Sqlite => {
            let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
            Some((row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?))
        }
        Backend::Postgres => None,
    };
    let mut broken = None;
    {
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT_ALL} ORDER BY seq"))).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            if let Err(b) = verifier.push(&from_row(&row)?) {
                broken = Some(b);
                break;
            }
        }
    }
    tx.rollback().await?;
    Ok(match broken {
        Some(b) => Err(b),
        None => verifier.conclude(head.as_ref().map(|(s, h)| (*s, h.as_str()))),
    })
}

/// One page of the trail, newest first, optionally about one call, and the matching total.
pub async fn page(
    pool: &sqlx::AnyPool,
    call: Option<String>,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<ChainedFact>), sqlx::Error> {
    let filter = |sql: &mut Sql| {
        if let Some(c) = &call {
            sql.push(" WHERE call_id = ").bind(Arg::Text(c.clone()));
        }
    };
    let mut count = Sql::new("SELECT COUNT(*) AS n FROM audit_log");
    filter(&mut count);
    let total: i64 = count.query().fetch_one(pool).await?.try_get("n")?;
    let mut page = Sql::new(SELECT_ALL);
    filter(&mut page);
    page.push(" ORDER BY seq DESC LIMIT ")
        .bind(Arg::Int(limit))
        .push(" OFFSET ")
        .bind(Arg::Int(offset));
    let rows = page.query().fetch_all(pool).await?;
    let entries = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok((total, entries))
}
