//! `POST /webrtc/calls/{id}/admit`: a provider (or admin) lets someone in from the call's
//! waiting room, as `admit-participant` does over signaling (docs/signaling.md, "Waiting
//! room"); the admitted person's devices then join the call by themselves.

use super::error::ApiError;
use super::extract::{ValidJson, path_id};
use super::problems::{BadRequest, Forbidden, Invalid, NotFound, NotInThisState, Unauthorized};
use crate::auth::AuthUser;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vytalcall_domain::{CallId, UserId};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdmitBody {
    /// Who to let in: someone waiting in this call's waiting room.
    #[schema(format = Uuid)]
    pub user_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Admission {
    #[schema(format = Uuid)]
    pub call_id: String,
    #[schema(format = Uuid)]
    pub user_id: String,
}

/// Lets a waiting person into the call. 409 `not-waiting` when they are not waiting,
/// `call-full` when the call holds `MAX_CALL_PARTICIPANTS` people; 403 for anyone but the
/// call's providers and admins.
#[utoipa::path(post, path = "/calls/{id}/admit", tag = "calls", params(("id" = String, Path, format = Uuid)),
    request_body = AdmitBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "Admitted; their devices join the call", body = Admission),
        BadRequest, Unauthorized, Forbidden, NotFound, NotInThisState, Invalid,
    ))]
pub async fn admit(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<AdmitBody>,
) -> Result<Json<Admission>, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    let raw = body
        .user_id
        .ok_or_else(|| ApiError::invalid("userId", "userId is required"))?;
    let who: UserId = raw
        .parse()
        .map_err(|_| ApiError::invalid("userId", "userId must be a UUID"))?;
    let max = state.settings.signaling.max_call_participants;
    state.calls.admit(&user.actor, id, who, max).await?;
    Ok(Json(Admission {
        call_id: id.to_string(),
        user_id: who.to_string(),
    }))
}
