//! The `recording_consents` rows: every statement of consent or refusal to recording, kept
//! as a history (the domain's [`vytalcall_domain::consent`] decides what it means).
//!
//! [`record`] is the one way a statement is written: the row and its `consent.record` audit
//! entry go into the caller's transaction together, whether the statement came with an
//! answer, with a provider's start request or from a late joiner.

use super::{flag, parse_id};
use crate::audit::{Action, Actor, Outcome};
use serde_json::json;
use sqlx::{AnyConnection, AnyPool, Row};
use vytalcall_domain::consent::ConsentMethod;
use vytalcall_domain::{CallId, RecordingId, UserId};

/// One statement: whose it is, what they said, how it was obtained, who recorded it, when.
pub struct ConsentRecord {
    pub user: UserId,
    pub consented: bool,
    pub method: ConsentMethod,
    pub recorded_by: UserId,
    pub recorded_at: i64,
}

/// Writes `statement` about `call` and its audit entry (by `actor`, naming `recording` when
/// one is starting or running) inside the caller's transaction.
pub async fn record(
    db: &super::Db,
    conn: &mut AnyConnection,
    actor: &Actor,
    call: CallId,
    recording: Option<RecordingId>,
    statement: &ConsentRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO recording_consents (id, call_id, user_id, consented, method, recorded_by, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(call.to_string())
    .bind(statement.user.to_string())
    .bind(flag(statement.consented))
    .bind(statement.method.as_str())
    .bind(statement.recorded_by.to_string())
    .bind(statement.recorded_at)
    .execute(&mut *conn)
    .await?;
    let detail = json!({
        "consented": statement.consented,
        "method": statement.method.as_str(),
        "subject": statement.user,
    });
    super::audit::append(
        db,
        conn,
        actor.fact(Action::ConsentRecord, Some(call), recording, Outcome::Success, detail),
    )
    .await?;
    Ok(())
}

/// The call's statements, oldest first.
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
                user: parse_id(r, "user_id")?,
                consented: r.try_get::<i64, _>("consented")? != 0,
                method: parse_id(r, "method")?,
                recorded_by: parse_id(r, "recorded_by")?,
                recorded_at: r.try_get("recorded_at")?,
            })
        })
        .collect()
}
