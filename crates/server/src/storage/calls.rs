//! The `calls` rows with their members (`call_members`) and their history of transitions
//! (`call_transitions`); the list of `GET /calls`. The call's other tables have their own
//! files: [`super::participants`], [`super::consents`], [`super::quality`], and the
//! aggregates in [`super::stats`].

use super::{Arg, Sql, corrupt, flag, parse_id};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use vytalcall_domain::access::Members;
use vytalcall_domain::call::{Call, CallStatus, CallType, Transition};
use vytalcall_domain::{CallId, Role, UserId};

// The calls service and its callers reach the call's other tables through this module;
// new code imports them from their own modules.
pub use super::consents::{ConsentRecord, consents};
pub use super::participants::{
    NewParticipant, ParticipantRecord, close_all_participants, close_participant, insert_participant,
    open_participants, participants, update_participant_media,
};
pub use super::quality::{QualitySample, insert_quality_sample_if_due};
pub use super::stats::{StatusAggregate, aggregate, count_by_status};

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
    /// Visitors wait until a provider admits them (`domain::waiting_room`).
    pub waiting_room: bool,
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
            "version, ",
            $p,
            "waiting_room"
        )
    };
}

fn call_from_row(row: &AnyRow, providers: Vec<UserId>) -> Result<StoredCall, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let call_type: String = row.try_get("call_type")?;
    let patient: UserId = parse_id(row, "patient_id")?;
    Ok(StoredCall {
        call: Call {
            id: parse_id(row, "id")?,
            status: status.parse().map_err(|_| corrupt("status"))?,
            initiated_by: parse_id(row, "initiated_by")?,
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
        waiting_room: row.try_get::<i64, _>("waiting_room")? != 0,
        end_reason: row.try_get("end_reason")?,
        version: row.try_get("version")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, c: &StoredCall) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO calls (",
        call_columns!(""),
        ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)"
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
    .bind(flag(c.waiting_room))
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
    rows.iter().map(|r| parse_id(r, "user_id")).collect()
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
    pub(super) fn where_clause(&self, sql: &mut Sql) {
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
        let call_id: CallId = parse_id(row, "id")?;
        calls.push(call_from_row(row, providers_of(pool, call_id).await?)?);
    }
    Ok((calls, total))
}

/// Calls still ringing whose ring started at or before `rang_before`.
pub async fn ringing_since(pool: &AnyPool, rang_before: i64) -> Result<Vec<CallId>, sqlx::Error> {
    let rows = sqlx::query("SELECT id FROM calls WHERE status = 'ringing' AND ringing_at <= $1")
        .bind(rang_before)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| parse_id(r, "id")).collect()
}
