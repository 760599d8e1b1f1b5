//! Calls, their members, participants, transitions and consents.

use super::{Arg, Sql, flag};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use vytalcall_domain::access::Members;
use vytalcall_domain::call::{Call, CallStatus, CallType, Transition};
use vytalcall_domain::{CallId, Role, UserId};

/// A call as stored, with everyone who belongs to it.
#[derive(Clone, Debug)]
pub struct StoredCall {
    pub call: Call,
    pub members: Members,
    pub room_id: String,
    pub call_type: CallType,
    pub scheduled_at: Option<i64>,
    pub appointment_id: Option<String>,
    pub recording_enabled: bool,
    pub end_reason: Option<String>,
    pub version: i64,
}

/// The columns of `calls`, as a literal so queries can be built with `concat!`.
macro_rules! call_columns {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "room_id, ",
            $p,
            "patient_id, ",
            $p,
            "provider_id, ",
            $p,
            "initiated_by, ",
            $p,
            "call_type, ",
            $p,
            "status, ",
            $p,
            "scheduled_at, ",
            $p,
            "appointment_id, ",
            $p,
            "recording_enabled, ",
            $p,
            "created_at, ",
            $p,
            "ringing_at, ",
            $p,
            "answered_at, ",
            $p,
            "ended_at, ",
            $p,
            "end_reason, ",
            $p,
            "version"
        )
    };
}

fn corrupt(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} is not valid").into())
}

fn id<T: std::str::FromStr>(row: &AnyRow, col: &str) -> Result<T, sqlx::Error> {
    row.try_get::<String, _>(col)?.parse().map_err(|_| corrupt(col))
}

