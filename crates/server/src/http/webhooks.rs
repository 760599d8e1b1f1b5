//! `/webrtc/webhooks`: the admins' webhook endpoints (docs/webhooks.md). An endpoint is a URL
//! and the events it wants; its `whsec_…` secret is shown once, when it is created or
//! rotated. Each endpoint's recent deliveries can be read (status, attempts, last error) and
//! one sent again. Everyone else gets 403; every action, refused or done, is audited.

use super::access::allowed;
use super::error::ApiError;
use super::extract::{ValidJson, ValidQuery};
use super::problems::{BadRequest, Invalid, NotAnAdmin, NotFound, Unauthorized};
use crate::audit::Action;
use crate::auth::AuthUser;
use crate::state::AppState;
use crate::storage::webhooks as store;
use crate::webhooks::admin::{self, AdminError};
use crate::webhooks::events::rfc3339;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vytalcall_domain::access;

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
    allowed(state, user, action, access::may_manage_webhooks(user.caller())).await
}

fn endpoint_id(raw: &str) -> Result<String, ApiError> {
    raw.parse::<uuid::Uuid>()
        .map(|u| u.to_string())
        .map_err(|_| ApiError::bad_request("id", "id must be a UUID"))
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> ApiError {
        match e {
            AdminError::NoSuchEndpoint | AdminError::NoSuchDelivery => ApiError::not_found(e.to_string()),
            AdminError::FromEnvironment => {
                ApiError::new(StatusCode::CONFLICT, "configured-by-environment", e.to_string())
            }
            AdminError::Invalid { field, message } => ApiError::invalid(field, message),
            AdminError::Store(e) => ApiError::from(e),
        }
    }
}

fn with_secret((endpoint, secret): (store::Endpoint, String)) -> WebhookEndpointWithSecret {
    WebhookEndpointWithSecret {
        endpoint: view(endpoint),
        secret,
    }
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
    let events = body.events.unwrap_or_default();
    let allow_private = state.settings.webhooks.allow_private;
    let created = admin::create(&state.db, &user.actor, &body.url, &events, allow_private).await?;
    Ok((StatusCode::CREATED, Json(with_secret(created))))
}

/// Every endpoint (without secrets).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = WebhookEndpoints), Unauthorized, NotAnAdmin))]
pub async fn list_webhooks(State(state): State<AppState>, user: AuthUser) -> Result<Json<WebhookEndpoints>, ApiError> {
    admin_only(&state, &user, Action::WebhookList).await?;
    let endpoints = admin::list(&state.db, &user.actor)
        .await?
        .into_iter()
        .map(view)
        .collect();
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
    admin::delete(&state.db, &user.actor, &endpoint_id(&id)?).await?;
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
    let rotated = admin::rotate_secret(&state.db, &user.actor, &endpoint_id(&id)?).await?;
    Ok(Json(with_secret(rotated)))
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
    let deliveries = admin::deliveries(&state.db, &user.actor, &id, limit)
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
    admin::redeliver(&state.db, &user.actor, &id, delivery).await?;
    Ok(StatusCode::ACCEPTED)
}
