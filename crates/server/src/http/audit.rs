//! `GET /webrtc/audit`: the audit trail, for admins, newest first. Reading it is itself
//! audited.

use super::access::allowed;
use super::error::ApiError;
use super::extract::ValidQuery;
use super::problems::{BadRequest, Forbidden, Unauthorized};
use crate::audit::{self, Action, Outcome};
use crate::auth::AuthUser;
use crate::state::AppState;
use crate::storage;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vytalcall_domain::CallId;
use vytalcall_domain::access;

#[derive(Deserialize, IntoParams, Default)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this call.
    #[param(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub call_id: Option<String>,
    /// 1 to 500; default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    #[param(value_type = Option<i64>, minimum = 0, maximum = 2147483647)]
    pub offset: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryView {
    pub seq: i64,
    pub occurred_at: String,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub device_id: Option<String>,
    pub client_addr: Option<String>,
    pub action: String,
    pub call_id: Option<String>,
    pub recording_id: Option<String>,
    pub outcome: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// Audit entries (admins only).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = AuditPage),
        BadRequest, Unauthorized, Forbidden,
    ))]
pub async fn list_audit(
    State(state): State<AppState>,
    user: AuthUser,
    ValidQuery(q): ValidQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    allowed(&state, &user, Action::AuditView, access::may_read_audit(user.caller())).await?;
    let call: Option<CallId> = q
        .call_id
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|_| ApiError::bad_request("callId", "callId must be a UUID"))?;
    let super::page::Page { limit, offset } = super::page::AUDIT.parse(q.limit.as_deref(), q.offset.as_deref())?;

    let (total, rows) = storage::audit::page(&state.db.pool, call.map(|c| c.to_string()), limit, offset).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for e in rows {
        entries.push(AuditEntryView {
            seq: e.seq,
            occurred_at: crate::calls::view::iso(e.fact.occurred_at),
            actor_id: e.fact.actor_id,
            actor_role: e.fact.actor_role,
            device_id: e.fact.device_id,
            client_addr: e.fact.client_addr,
            action: e.fact.action,
            call_id: e.fact.call_id,
            recording_id: e.fact.recording_id,
            outcome: e.fact.outcome,
            detail: serde_json::from_str(&e.fact.detail).unwrap_or(serde_json::Value::Null),
            hash: e.hash,
        });
    }
    let detail = json!({ "callId": call, "returned": entries.len() });
    audit::record(
        &state.db,
        user.actor.fact(Action::AuditView, call, None, Outcome::Success, detail),
    )
    .await?;
    Ok(Json(AuditPage {
        entries,
        total,
        limit,
        offset,
    }))
}
