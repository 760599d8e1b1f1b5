//! The `call_participants` rows: one per device session in a call, opened when it joins,
//! closed when it leaves, with its current media state.

use super::{flag, parse_id};
use sqlx::{AnyConnection, AnyPool, Row};
use vytalcall_domain::{CallId, Role, UserId};

/// One device's session in a call, as the signaling layer opens it.
pub struct NewParticipant<'a> {
    pub call: CallId,
    pub user: UserId,
    pub role: Role,
    pub device_id: &'a str,
    pub joined_at: i64,
    pub video: bool,
    pub audio: bool,
}

/// Opens a participant row; returns its id.
pub async fn insert_participant(conn: &mut AnyConnection, p: &NewParticipant<'_>) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO call_participants (id, call_id, user_id, role, device_id, joined_at, \
         video_enabled, audio_enabled, screen_share_enabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
    )
    .bind(id.as_str())
    .bind(p.call.to_string())
    .bind(p.user.to_string())
    .bind(p.role.as_str())
    .bind(p.device_id)
    .bind(p.joined_at)
    .bind(flag(p.video))
    .bind(flag(p.audio))
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Closes a participant row unless it is closed already; true if it was open.
pub async fn close_participant(
    conn: &mut AnyConnection,
    participant: &str,
    at: i64,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE call_participants SET left_at = $1, leave_reason = $2 WHERE id = $3 AND left_at IS NULL")
            .bind(at)
            .bind(reason)
            .bind(participant)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Device rows still open in calls that are not over, of everyone or of one user in one
/// call: `(row id, call, user)`.
pub async fn open_participants(
    pool: &AnyPool,
    only: Option<(CallId, UserId)>,
) -> Result<Vec<(String, CallId, UserId)>, sqlx::Error> {
    const OPEN: &str = "SELECT p.id, p.call_id, p.user_id FROM call_participants p JOIN calls c ON c.id = p.call_id \
                        WHERE p.left_at IS NULL AND c.status IN ('ringing', 'active')";
    let rows = match only {
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!("{OPEN} ORDER BY p.joined_at")))
                .fetch_all(pool)
                .await?
        }
        Some((call, user)) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{OPEN} AND p.call_id = $1 AND p.user_id = $2"
            )))
            .bind(call.to_string())
            .bind(user.to_string())
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, parse_id(r, "call_id")?, parse_id(r, "user_id")?)))
        .collect()
}

/// Closes every open participant row of a call (the call is over).
pub async fn close_all_participants(pool: &AnyPool, call: CallId, at: i64, reason: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_participants SET left_at = $1, leave_reason = $2 WHERE call_id = $3 AND left_at IS NULL",
    )
    .bind(at)
    .bind(reason)
    .bind(call.to_string())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub async fn update_participant_media(
    conn: &mut AnyConnection,
    participant: &str,
    media: (bool, bool, bool),
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_participants SET video_enabled = $1, audio_enabled = $2, screen_share_enabled = $3, \
         media_updated_at = $4 WHERE id = $5",
    )
    .bind(flag(media.0))
    .bind(flag(media.1))
    .bind(flag(media.2))
    .bind(at)
    .bind(participant)
    .execute(conn)
    .await?;
    Ok(())
}

pub struct ParticipantRecord {
    pub user_id: String,
    pub role: String,
    pub device_id: Option<String>,
    pub joined_at: i64,
    pub left_at: Option<i64>,
    pub leave_reason: Option<String>,
    pub video_enabled: bool,
    pub audio_enabled: bool,
    pub screen_share_enabled: bool,
}

pub async fn participants(pool: &AnyPool, call: CallId) -> Result<Vec<ParticipantRecord>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT user_id, role, device_id, joined_at, left_at, leave_reason, video_enabled, audio_enabled, \
         screen_share_enabled FROM call_participants WHERE call_id = $1 ORDER BY joined_at, id",
    )
    .bind(call.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ParticipantRecord {
                user_id: r.try_get("user_id")?,
                role: r.try_get("role")?,
                device_id: r.try_get("device_id")?,
                joined_at: r.try_get("joined_at")?,
                left_at: r.try_get("left_at")?,
                leave_reason: r.try_get("leave_reason")?,
                video_enabled: r.try_get::<i64, _>("video_enabled")? != 0,
                audio_enabled: r.try_get::<i64, _>("audio_enabled")? != 0,
                screen_share_enabled: r.try_get::<i64, _>("screen_share_enabled")? != 0,
            })
        })
        .collect()
}

/// The people with a device in the call now (an open row), whatever the call's state.
pub async fn people_in_call(pool: &AnyPool, call: CallId) -> Result<Vec<UserId>, sqlx::Error> {
    sqlx::query("SELECT DISTINCT user_id FROM call_participants WHERE call_id = $1 AND left_at IS NULL")
        .bind(call.to_string())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| parse_id(r, "user_id"))
        .collect()
}
