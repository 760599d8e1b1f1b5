//! `/webrtc/calls` and `/webrtc/stats`: thin handlers that parse, call the calls service and
//! reply. Parsing turns request text into domain types and names the field at fault.

use super::error::ApiError;
use super::extract::{OptionalJson, ValidJson, ValidQuery, date_bound, opt_uuid, path_id, reason};
use super::page;
use super::problems::{BadRequest, Forbidden, Invalid, NotFound, NotInThisState, Unauthorized};
use crate::auth::AuthUser;
use crate::calls::{Answer, CallDetails, CallPage, CallStats, NewCall};
use crate::state::AppState;
use crate::storage::calls::CallFilter;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use vytalcall_domain::access::{CallRequest, MAX_ADDITIONAL_PROVIDERS};
use vytalcall_domain::call::{CallStatus, CallType};
use vytalcall_domain::{CallId, UserId};

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct CreateCallBody {
    /// Defaults to the caller when the caller is a patient.
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub patient_id: Option<String>,
    /// Defaults to the caller when the caller is a provider.
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub provider_id: Option<String>,
    /// Further providers taking part (vytalcall extension).
    // `max_items` is access::MAX_ADDITIONAL_PROVIDERS (the attribute takes only a literal;
    // the test below checks that they agree).
    #[schema(value_type = Option<Vec<super::schema::UuidText>>, max_items = 8)]
    pub additional_provider_ids: Option<Vec<String>>,
    /// `video` (default) or `audio`.
    #[serde(rename = "type")]
    #[schema(value_type = Option<super::schema::CallTypeName>, example = "video")]
    pub call_type: Option<String>,
    /// RFC 3339. A call scheduled in the future waits in `scheduled`; otherwise it rings now.
    #[schema(format = DateTime, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")]
    pub scheduled_at: Option<String>,
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub appointment_id: Option<String>,
    pub recording_enabled: Option<bool>,
    /// Whether the patient waits until a provider admits them (docs/signaling.md, "Waiting
    /// room"). Default: `true` for a call scheduled in the future, `false` otherwise.
    pub waiting_room: Option<bool>,
}

impl CreateCallBody {
    /// Turns the body into a domain request, naming the field at fault.
    pub fn into_new_call(self) -> Result<NewCall, ApiError> {
        let additional = self
            .additional_provider_ids
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                path_id::<UserId>(s, "additionalProviderIds").map_err(|_| {
                    ApiError::invalid(
                        format!("additionalProviderIds[{i}]"),
                        "additionalProviderIds must be UUIDs",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if additional.len() > MAX_ADDITIONAL_PROVIDERS {
            return Err(ApiError::invalid(
                "additionalProviderIds",
                format!("at most {MAX_ADDITIONAL_PROVIDERS} additional providers"),
            ));
        }
        let call_type = match self.call_type.as_deref() {
            None => CallType::Video,
            Some(t) => t
                .parse()
                .map_err(|_| ApiError::invalid("type", "type must be video or audio"))?,
        };
        let scheduled_at = match self.scheduled_at.as_deref() {
            None => None,
            Some(s) => Some(
                chrono::DateTime::parse_from_rfc3339(s)
                    .map_err(|_| ApiError::invalid("scheduledAt", "scheduledAt must be an RFC 3339 time"))?
                    .timestamp_millis(),
            ),
        };
        let appointment_id: Option<uuid::Uuid> = opt_uuid(self.appointment_id.as_deref(), "appointmentId")?;
        Ok(NewCall {
            request: CallRequest {
                patient: opt_uuid(self.patient_id.as_deref(), "patientId")?,
                provider: opt_uuid(self.provider_id.as_deref(), "providerId")?,
                additional_providers: additional,
            },
            call_type,
            scheduled_at,
            appointment_id: appointment_id.map(|a| a.to_string()),
            recording_enabled: self.recording_enabled.unwrap_or(false),
            waiting_room: self.waiting_room,
        })
    }
}

/// Places a call. Without `scheduledAt` (or with one in the past) it rings at once.
#[utoipa::path(post, path = "/calls", tag = "calls", request_body = CreateCallBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The call", body = CallDetails),
        BadRequest, Unauthorized, Forbidden, Invalid,
    ))]
pub async fn create_call(
    State(state): State<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<CreateCallBody>,
) -> Result<(StatusCode, Json<CallDetails>), ApiError> {
    let new = body.into_new_call()?;
    let call = state.calls.create(&user.actor, new).await?;
    Ok((StatusCode::CREATED, Json(call)))
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListCallsQuery {
    /// Only calls of this patient.
    #[param(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub patient_id: Option<String>,
    /// Only calls this provider takes part in.
    #[param(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub provider_id: Option<String>,
    /// One of scheduled, ringing, active, ended, cancelled, missed, failed.
    #[param(value_type = Option<super::schema::CallStatusName>)]
    pub status: Option<String>,
    /// Created on or after this date (YYYY-MM-DD) or time (RFC 3339).
    #[param(format = Date, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub start_date: Option<String>,
    /// Created on or before this date, or before this time.
    #[param(format = Date, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub end_date: Option<String>,
    /// 1 to 100; default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Default 0.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1000000)]
    pub offset: Option<String>,
}

fn range_filter(start: Option<&str>, end: Option<&str>) -> Result<CallFilter, ApiError> {
    // An end before the start is an empty range (no calls), not an error.
    Ok(CallFilter {
        created_from: date_bound(start, "startDate", false)?,
        created_before: date_bound(end, "endDate", true)?,
        ..Default::default()
    })
}

/// Lists the calls the caller may see, newest first.
#[utoipa::path(get, path = "/calls", tag = "calls", params(ListCallsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = CallPage),
        BadRequest, Unauthorized,
    ))]
