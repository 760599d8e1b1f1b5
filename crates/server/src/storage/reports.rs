//! The participant spans behind the interactive-time report.

use super::Db;
use sqlx::Row;
use vytalcall_domain::interactive_time::Span;
use vytalcall_domain::{Millis, Role};

/// Every device span that overlaps `[from, to)` in calls `provider` took part in (all calls
/// when `None`). A device still connected counts until `now`.
pub async fn participant_spans(
    db: &Db,
    from: Millis,
    to: Millis,
    now: Millis,
    provider: Option<vytalcall_domain::UserId>,
) -> Result<Vec<Span>, sqlx::Error> {
    let mut sql =
        super::Sql::new("SELECT call_id, user_id, role, joined_at, left_at FROM call_participants WHERE joined_at < ");
    sql.bind(super::Arg::Int(to))
        .push(" AND (left_at IS NULL OR left_at > ")
        .bind(super::Arg::Int(from))
        .push(")");
    if let Some(p) = provider {
        sql.push(" AND call_id IN (SELECT call_id FROM call_participants WHERE user_id = ")
            .bind(super::Arg::Text(p.to_string()))
            .push(" AND role = 'provider')");
    }
    let rows = sql.query().fetch_all(&db.pool).await?;
    let mut spans = Vec::with_capacity(rows.len());
    for row in rows {
        let parse = |column: &str| -> Result<uuid::Uuid, sqlx::Error> {
            let text: String = row.try_get(column)?;
            text.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))
        };
        let role: String = row.try_get("role")?;
        let Ok(role) = role.parse::<Role>() else { continue };
        let left_at: Option<i64> = row.try_get("left_at")?;
        spans.push(Span {
            call: vytalcall_domain::CallId(parse("call_id")?),
            person: vytalcall_domain::UserId(parse("user_id")?),
            role,
            from: row.try_get("joined_at")?,
            to: left_at.unwrap_or(now),
        });
    }
    Ok(spans)
}
