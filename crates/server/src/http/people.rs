//! `/webrtc/patients/recent` and `/webrtc/people/{id}`: whom a provider can call. A provider
//! picks one of the patients of their own calls by name (most recent first), or pastes an id,
//! which is checked against the people the server has met, so an id nobody ever signed in
//! with is flagged instead of ringing nobody. Admins see every patient; patients are refused
//! (`access::people_scope`).
//!
//! Every read is audited like the calls list: ids and counts only, never a name.

use super::access::allowed;
use super::error::ApiError;
use super::extract::{ValidQuery, path_id};
use super::page;
use super::problems::{BadRequest, Forbidden, NotFound, Unauthorized};
use crate::audit::{self, Action, Outcome};
use crate::auth::AuthUser;
use crate::state::AppState;
use crate::storage::people as repo;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vytalcall_domain::UserId;
use vytalcall_domain::access::{self, ListScope};

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct RecentPatientsQuery {
    /// 1 to 100; default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// A patient to call.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentPatient {
    #[schema(format = Uuid)]
    pub id: String,
    /// The display name of their latest token; null until they sign in with one.
    pub name: Option<String>,
    /// When the latest call with them was placed (RFC 3339).
    pub last_call_at: String,
    /// Calls with them (the caller's own, for a provider).
    pub calls: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RecentPatients {
    /// Most recent first.
    pub patients: Vec<RecentPatient>,
}

/// Someone the server has met.
#[derive(Serialize, ToSchema)]
pub struct PersonView {
    #[schema(format = Uuid)]
    pub id: String,
    /// `patient`, `provider` or `admin`, from their latest token.
    #[schema(example = "patient")]
    pub role: String,
    /// Null when their tokens never carried a usable name.
    pub name: Option<String>,
}

/// The patients of the caller's calls, most recent first (every patient's, for an admin).
#[utoipa::path(get, path = "/patients/recent", tag = "people", params(RecentPatientsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = RecentPatients),
        BadRequest, Unauthorized, Forbidden,
    ))]
pub async fn recent_patients(
    State(state): State<AppState>,
    user: AuthUser,
    ValidQuery(q): ValidQuery<RecentPatientsQuery>,
) -> Result<Json<RecentPatients>, ApiError> {
    let scope = allowed(&state, &user, Action::PersonList, access::people_scope(user.caller())).await?;
    let limit = page::CALLS.parse(q.limit.as_deref(), None)?.limit;
    let provider = match scope {
        ListScope::Every => None,
        ListScope::MemberOf(me) => Some(me),
    };
    let rows = repo::recent_patients(&state.db.pool, provider, limit).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.person.user.to_string()).collect();
    let detail = json!({ "returned": ids.len(), "userIds": ids });
    audit::record(
        &state.db,
        user.actor
            .fact(Action::PersonList, None, None, Outcome::Success, detail),
    )
    .await?;
    Ok(Json(RecentPatients {
        patients: rows
            .into_iter()
            .map(|r| RecentPatient {
                id: r.person.user.to_string(),
                name: r.person.name,
                last_call_at: crate::calls::view::iso(r.last_call_at),
                calls: r.calls,
            })
            .collect(),
    }))
}

/// Someone by id: whether the server has ever met them, with role and name. A pasted id
/// nobody ever signed in with is 404, so the app can say so before ringing nobody.
#[utoipa::path(get, path = "/people/{id}", tag = "people", params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = PersonView),
        BadRequest, Unauthorized, Forbidden, NotFound,
    ))]
pub async fn get_person(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<PersonView>, ApiError> {
    let id: UserId = path_id(&id, "id")?;
    allowed(&state, &user, Action::PersonView, access::people_scope(user.caller())).await?;
    let person = state.people.get(id).await?;
    let detail = json!({ "userId": id.to_string(), "found": person.is_some() });
    audit::record(
        &state.db,
        user.actor
            .fact(Action::PersonView, None, None, Outcome::Success, detail),
    )
    .await?;
    let person = person.ok_or_else(|| ApiError::not_found("nobody with this id has signed in to this server"))?;
    Ok(Json(PersonView {
        id: person.user.to_string(),
        role: person.role.as_str().to_string(),
        name: person.name,
    }))
}
