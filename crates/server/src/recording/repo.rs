//! The `call_recordings` rows and the reads the recording service needs from the call's
//! tables (who is present, the consent history).

use crate::storage::{flag, parse_id};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use vytalcall_domain::consent::{ConsentMethod, Statement};
use vytalcall_domain::{CallId, RecordingId, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// The peer is recording now.
    Recording,
    /// Stopped normally: the stored object ends with its final chunk.
    Completed,
    /// The server stopped while recording: every complete chunk is playable.
    Partial,
    /// Nothing playable was stored.
    Failed,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Recording => "recording",
            Status::Completed => "completed",
            Status::Partial => "partial",
            Status::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "recording" => Status::Recording,
            "completed" => Status::Completed,
            "partial" => Status::Partial,
            "failed" => Status::Failed,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct RecordingRow {
    pub id: RecordingId,
    pub call_id: CallId,
    pub status: Status,
    pub started_by: UserId,
    pub started_at: i64,
    pub stopped_by: Option<String>,
    pub stopped_at: Option<i64>,
    pub transcription: bool,
    pub storage_key: Option<String>,
    pub size_bytes: Option<i64>,
    pub stored_bytes: Option<i64>,
    pub duration_ms: Option<i64>,
    pub legal_hold: bool,
    pub media_head: Option<String>,
    pub participants: Vec<UserId>,
    pub consent_method: Option<ConsentMethod>,
    pub node_id: Option<String>,
}

const COLUMNS: &str = "SELECT id, call_id, status, started_by, started_at, stopped_by, stopped_at, transcription, \
     storage_key, size_bytes, stored_bytes, duration_ms, legal_hold, media_head, participants, consent_method, node_id \
     FROM call_recordings";

fn corrupt(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored recording {what} is not valid").into())
}

fn from_row(row: &AnyRow) -> Result<RecordingRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let participants: String = row.try_get("participants")?;
    Ok(RecordingRow {
        id: parse_id(row, "id")?,
        call_id: parse_id(row, "call_id")?,
        status: Status::parse(&status).ok_or_else(|| corrupt("status"))?,
        started_by: parse_id(row, "started_by")?,
        started_at: row.try_get("started_at")?,
        stopped_by: row.try_get("stopped_by")?,
        stopped_at: row.try_get("stopped_at")?,
        transcription: row.try_get::<i64, _>("transcription")? != 0,
        storage_key: row.try_get("storage_key")?,
        size_bytes: row.try_get("size_bytes")?,
        stored_bytes: row.try_get("stored_bytes")?,
        duration_ms: row.try_get("duration_ms")?,
        legal_hold: row.try_get::<i64, _>("legal_hold")? != 0,
        media_head: row.try_get("media_head")?,
        participants: serde_json::from_str(&participants).map_err(|_| corrupt("participants"))?,
        consent_method: row
            .try_get::<Option<String>, _>("consent_method")?
            .map(|m| m.parse().map_err(|_| corrupt("consent_method")))
            .transpose()?,
        node_id: row.try_get("node_id")?,
    })
}

