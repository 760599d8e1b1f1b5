//! `/webrtc/webhooks`: the admins' webhook endpoints (docs/webhooks.md). An endpoint is a URL
//! and the events it wants; its `whsec_…` secret is shown once, when it is created or
//! rotated. Each endpoint's recent deliveries can be read (status, attempts, last error) and
//! one sent again. Everyone else gets 403; every action, refused or done, is audited.

use super::error::ApiError;
use super::extract::{ValidJson, ValidQuery};
use super::problems::{BadRequest, Invalid, NotAnAdmin, NotFound, Unauthorized};
use crate::audit::{self, Action, Outcome};
use crate::auth::AuthUser;
use crate::state::AppState;
use crate::storage::webhooks::{self as store, ENV_ENDPOINT_ID};
use crate::webhooks::events::rfc3339;
use crate::webhooks::target;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vytalcall_domain::access;
use vytalcall_domain::webhook::{EventFilter, Secret};

/// The body of `POST /webhooks`.
#[derive(Deserialize, ToSchema)]
pub struct CreateWebhookBody {
    /// Where deliveries are POSTed: http or https; its host must resolve to public addresses
    /// only, unless the server runs with `WEBHOOK_ALLOW_PRIVATE=true`.
    #[schema(example = "https://rpm.example.com/hooks/vytalcall")]
    pub url: String,
    /// Event types to receive (`call.created`, ...), or `["*"]`; default every event.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// An endpoint as listed (never its secret).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointView {
    #[schema(format = Uuid)]
    pub id: String,
    pub url: String,
    /// The event types it receives; `["*"]` for all.
    pub events: Vec<String>,
    /// `api` (created here) or `env` (`WEBHOOK_URL`; changed only through the environment).
    #[schema(example = "api")]
    pub source: String,
    pub created_at: String,
    pub secret_rotated_at: Option<String>,
}

/// A created endpoint, or one whose secret was rotated: the only time the secret is shown.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointView,
    /// `whsec_` + base64: the key receivers verify `webhook-signature` with.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEndpoints {
    pub endpoints: Vec<WebhookEndpointView>,
}

/// One event sent (or to be sent) to one endpoint.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliveryView {
    pub id: i64,
    /// The `webhook-id` every attempt carries.
    #[schema(example = "msg_2b1f0c4e9d8a4f7e8c1b2a3d4e5f6a7b")]
    pub event_id: String,
    #[schema(example = "call.created")]
    pub event_type: String,
    pub call_id: Option<String>,
    /// `pending` (to be sent or retried), `delivered` or `failed` (given up).
    #[schema(example = "delivered")]
    pub status: String,
    pub attempts: i64,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// The receiver's HTTP status at the last attempt, if it answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookDeliveries {
    /// Newest first.
    pub deliveries: Vec<WebhookDeliveryView>,
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// 1 to 100; default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

fn view(e: store::Endpoint) -> WebhookEndpointView {
    WebhookEndpointView {
        id: e.id,
        url: e.url,
        events: e.events,
        source: e.source,
        created_at: rfc3339(e.created_at),
        secret_rotated_at: e.rotated_at.map(rfc3339),
    }
}

/// Lets admins through; anyone else is refused 403, audited as denied.
async fn admin_only(state: &AppState, user: &AuthUser, action: Action) -> Result<(), ApiError> {
    if let Err(denied) = access::may_manage_webhooks(user.caller()) {
        let fact = user.actor.fact(
            action,
            None,
            None,
            Outcome::Denied,
            json!({ "reason": denied.to_string() }),
        );
        audit::record(&state.db, fact).await?;
        return Err(ApiError::forbidden(denied.to_string()));
    }
    Ok(())
}

fn endpoint_id(raw: &str) -> Result<String, ApiError> {
    raw.parse::<uuid::Uuid>()
        .map(|u| u.to_string())
        .map_err(|_| ApiError::bad_request("id", "id must be a UUID"))
}

