//! The webhook tables: endpoints, the outbox of events and one delivery per event and
//! endpoint (migration 0007). Events are written inside the caller's transaction
//! ([`enqueue`], called beside the audit entry of the fact); deliveries are claimed with a
//! compare-and-set lease so that with several nodes each one has a single sender.

use super::{Arg, Sql};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use vytalcall_domain::webhook::EventFilter;

use crate::webhooks::events::{NewEvent, rfc3339};

/// The id of the endpoint `WEBHOOK_URL` configures.
pub const ENV_ENDPOINT_ID: &str = "00000000-0000-4000-8000-00000000e4b0";

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub source: String,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
}

fn endpoint_from_row(row: &AnyRow) -> Result<Endpoint, sqlx::Error> {
    let events: String = row.try_get("events")?;
    Ok(Endpoint {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        events: serde_json::from_str(&events).map_err(|_| super::corrupt("events"))?,
        source: row.try_get("source")?,
        created_at: row.try_get("created_at")?,
        rotated_at: row.try_get("rotated_at")?,
    })
}

/// Writes `events` to the outbox with a delivery for each endpoint that asked for them, in
/// the caller's transaction.
pub async fn enqueue(conn: &mut AnyConnection, events: &[NewEvent]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let endpoints: Vec<(String, EventFilter)> =
        sqlx::query("SELECT id, events FROM webhook_endpoints WHERE deleted_at IS NULL")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| {
                let names: String = row.try_get("events")?;
                let names: Vec<String> = serde_json::from_str(&names).map_err(|_| super::corrupt("events"))?;
                let filter = EventFilter::parse(&names).map_err(|_| super::corrupt("events"))?;
                Ok((row.try_get("id")?, filter))
            })
            .collect::<Result<_, sqlx::Error>>()?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let now = crate::now_millis();
    for event in events {
        let wanted: Vec<&String> = endpoints
            .iter()
            .filter(|(_, f)| f.matches(event.kind))
            .map(|(id, _)| id)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let body = json!({
            "type": event.kind.as_str(),
            "timestamp": rfc3339(event.occurred_at),
            "data": event.data,
        })
        .to_string();
        let row = sqlx::query(
            "INSERT INTO webhook_events (id, type, call_id, occurred_at, body) VALUES ($1, $2, $3, $4, $5) RETURNING seq",
        )
        .bind(id.as_str())
        .bind(event.kind.as_str())
        .bind(event.call_id.as_deref())
        .bind(event.occurred_at)
        .bind(body.as_str())
        .fetch_one(&mut *conn)
        .await?;
        let seq: i64 = row.try_get(0)?;
        let order_key = event.call_id.clone().unwrap_or_else(|| id.clone());
        for endpoint in wanted {
            sqlx::query(
                "INSERT INTO webhook_deliveries (event_seq, endpoint_id, order_key, status, attempts, \
                 next_attempt_at, locked_until, created_at, window_start) \
                 VALUES ($1, $2, $3, 'pending', 0, $4, 0, $4, $5)",
            )
            .bind(seq)
            .bind(endpoint.as_str())
            .bind(order_key.as_str())
            .bind(now)
            .bind(event.occurred_at.min(now))
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

pub struct NewEndpoint<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub secret: &'a str,
    pub filter: &'a EventFilter,
    pub source: &'a str,
    pub created_by: Option<&'a str>,
    pub now: i64,
}

pub async fn insert_endpoint(conn: &mut AnyConnection, e: &NewEndpoint<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret, events, source, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.id)
    .bind(e.url)
    .bind(e.secret)
    .bind(json!(e.filter.names()).to_string())
    .bind(e.source)
    .bind(e.now)
    .bind(e.created_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The environment's endpoint (`WEBHOOK_URL`), made to match the settings at start-up. A node
/// started without `WEBHOOK_URL` leaves it as it is: in a rolling restart, or with nodes
/// configured apart, one node must not delete what the others were told to keep (an admin
/// removes it with `DELETE /webrtc/webhooks/{id}` once no node sets it).
pub async fn sync_env_endpoint(pool: &AnyPool, url: &str, secret: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret, events, source, created_at) \
         VALUES ($1, $2, $3, '[\"*\"]', 'env', $4) \
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, secret = excluded.secret, deleted_at = NULL",
    )
    .bind(ENV_ENDPOINT_ID)
    .bind(url)
    .bind(secret)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

const ENDPOINT_COLUMNS: &str = "SELECT id, url, events, source, created_at, rotated_at FROM webhook_endpoints";

pub async fn endpoints(pool: &AnyPool) -> Result<Vec<Endpoint>, sqlx::Error> {
    let mut sql = Sql::new(ENDPOINT_COLUMNS);
    sql.push(" WHERE deleted_at IS NULL ORDER BY created_at, id");
    sql.query()
        .fetch_all(pool)
        .await?
        .iter()
        .map(endpoint_from_row)
        .collect()
}

pub async fn endpoint(pool: &AnyPool, id: &str) -> Result<Option<Endpoint>, sqlx::Error> {
    let mut sql = Sql::new(ENDPOINT_COLUMNS);
    sql.push(" WHERE deleted_at IS NULL AND id = ")
        .bind(Arg::Text(id.to_string()));
    sql.query()
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(endpoint_from_row)
        .transpose()
}

/// Deletes an endpoint (its row and deliveries stay readable); its pending deliveries end
/// as failed. Returns whether it existed.
pub async fn delete_endpoint<'c, E>(conn: E, id: &str, now: i64) -> Result<bool, sqlx::Error>
where
    E: sqlx::Acquire<'c, Database = sqlx::Any>,
{
    let mut tx = conn.begin().await?;
    let gone = sqlx::query("UPDATE webhook_endpoints SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted', locked_until = 0, \
         owner = NULL WHERE endpoint_id = $1 AND status = 'pending'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(gone)
}

pub async fn rotate_secret(conn: &mut AnyConnection, id: &str, secret: &str, now: i64) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE webhook_endpoints SET secret = $1, rotated_at = $2 WHERE id = $3 AND deleted_at IS NULL")
            .bind(secret)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// One delivery as the admin API lists it.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub call_id: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
}

pub async fn deliveries(pool: &AnyPool, endpoint: &str, limit: i64) -> Result<Vec<Delivery>, sqlx::Error> {
    sqlx::query(
        "SELECT d.id, ev.id AS event_id, ev.type, ev.call_id, d.status, d.attempts, d.next_attempt_at, \
         d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at \
         FROM webhook_deliveries d JOIN webhook_events ev ON ev.seq = d.event_seq \
         WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2",
    )
    .bind(endpoint)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        let status: String = row.try_get("status")?;
        let next: i64 = row.try_get("next_attempt_at")?;
        Ok(Delivery {
            id: row.try_get("id")?,
            event_id: row.try_get("event_id")?,
            event_type: row.try_get("type")?,
            call_id: row.try_get("call_id")?,
            next_attempt_at: (status == "pending").then_some(next),
            status,
            attempts: row.try_get("attempts")?,
            last_attempt_at: row.try_get("last_attempt_at")?,
            last_status: row.try_get("last_status")?,
            last_error: row.try_get("last_error")?,
            delivered_at: row.try_get("delivered_at")?,
            created_at: row.try_get("created_at")?,
        })
    })
    .collect()
}