fn call_from_row(row: &AnyRow, providers: Vec<UserId>) -> Result<StoredCall, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let call_type: String = row.try_get("call_type")?;
    let patient: UserId = id(row, "patient_id")?;
    Ok(StoredCall {
        call: Call {
            id: id(row, "id")?,
            status: status.parse().map_err(|_| corrupt("status"))?,
            initiated_by: id(row, "initiated_by")?,
            created_at: row.try_get("created_at")?,
            ringing_at: row.try_get("ringing_at")?,
            answered_at: row.try_get("answered_at")?,
            ended_at: row.try_get("ended_at")?,
        },
        members: Members { patient, providers },
        room_id: row.try_get("room_id")?,
        call_type: call_type.parse().map_err(|_| corrupt("call_type"))?,
        scheduled_at: row.try_get("scheduled_at")?,
        appointment_id: row.try_get("appointment_id")?,
        recording_enabled: row.try_get::<i64, _>("recording_enabled")? != 0,
        end_reason: row.try_get("end_reason")?,
        version: row.try_get("version")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, c: &StoredCall) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO calls (",
        call_columns!(""),
        ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
    ))
    .bind(c.call.id.to_string())
    .bind(c.room_id.as_str())
    .bind(c.members.patient.to_string())
    .bind(c.members.providers.first().map(|p| p.to_string()).unwrap_or_default())
    .bind(c.call.initiated_by.to_string())
    .bind(c.call_type.as_str())
    .bind(c.call.status.as_str())
    .bind(c.scheduled_at)
    .bind(c.appointment_id.as_deref())
    .bind(flag(c.recording_enabled))
    .bind(c.call.created_at)
    .bind(c.call.ringing_at)
    .bind(c.call.answered_at)
    .bind(c.call.ended_at)
    .bind(c.end_reason.as_deref())
    .bind(c.version)
    .execute(&mut *conn)
    .await?;
    let members = std::iter::once((c.members.patient, Role::Patient))
        .chain(c.members.providers.iter().map(|p| (*p, Role::Provider)));
    for (user, role) in members {
        sqlx::query("INSERT INTO call_members (call_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(c.call.id.to_string())
            .bind(user.to_string())
            .bind(role.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn providers_of(pool: &AnyPool, call: CallId) -> Result<Vec<UserId>, sqlx::Error> {
    // The primary provider (calls.provider_id) comes first, then the others by id.
    let rows = sqlx::query(
        "SELECT m.user_id FROM call_members m JOIN calls c ON c.id = m.call_id \
         WHERE m.call_id = $1 AND m.role = 'provider' \
         ORDER BY CASE WHEN m.user_id = c.provider_id THEN 0 ELSE 1 END, m.user_id",
    )
    .bind(call.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| id(r, "user_id")).collect()
}

pub async fn load(pool: &AnyPool, call: CallId) -> Result<Option<StoredCall>, sqlx::Error> {
    let Some(row) = sqlx::query(concat!("SELECT ", call_columns!(""), " FROM calls WHERE id = $1"))
        .bind(call.to_string())
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let providers = providers_of(pool, call).await?;
    call_from_row(&row, providers).map(Some)
}

/// Writes `next` (the call after transition `t`) if nobody else changed the call since it
/// was loaded at `loaded_version`. Returns false on a lost race; the caller reloads and
/// decides again.
pub async fn save_transition(
    conn: &mut AnyConnection,
    next: &StoredCall,
    loaded_version: i64,
    t: &Transition,
    actor: Option<(UserId, Role)>,
) -> Result<bool, sqlx::Error> {
    let c = &next.call;
    let updated = sqlx::query(
        "UPDATE calls SET status = $1, ringing_at = $2, answered_at = $3, ended_at = $4, \
         end_reason = COALESCE($5, end_reason), version = version + 1 WHERE id = $6 AND version = $7",
    )
    .bind(c.status.as_str())
    .bind(c.ringing_at)
    .bind(c.answered_at)
    .bind(c.ended_at)
    .bind(if c.status.is_final() { t.reason.as_deref() } else { None })
    .bind(c.id.to_string())
    .bind(loaded_version)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    insert_transition(conn, c.id, Some(t.from), t.to, t.at, actor, t.reason.as_deref()).await?;
    Ok(true)
}

pub async fn insert_transition(
    conn: &mut AnyConnection,
    call: CallId,
    from: Option<CallStatus>,
    to: CallStatus,
    at: i64,
    actor: Option<(UserId, Role)>,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO call_transitions (call_id, from_status, to_status, at, actor_id, actor_role, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(call.to_string())
    .bind(from.map(|s| s.as_str()))
    .bind(to.as_str())
    .bind(at)
    .bind(actor.map(|(u, _)| u.to_string()))
    .bind(actor.map(|(_, r)| r.as_str()))
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn record_answer(
    conn: &mut AnyConnection,
    call: CallId,
    user: UserId,
    video: bool,
    audio: bool,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_members SET video_enabled = $1, audio_enabled = $2, answered_at = $3 \
         WHERE call_id = $4 AND user_id = $5",
    )
    .bind(flag(video))
    .bind(flag(audio))
    .bind(at)
    .bind(call.to_string())
    .bind(user.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub struct ConsentRecord {
    pub user: UserId,
    pub consented: bool,
    pub method: String,
    pub recorded_by: UserId,
    pub recorded_at: i64,
}

pub async fn insert_consent(conn: &mut AnyConnection, call: CallId, c: &ConsentRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO recording_consents (id, call_id, user_id, consented, method, recorded_by, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(call.to_string())
    .bind(c.user.to_string())
    .bind(flag(c.consented))
    .bind(c.method.as_str())
    .bind(c.recorded_by.to_string())
    .bind(c.recorded_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn consents(pool: &AnyPool, call: CallId) -> Result<Vec<ConsentRecord>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT user_id, consented, method, recorded_by, recorded_at FROM recording_consents \
         WHERE call_id = $1 ORDER BY recorded_at, id",
    )
    .bind(call.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ConsentRecord {
                user: id(r, "user_id")?,
                consented: r.try_get::<i64, _>("consented")? != 0,
                method: r.try_get("method")?,
                recorded_by: id(r, "recorded_by")?,
                recorded_at: r.try_get("recorded_at")?,
            })
        })
        .collect()
}

pub struct TransitionRecord {
    pub from: Option<String>,
    pub to: String,
    pub at: i64,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub reason: Option<String>,
}

pub async fn transitions(pool: &AnyPool, call: CallId) -> Result<Vec<TransitionRecord>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT from_status, to_status, at, actor_id, actor_role, reason FROM call_transitions \
         WHERE call_id = $1 ORDER BY id",
    )
    .bind(call.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TransitionRecord {
                from: r.try_get("from_status")?,
                to: r.try_get("to_status")?,
                at: r.try_get("at")?,
                actor_id: r.try_get("actor_id")?,
                actor_role: r.try_get("actor_role")?,
                reason: r.try_get("reason")?,
            })
        })
        .collect()
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

/// Filters of `GET /calls` and `GET /stats`, already parsed.
#[derive(Default, Clone, Debug)]
pub struct CallFilter {
    /// Only calls this user belongs to (everyone but admins).
    pub visible_to: Option<UserId>,
    pub patient: Option<UserId>,
    pub provider: Option<UserId>,
    pub status: Option<CallStatus>,
    pub created_from: Option<i64>,
    pub created_before: Option<i64>,
}

impl CallFilter {
    fn where_clause(&self, sql: &mut Sql) {
        sql.push(" WHERE 1 = 1");
        if let Some(u) = self.visible_to {
            sql.push(" AND c.id IN (SELECT call_id FROM call_members WHERE user_id = ")
                .bind(Arg::Text(u.to_string()))
                .push(")");
        }
        if let Some(p) = self.patient {
            sql.push(" AND c.patient_id = ").bind(Arg::Text(p.to_string()));
        }
        if let Some(p) = self.provider {
            sql.push(" AND c.id IN (SELECT call_id FROM call_members WHERE role = 'provider' AND user_id = ")
                .bind(Arg::Text(p.to_string()))
                .push(")");
        }
        if let Some(s) = self.status {
            sql.push(" AND c.status = ").bind(Arg::Text(s.as_str().into()));
        }
        if let Some(t) = self.created_from {
            sql.push(" AND c.created_at >= ").bind(Arg::Int(t));
        }
        if let Some(t) = self.created_before {
            sql.push(" AND c.created_at < ").bind(Arg::Int(t));
        }
    }
}

pub async fn list(
    pool: &AnyPool,
    filter: &CallFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<StoredCall>, i64), sqlx::Error> {
    let mut count = Sql::new("SELECT COUNT(*) AS n FROM calls c");
    filter.where_clause(&mut count);
    let total: i64 = count.query().fetch_one(pool).await?.try_get("n")?;

    let mut page = Sql::new(concat!("SELECT ", call_columns!("c."), " FROM calls c"));
    filter.where_clause(&mut page);
    page.push(" ORDER BY c.created_at DESC, c.id LIMIT ")
        .bind(Arg::Int(limit))
        .push(" OFFSET ")
        .bind(Arg::Int(offset));
    let rows = page.query().fetch_all(pool).await?;
    let mut calls = Vec::with_capacity(rows.len());
    for row in &rows {
        let call_id: CallId = id(row, "id")?;
        calls.push(call_from_row(row, providers_of(pool, call_id).await?)?);
    }
    Ok((calls, total))
}

/// Aggregates for `GET /stats`: per status, the number of calls and the seconds they lasted.
/// Sums are cast to BIGINT because PostgreSQL widens `SUM(bigint)` to `numeric`.
pub struct StatusAggregate {
    pub status: CallStatus,
    pub count: i64,
    pub answered: i64,
    pub rang: i64,
    pub connected_ms: i64,
    pub completed_with_duration: i64,
}

pub async fn aggregate(pool: &AnyPool, filter: &CallFilter) -> Result<Vec<StatusAggregate>, sqlx::Error> {
    let mut sql = Sql::new(
        "SELECT c.status AS status, COUNT(*) AS n, \
         CAST(SUM(CASE WHEN c.answered_at IS NULL THEN 0 ELSE 1 END) AS BIGINT) AS answered, \
         CAST(SUM(CASE WHEN c.ringing_at IS NULL AND c.answered_at IS NULL THEN 0 ELSE 1 END) AS BIGINT) AS rang, \
         CAST(SUM(CASE WHEN c.answered_at IS NOT NULL AND c.ended_at IS NOT NULL THEN c.ended_at - c.answered_at ELSE 0 END) AS BIGINT) AS connected_ms, \
         CAST(SUM(CASE WHEN c.answered_at IS NOT NULL AND c.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS with_duration \
         FROM calls c",
    );
    filter.where_clause(&mut sql);
    sql.push(" GROUP BY c.status");
    let rows = sql.query().fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            let status: String = r.try_get("status")?;
            Ok(StatusAggregate {
                status: status.parse().map_err(|_| corrupt("status"))?,
                count: r.try_get("n")?,
                answered: r.try_get::<Option<i64>, _>("answered")?.unwrap_or(0),
                rang: r.try_get::<Option<i64>, _>("rang")?.unwrap_or(0),
                connected_ms: r.try_get::<Option<i64>, _>("connected_ms")?.unwrap_or(0),
                completed_with_duration: r.try_get::<Option<i64>, _>("with_duration")?.unwrap_or(0),
            })
        })
        .collect()
}