fn fresh_secret() -> Secret {
    Secret::from_key(rand::random::<[u8; 32]>())
}

fn from_environment() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "configured-by-environment",
        "this endpoint is WEBHOOK_URL's: change its secret in the servers' environment (WEBHOOK_SECRET)",
    )
}

/// Adds an endpoint; the answer holds its secret, which is never shown again.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = CreateWebhookBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = WebhookEndpointWithSecret),
        BadRequest, Unauthorized, NotAnAdmin, Invalid,
    ))]
pub async fn create_webhook(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<CreateWebhookBody>,
) -> Result<(StatusCode, Json<WebhookEndpointWithSecret>), ApiError> {
    admin_only(&state, &user, Action::WebhookCreate).await?;
    let url = target::parse_url(body.url.trim()).map_err(|why| ApiError::invalid("url", format!("url {why}")))?;
    let filter = EventFilter::parse(body.events.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::invalid(format!("events[{}]", e.index), e.to_string()))?;
    target::resolve(&url, state.settings.webhooks.allow_private)
        .await
        .map_err(|e| ApiError::invalid("url", format!("url is refused: {e}")))?;
    let id = uuid::Uuid::new_v4().to_string();
    let secret = fresh_secret().expose();
    let now = crate::now_millis();
    let mut tx = state.db.pool.begin().await?;
    store::insert_endpoint(
        &mut tx,
        &store::NewEndpoint {
            id: &id,
            url: url.as_str(),
            secret: &secret,
            filter: &filter,
            source: "api",
            created_by: user.actor.caller.map(|c| c.user.to_string()).as_deref(),
            now,
        },
    )
    .await?;
    let detail = json!({ "endpointId": id, "events": filter.names() });
    crate::storage::audit::append(
        &state.db,
        &mut tx,
        user.actor
            .fact(Action::WebhookCreate, None, None, Outcome::Success, detail),
    )
    .await?;
    tx.commit().await?;
    let created = WebhookEndpointView {
        id,
        url: url.to_string(),
        events: filter.names().into_iter().map(String::from).collect(),
        source: "api".into(),
        created_at: rfc3339(now),
        secret_rotated_at: None,
    };
    Ok((
        StatusCode::CREATED,
        Json(WebhookEndpointWithSecret {
            endpoint: created,
            secret,
        }),
    ))
}

/// Every endpoint (without secrets).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = WebhookEndpoints), Unauthorized, NotAnAdmin))]
pub async fn list_webhooks(State(state): State<AppState>, user: AuthUser) -> Result<Json<WebhookEndpoints>, ApiError> {
    admin_only(&state, &user, Action::WebhookList).await?;
    let endpoints: Vec<WebhookEndpointView> = store::endpoints(&state.db.pool).await?.into_iter().map(view).collect();
    let detail = json!({ "returned": endpoints.len() });
    audit::record(
        &state.db,
        user.actor
            .fact(Action::WebhookList, None, None, Outcome::Success, detail),
    )
    .await?;
    Ok(Json(WebhookEndpoints { endpoints }))
}

