//! The admins' operations on webhook endpoints. Each change is committed together with its
//! audit entry, and each read is audited; who may call them, and the shape of the answers,
//! are `http::webhooks`'s.

use super::target;
use crate::audit::{self, Action, Actor, Outcome};
use crate::storage::Db;
use crate::storage::webhooks::{self as store, Delivery, ENV_ENDPOINT_ID, Endpoint};
use serde_json::{Value, json};
use sqlx::{Any, Transaction};
use vytalcall_domain::webhook::{EventFilter, Secret};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such webhook endpoint")]
    NoSuchEndpoint,
    #[error("no such delivery of this webhook endpoint")]
    NoSuchDelivery,
    #[error("this endpoint is WEBHOOK_URL's: change its secret in the servers' environment (WEBHOOK_SECRET)")]
    FromEnvironment,
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn fresh_secret() -> String {
    Secret::from_key(rand::random::<[u8; 32]>()).expose()
}

/// Commits `tx` with the audit entry of what it did.
async fn commit_audited(
    db: &Db,
    mut tx: Transaction<'_, Any>,
    actor: &Actor,
    action: Action,
    detail: Value,
) -> Result<(), AdminError> {
    let fact = actor.fact(action, None, None, Outcome::Success, detail);
    crate::storage::audit::append(db, &mut tx, fact).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds an endpoint for `url` (checked: scheme, and where its host resolves) receiving
/// `events` (every event when empty); answers it with its secret.
pub async fn create(
    db: &Db,
    actor: &Actor,
    url: &str,
    events: &[String],
    allow_private: bool,
) -> Result<(Endpoint, String), AdminError> {
    let url = target::parse_url(url.trim()).map_err(|why| invalid("url", format!("url {why}")))?;
    let filter = EventFilter::parse(events).map_err(|e| invalid(format!("events[{}]", e.index), e.to_string()))?;
    target::resolve(&url, allow_private)
        .await
        .map_err(|e| invalid("url", format!("url is refused: {e}")))?;
    let endpoint = Endpoint {
        id: uuid::Uuid::new_v4().to_string(),
        url: url.to_string(),
        events: filter.names().into_iter().map(String::from).collect(),
        source: "api".into(),
        created_at: crate::now_millis(),
        rotated_at: None,
    };
    let secret = fresh_secret();
    let mut tx = db.pool.begin().await?;
    store::insert_endpoint(
        &mut tx,
        &store::NewEndpoint {
            id: &endpoint.id,
            url: &endpoint.url,
            secret: &secret,
            filter: &filter,
            source: &endpoint.source,
            created_by: actor.caller.map(|c| c.user.to_string()).as_deref(),
            now: endpoint.created_at,
        },
    )
    .await?;
    let detail = json!({ "endpointId": endpoint.id, "events": endpoint.events });
    commit_audited(db, tx, actor, Action::WebhookCreate, detail).await?;
    Ok((endpoint, secret))
}

/// Every endpoint (never their secrets).
pub async fn list(db: &Db, actor: &Actor) -> Result<Vec<Endpoint>, AdminError> {
    let endpoints = store::endpoints(&db.pool).await?;
    let detail = json!({ "returned": endpoints.len() });
    audit::record(
        db,
        actor.fact(Action::WebhookList, None, None, Outcome::Success, detail),
    )
    .await?;
    Ok(endpoints)
}

/// Removes an endpoint; its pending deliveries end as failed.
pub async fn delete(db: &Db, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let mut tx = db.pool.begin().await?;
    if !store::delete_endpoint(&mut *tx, id, crate::now_millis()).await? {
        return Err(AdminError::NoSuchEndpoint);
    }
    commit_audited(db, tx, actor, Action::WebhookDelete, json!({ "endpointId": id })).await
}

/// Gives an endpoint a new secret; answers the endpoint with it.
pub async fn rotate_secret(db: &Db, actor: &Actor, id: &str) -> Result<(Endpoint, String), AdminError> {
    if id == ENV_ENDPOINT_ID {
        return Err(AdminError::FromEnvironment);
    }
    let secret = fresh_secret();
    let mut tx = db.pool.begin().await?;
    if !store::rotate_secret(&mut tx, id, &secret, crate::now_millis()).await? {
        return Err(AdminError::NoSuchEndpoint);
    }
    commit_audited(db, tx, actor, Action::WebhookRotate, json!({ "endpointId": id })).await?;
    let endpoint = store::endpoint(&db.pool, id).await?.ok_or(AdminError::NoSuchEndpoint)?;
    Ok((endpoint, secret))
}

/// The endpoint's `limit` most recent deliveries, newest first.
pub async fn deliveries(db: &Db, actor: &Actor, id: &str, limit: i64) -> Result<Vec<Delivery>, AdminError> {
    if store::endpoint(&db.pool, id).await?.is_none() {
        return Err(AdminError::NoSuchEndpoint);
    }
    let deliveries = store::deliveries(&db.pool, id, limit).await?;
    let detail = json!({ "endpointId": id, "returned": deliveries.len() });
    audit::record(
        db,
        actor.fact(Action::WebhookDeliveries, None, None, Outcome::Success, detail),
    )
    .await?;
    Ok(deliveries)
}

/// Queues one delivery again (same `webhook-id` and body), with a fresh retry window.
pub async fn redeliver(db: &Db, actor: &Actor, id: &str, delivery: i64) -> Result<(), AdminError> {
    let mut tx = db.pool.begin().await?;
    if !store::redeliver(&mut tx, id, delivery, crate::now_millis()).await? {
        return Err(AdminError::NoSuchDelivery);
    }
    let detail = json!({ "endpointId": id, "deliveryId": delivery });
    commit_audited(db, tx, actor, Action::WebhookRedeliver, detail).await
}