/// Inserts a running recording; false if the call has one running already (the unique index
/// on running recordings: another start won the race).
pub async fn insert(conn: &mut AnyConnection, r: &RecordingRow) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO call_recordings (id, call_id, status, started_by, started_at, transcription, storage_key, \
         legal_hold, participants, consent_method, node_id) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10)",
    )
    .bind(r.id.to_string())
    .bind(r.call_id.to_string())
    .bind(r.status.as_str())
    .bind(r.started_by.to_string())
    .bind(r.started_at)
    .bind(flag(r.transcription))
    .bind(r.storage_key.as_deref())
    .bind(serde_json::to_string(&r.participants).unwrap_or_else(|_| "[]".into()))
    .bind(r.consent_method.map(ConsentMethod::as_str))
    .bind(r.node_id.as_deref())
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn load(pool: &AnyPool, id: RecordingId) -> Result<Option<RecordingRow>, sqlx::Error> {
    let mut sql = crate::storage::Sql::new(COLUMNS);
    sql.push(" WHERE id = ").bind(crate::storage::Arg::Text(id.to_string()));
    sql.query()
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn running_for_call(pool: &AnyPool, call: CallId) -> Result<Option<RecordingRow>, sqlx::Error> {
    let mut sql = crate::storage::Sql::new(COLUMNS);
    sql.push(" WHERE call_id = ")
        .bind(crate::storage::Arg::Text(call.to_string()))
        .push(" AND status = 'recording'");
    sql.query()
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn running_on_node(pool: &AnyPool, node: &str) -> Result<Vec<RecordingRow>, sqlx::Error> {
    let mut sql = crate::storage::Sql::new(COLUMNS);
    sql.push(" WHERE status = 'recording' AND (node_id = ")
        .bind(crate::storage::Arg::Text(node.to_string()))
        .push(" OR node_id IS NULL)");
    sql.query().fetch_all(pool).await?.iter().map(from_row).collect()
}

/// Recordings that started before `cutoff`, not on legal hold and not running.
pub async fn expired(pool: &AnyPool, cutoff: i64) -> Result<Vec<RecordingRow>, sqlx::Error> {
    let mut sql = crate::storage::Sql::new(COLUMNS);
    sql.push(" WHERE started_at <= ")
        .bind(crate::storage::Arg::Int(cutoff))
        .push(" AND legal_hold = 0 AND status <> 'recording' ORDER BY started_at");
    sql.query().fetch_all(pool).await?.iter().map(from_row).collect()
}

pub async fn set_head(pool: &AnyPool, id: RecordingId, head: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE call_recordings SET media_head = $1 WHERE id = $2")
        .bind(head)
        .bind(id.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

pub struct Closing<'a> {
    pub status: Status,
    pub stopped_by: Option<&'a str>,
    pub stopped_at: i64,
    pub size_bytes: Option<i64>,
    pub stored_bytes: Option<i64>,
    pub duration_ms: Option<i64>,
}

/// Closes a running recording; false if it was not running any more (someone else closed it).
pub async fn close(conn: &mut AnyConnection, id: RecordingId, c: &Closing<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_recordings SET status = $1, stopped_by = $2, stopped_at = $3, size_bytes = $4, \
         stored_bytes = $5, duration_ms = $6 WHERE id = $7 AND status = 'recording'",
    )
    .bind(c.status.as_str())
    .bind(c.stopped_by)
    .bind(c.stopped_at)
    .bind(c.size_bytes)
    .bind(c.stored_bytes)
    .bind(c.duration_ms)
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the outcome of writing after the row was already closed by a stop request.
pub async fn set_sizes(
    pool: &AnyPool,
    id: RecordingId,
    status: &Status,
    sizes: (Option<i64>, Option<i64>, Option<i64>),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_recordings SET status = $1, size_bytes = $2, stored_bytes = $3, duration_ms = $4 WHERE id = $5",
    )
    .bind(status.as_str())
    .bind(sizes.0)
    .bind(sizes.1)
    .bind(sizes.2)
    .bind(id.to_string())
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn set_legal_hold(conn: &mut AnyConnection, id: RecordingId, hold: bool) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE call_recordings SET legal_hold = $1 WHERE id = $2")
        .bind(flag(hold))
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut AnyConnection, id: RecordingId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM call_recordings WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The call's consent history, oldest first.
pub async fn consent_history(pool: &AnyPool, call: CallId) -> Result<Vec<Statement>, sqlx::Error> {
    Ok(crate::storage::consents::consents(pool, call)
        .await?
        .into_iter()
        .map(|c| Statement {
            user: c.user,
            consented: c.consented,
            at: c.recorded_at,
            by: c.recorded_by,
            method: c.method,
        })
        .collect())
}

/// Members who answered the call, and users with an open participant session.
pub async fn presence(pool: &AnyPool, call: CallId) -> Result<(Vec<UserId>, Vec<UserId>), sqlx::Error> {
    let answered = sqlx::query("SELECT user_id FROM call_members WHERE call_id = $1 AND answered_at IS NOT NULL")
        .bind(call.to_string())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| parse_id(r, "user_id"))
        .collect::<Result<Vec<UserId>, _>>()?;
    let open = sqlx::query("SELECT DISTINCT user_id FROM call_participants WHERE call_id = $1 AND left_at IS NULL")
        .bind(call.to_string())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| parse_id(r, "user_id"))
        .collect::<Result<Vec<UserId>, _>>()?;
    Ok((answered, open))
}
