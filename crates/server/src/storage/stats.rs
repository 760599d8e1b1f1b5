//! Aggregates over the `calls` rows: the figures of `GET /stats` and the per-status counts
//! of the metrics endpoint.

use super::calls::CallFilter;
use super::{Sql, corrupt};
use sqlx::{AnyPool, Row};
use vytalcall_domain::call::CallStatus;

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

pub async fn count_by_status(pool: &AnyPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM calls GROUP BY status")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
        .collect()
}