pub async fn list_calls(
    State(state): State<AppState>,
    user: AuthUser,
    ValidQuery(q): ValidQuery<ListCallsQuery>,
) -> Result<Json<CallPage>, ApiError> {
    let mut filter = range_filter(q.start_date.as_deref(), q.end_date.as_deref())?;
    let bad_id = |field: &'static str| move |_| ApiError::bad_request(field, format!("{field} must be a UUID"));
    filter.patient = q
        .patient_id
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(bad_id("patientId"))?;
    filter.provider = q
        .provider_id
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(bad_id("providerId"))?;
    filter.status = q
        .status
        .as_deref()
        .map(str::parse::<CallStatus>)
        .transpose()
        .map_err(|_| {
            ApiError::bad_request(
                "status",
                "status must be one of scheduled, ringing, active, ended, cancelled, missed, failed",
            )
        })?;
    let page = page::CALLS.parse(q.limit.as_deref(), q.offset.as_deref())?;
    Ok(Json(
        state
            .calls
            .list_for(&user.actor, filter, page.limit, page.offset)
            .await?,
    ))
}

/// One call with its participants, transitions and consents.
#[utoipa::path(get, path = "/calls/{id}", tag = "calls", params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = CallDetails),
        BadRequest, Unauthorized, NotFound,
    ))]
pub async fn get_call(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<CallDetails>, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    Ok(Json(state.calls.get_for(&user.actor, id).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AnswerBody {
    /// Default true.
    pub video_enabled: Option<bool>,
    /// Default true.
    pub audio_enabled: Option<bool>,
    /// Recorded as the answerer's consent (method `in-app`) when present.
    pub consent_to_recording: Option<bool>,
}

/// Answers a scheduled or ringing call; the call becomes `active`.
#[utoipa::path(post, path = "/calls/{id}/answer", tag = "calls", params(("id" = String, Path, format = Uuid)),
    request_body = Option<AnswerBody>, security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = CallDetails),
        BadRequest, Unauthorized, Forbidden, NotFound, NotInThisState, Invalid,
    ))]
pub async fn answer_call(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<AnswerBody>,
) -> Result<Json<CallDetails>, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    let answer = Answer {
        video_enabled: body.video_enabled.unwrap_or(true),
        audio_enabled: body.audio_enabled.unwrap_or(true),
        consent_to_recording: body.consent_to_recording,
    };
    Ok(Json(state.calls.answer(&user.actor, id, answer).await?))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ReasonBody {
    /// Shown to the other participants; at most 500 characters, no control characters.
    #[schema(max_length = 500, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub reason: Option<String>,
}

/// Ends an active call.
#[utoipa::path(post, path = "/calls/{id}/end", tag = "calls", params(("id" = String, Path, format = Uuid)),
    request_body = Option<ReasonBody>, security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = CallDetails),
        BadRequest, Unauthorized, NotFound, NotInThisState, Invalid,
    ))]
pub async fn end_call(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Json<CallDetails>, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    let reason = reason(body.reason, "Call completed")?;
    Ok(Json(state.calls.end(&user.actor, id, reason).await?))
}

/// Cancels a call that has not started; a ringing call cancelled by its callee is declined.
#[utoipa::path(post, path = "/calls/{id}/cancel", tag = "calls", params(("id" = String, Path, format = Uuid)),
    request_body = Option<ReasonBody>, security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = CallDetails),
        BadRequest, Unauthorized, NotFound, NotInThisState, Invalid,
    ))]
pub async fn cancel_call(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Json<CallDetails>, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    let reason = reason(body.reason, "Cancelled")?;
    Ok(Json(state.calls.cancel(&user.actor, id, reason).await?))
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// From this date (YYYY-MM-DD) or time (RFC 3339), by creation time.
    #[param(format = Date, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub start_date: Option<String>,
    /// Up to and including this date, or before this time.
    #[param(format = Date, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub end_date: Option<String>,
}

/// Counts and durations over the calls the caller may see.
#[utoipa::path(get, path = "/stats", tag = "calls", params(StatsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = CallStats),
        BadRequest, Unauthorized,
    ))]
pub async fn stats(
    State(state): State<AppState>,
    user: AuthUser,
    ValidQuery(q): ValidQuery<StatsQuery>,
) -> Result<Json<CallStats>, ApiError> {
    let filter = range_filter(q.start_date.as_deref(), q.end_date.as_deref())?;
    Ok(Json(state.calls.stats_for(&user.actor, filter).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_publishes_the_domains_limit_on_additional_providers() {
        let (_, doc) = crate::http::api();
        let doc = serde_json::to_value(&doc).expect("the document serializes");
        let published =
            &doc["components"]["schemas"]["CreateCallBody"]["properties"]["additionalProviderIds"]["maxItems"];
        assert_eq!(published.as_u64(), Some(MAX_ADDITIONAL_PROVIDERS as u64));
    }

    #[test]
    fn a_request_naming_more_additional_providers_than_a_call_holds_is_refused() {
        let body = |n: usize| CreateCallBody {
            additional_provider_ids: Some((0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect()),
            ..Default::default()
        };
        assert!(body(MAX_ADDITIONAL_PROVIDERS).into_new_call().is_ok());
        let refused = body(MAX_ADDITIONAL_PROVIDERS + 1)
            .into_new_call()
            .err()
            .expect("one too many");
        assert_eq!(refused.field.as_deref(), Some("additionalProviderIds"));
    }
}
