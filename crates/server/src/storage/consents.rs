//! The `recording_consents` rows: every statement of consent or refusal to recording, kept
//! as a history (the domain's [`vytalcall_domain::consent`] decides what it means).

use super::{flag, parse_id};
use sqlx::{AnyConnection, AnyPool, Row};
use vytalcall_domain::{CallId, UserId};

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
                user: parse_id(r, "user_id")?,
                consented: r.try_get::<i64, _>("consented")? != 0,
                method: r.try_get("method")?,
                recorded_by: parse_id(r, "recorded_by")?,
                recorded_at: r.try_get("recorded_at")?,
            })
        })
        .collect()
}