/// Removes an endpoint; its pending deliveries end as failed. The endpoint of `WEBHOOK_URL`
/// can be removed too (after taking it out of every node's environment; a node that still
/// sets it writes it back when it starts).
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), BadRequest, Unauthorized, NotAnAdmin, NotFound))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin_only(&state, &user, Action::WebhookDelete).await?;
    let id = endpoint_id(&id)?;
    let mut tx = state.db.pool.begin().await?;
    if !store::delete_endpoint(&mut *tx, &id, crate::now_millis()).await? {
        return Err(ApiError::not_found("no such webhook endpoint"));
    }
    crate::storage::audit::append(
        &state.db,
        &mut tx,
        user.actor.fact(
            Action::WebhookDelete,
            None,
            None,
            Outcome::Success,
            json!({ "endpointId": id }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives an endpoint a new secret, shown only in this answer; deliveries from now on are
/// signed with it.
#[utoipa::path(post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, format = Uuid)), security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint with its new secret", body = WebhookEndpointWithSecret),
        BadRequest, Unauthorized, NotAnAdmin, NotFound,
    ))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<WebhookEndpointWithSecret>, ApiError> {
    admin_only(&state, &user, Action::WebhookRotate).await?;
    let id = endpoint_id(&id)?;
    if id == ENV_ENDPOINT_ID {
        return Err(from_environment());
    }
    let secret = fresh_secret().expose();
    let mut tx = state.db.pool.begin().await?;
    if !store::rotate_secret(&mut tx, &id, &secret, crate::now_millis()).await? {
        return Err(ApiError::not_found("no such webhook endpoint"));
    }
    crate::storage::audit::append(
        &state.db,
        &mut tx,
        user.actor.fact(
            Action::WebhookRotate,
            None,
            None,
            Outcome::Success,
            json!({ "endpointId": id }),
        ),
    )
    .await?;
    tx.commit().await?;
    let endpoint = store::endpoint(&state.db.pool, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such webhook endpoint"))?;
    Ok(Json(WebhookEndpointWithSecret {
        endpoint: view(endpoint),
        secret,
    }))
}

/// The endpoint's recent deliveries, newest first.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, format = Uuid), DeliveriesQuery), security(("bearer" = [])),
    responses((status = 200, description = "Success", body = WebhookDeliveries), BadRequest, Unauthorized, NotAnAdmin, NotFound))]
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ValidQuery(q): ValidQuery<DeliveriesQuery>,
) -> Result<Json<WebhookDeliveries>, ApiError> {
    admin_only(&state, &user, Action::WebhookDeliveries).await?;
    let id = endpoint_id(&id)?;
    let limit = match q.limit.as_deref() {
        None => 50,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit", "limit must be 1 to 100"))?,
    };
    if store::endpoint(&state.db.pool, &id).await?.is_none() {
        return Err(ApiError::not_found("no such webhook endpoint"));
    }
    let deliveries: Vec<WebhookDeliveryView> = store::deliveries(&state.db.pool, &id, limit)
        .await?
        .into_iter()
        .map(|d| WebhookDeliveryView {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            call_id: d.call_id,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            last_attempt_at: d.last_attempt_at.map(rfc3339),
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at: d.delivered_at.map(rfc3339),
            created_at: rfc3339(d.created_at),
        })
        .collect();
    let detail = json!({ "endpointId": id, "returned": deliveries.len() });
    audit::record(
        &state.db,
        user.actor
            .fact(Action::WebhookDeliveries, None, None, Outcome::Success, detail),
    )
    .await?;
    Ok(Json(WebhookDeliveries { deliveries }))
}

/// Sends one delivery again (same `webhook-id` and body), with a fresh retry window.
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{deliveryId}/redeliver", tag = "webhooks",
    params(("id" = String, Path, format = Uuid), ("deliveryId" = i64, Path)), security(("bearer" = [])),
    responses((status = 202, description = "Queued"), BadRequest, Unauthorized, NotAnAdmin, NotFound))]
pub async fn redeliver_webhook(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    admin_only(&state, &user, Action::WebhookRedeliver).await?;
    let id = endpoint_id(&id)?;
    let delivery: i64 = delivery
        .parse()
        .map_err(|_| ApiError::bad_request("deliveryId", "deliveryId must be a whole number"))?;
    let mut tx = state.db.pool.begin().await?;
    if !store::redeliver(&mut tx, &id, delivery, crate::now_millis()).await? {
        return Err(ApiError::not_found("no such delivery of this webhook endpoint"));
    }
    crate::storage::audit::append(
        &state.db,
        &mut tx,
        user.actor.fact(
            Action::WebhookRedeliver,
            None,
            None,
            Outcome::Success,
            json!({ "endpointId": id, "deliveryId": delivery }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::ACCEPTED)
}