/// Calls still ringing whose ring started at or before `rang_before`.
pub async fn ringing_since(pool: &AnyPool, rang_before: i64) -> Result<Vec<CallId>, sqlx::Error> {
    let rows = sqlx::query("SELECT id FROM calls WHERE status = 'ringing' AND ringing_at <= $1")
        .bind(rang_before)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| id(r, "id")).collect()
}

pub async fn count_by_status(pool: &AnyPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM calls GROUP BY status")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
        .collect()
}

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
        .map(|r| Ok((r.try_get("id")?, id(r, "call_id")?, id(r, "user_id")?)))
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
    pool: &AnyPool,
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
    .execute(pool)
    .await?;
    Ok(())
}

/// A connection-quality report in integer units.
pub struct QualitySample<'a> {
    pub call: CallId,
    pub user: UserId,
    pub device_id: &'a str,
    pub at: i64,
    pub bandwidth_kbps: i64,
    pub latency_ms: i64,
    pub packet_loss_milli: i64,
    pub jitter_ms: i64,
    pub video_resolution: Option<&'a str>,
    pub warning: Option<&'a str>,
}

/// Stores the sample unless this participant already has one newer than `interval_ms`;
/// true if stored. The check and the insert are one statement, so sampling holds across
/// server processes too.
pub async fn insert_quality_sample_if_due(
    pool: &AnyPool,
    s: &QualitySample<'_>,
    interval_ms: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO call_quality_samples (id, call_id, user_id, device_id, at, bandwidth_kbps, latency_ms, \
         packet_loss_milli, jitter_ms, video_resolution, warning) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE NOT EXISTS (\
         SELECT 1 FROM call_quality_samples WHERE call_id = $2 AND user_id = $3 AND at > $12)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(s.call.to_string())
    .bind(s.user.to_string())
    .bind(s.device_id)
    .bind(s.at)
    .bind(s.bandwidth_kbps)
    .bind(s.latency_ms)
    .bind(s.packet_loss_milli)
    .bind(s.jitter_ms)
    .bind(s.video_resolution)
    .bind(s.warning)
    .bind(s.at - interval_ms)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_quality_samples(pool: &AnyPool, call: CallId) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM call_quality_samples WHERE call_id = $1")
        .bind(call.to_string())
        .fetch_one(pool)
        .await?
        .try_get("n")
}