/// Sends a delivery of the endpoint again, as soon as a worker gets to it, with the same
/// `webhook-id` and body, and a fresh retry window. Returns whether it exists.
pub async fn redeliver(conn: &mut AnyConnection, endpoint: &str, delivery: i64, now: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, window_start = $1, \
         locked_until = 0, owner = NULL, delivered_at = NULL WHERE id = $2 AND endpoint_id = $3 \
         AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = $3 AND e.deleted_at IS NULL)",
    )
    .bind(now)
    .bind(delivery)
    .bind(endpoint)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Deliveries due now whose call has no earlier delivery to the same endpoint still
/// pending, oldest event first.
pub async fn due(pool: &AnyPool, now: i64, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND d.locked_until <= $1 AND e.deleted_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id \
           AND p.order_key = d.order_key AND p.status = 'pending' AND p.event_seq < d.event_seq) \
         ORDER BY d.event_seq LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| r.try_get::<i64, _>(0)).collect()
}

/// Takes the lease of a delivery until `until`: a compare-and-set, so of several nodes that
/// saw it due exactly one wins.
pub async fn claim(pool: &AnyPool, id: i64, owner: &str, now: i64, until: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE webhook_deliveries SET owner = $1, locked_until = $2 \
         WHERE id = $3 AND status = 'pending' AND locked_until <= $4 AND next_attempt_at <= $4",
    )
    .bind(owner)
    .bind(until)
    .bind(id)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// What a claimed delivery sends.
pub struct Outgoing {
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub body: String,
    pub attempts: i64,
    pub window_start: i64,
}

pub async fn outgoing(pool: &AnyPool, id: i64) -> Result<Option<Outgoing>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT e.url, e.secret, ev.id AS event_id, ev.body, d.attempts, d.window_start \
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         JOIN webhook_events ev ON ev.seq = d.event_seq WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(Outgoing {
            url: row.try_get("url")?,
            secret: row.try_get("secret")?,
            event_id: row.try_get("event_id")?,
            body: row.try_get("body")?,
            attempts: row.try_get("attempts")?,
            window_start: row.try_get("window_start")?,
        })
    })
    .transpose()
}

/// How an attempt ended.
pub enum Attempted<'a> {
    Delivered {
        status: u16,
    },
    Retry {
        status: Option<u16>,
        error: &'a str,
        at: i64,
    },
    Failed {
        status: Option<u16>,
        error: &'a str,
    },
}

/// Records an attempt and releases the lease; only the lease's owner can (a node whose lease
/// ran out and was taken over records nothing).
pub async fn attempted(
    pool: &AnyPool,
    id: i64,
    owner: &str,
    now: i64,
    outcome: Attempted<'_>,
) -> Result<bool, sqlx::Error> {
    let (status, http, error, next, delivered_at) = match outcome {
        Attempted::Delivered { status } => ("delivered", Some(status), None, now, Some(now)),
        Attempted::Retry { status, error, at } => ("pending", status, Some(error), at, None),
        Attempted::Failed { status, error } => ("failed", status, Some(error), now, None),
    };
    Ok(sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_attempt_at = $2, \
         last_status = $3, last_error = $4, next_attempt_at = $5, delivered_at = $6, locked_until = 0, owner = NULL \
         WHERE id = $7 AND owner = $8",
    )
    .bind(status)
    .bind(now)
    .bind(http.map(i64::from))
    .bind(error)
    .bind(next)
    .bind(delivered_at)
    .bind(id)
    .bind(owner)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Forgets deliveries that ended (delivered or failed) before `before`, and the events left
/// without any delivery. Pending deliveries are never touched.
pub async fn prune(pool: &AnyPool, before: i64) -> Result<u64, sqlx::Error> {
    let gone = sqlx::query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected();
    sqlx::query(
        "DELETE FROM webhook_events WHERE occurred_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = webhook_events.seq)",
    )
    .bind(before)
    .execute(pool)
    .await?;
    Ok(gone)
}
