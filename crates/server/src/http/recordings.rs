//! Recording routes: start (consent enforced), stop, metadata, the decrypted media with HTTP
//! ranges, a participant's connection to the recording peer (SDP offer/answer), a
//! participant's own consent or refusal, and the admins' legal hold.
//!
//! Only the call's providers and admins manage and play recordings; every access is
//! audited by the recording service.

use super::error::ApiError;
use super::extract::{ValidJson, path_id};
use super::problems::{
    BadRequest, Forbidden, IntegrityFailure, Invalid, InvalidConsent, InvalidOffer, NotAdmittedToRecording, NotAnAdmin,
    NotFound, RangeNotSatisfiable, RecordingNotRunning, RecordingRefused, RecordingStillRunning, Unauthorized,
};
use crate::auth::AuthUser;
use crate::calls::view::ConsentView;
use crate::calls::view::iso;
use crate::recording::RecordingError;
use crate::recording::repo::RecordingRow;
use crate::recording::service::StartRequest;
use crate::state::AppState;
use crate::storage::calls::ConsentRecord;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vytalcall_domain::access::MAX_CALL_MEMBERS;
use vytalcall_domain::consent::{ConsentMethod, UnknownMethod};
use vytalcall_domain::{CallId, RecordingId, UserId};

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct StartRecordingBody {
    /// Must be true: the provider confirms consent was obtained.
    pub consent_obtained: Option<bool>,
    /// Participants whose consent is recorded by this request.
    #[serde(default)]
    pub consented_participants: Vec<String>,
    /// `verbal`, `written`, `electronic` or `in-app`.
    pub consent_method: Option<String>,
    #[serde(default)]
    pub enable_transcription: bool,
}

impl StartRecordingBody {
    /// The participants attested and the consent method (`verbal` when none is given).
    fn validate(&self) -> Result<(Vec<UserId>, ConsentMethod), ApiError> {
        if self.consent_obtained != Some(true) {
            return Err(ApiError::invalid(
                "consentObtained",
                "consentObtained must be true to record",
            ));
        }
        let method = match &self.consent_method {
            None => ConsentMethod::Verbal,
            Some(m) => m.parse().map_err(|_: UnknownMethod| {
                ApiError::invalid(
                    "consentMethod",
                    "consentMethod must be verbal, written, electronic or in-app",
                )
            })?,
        };
        // Each must be a member of the call, so a longer list can only repeat someone.
        if self.consented_participants.len() > MAX_CALL_MEMBERS {
            return Err(ApiError::invalid(
                "consentedParticipants",
                format!("at most {MAX_CALL_MEMBERS} participants"),
            ));
        }
        let consented = self
            .consented_participants
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.parse().map_err(|_| {
                    ApiError::invalid(
                        format!("consentedParticipants[{i}]"),
                        "consentedParticipants must be UUIDs",
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((consented, method))
    }
}

/// A recording: its state, size, who is in it and where its media is.
#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct RecordingView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub call_id: String,
    /// `recording`, `completed`, `partial` (the server stopped mid-recording; what was
    /// written plays) or `failed`.
    pub status: String,
    pub started_by: String,
    pub started_at: String,
    pub stopped_by: Option<String>,
    pub stopped_at: Option<String>,
    pub duration_ms: Option<i64>,
    /// Size of the playable WebM file in bytes.
    pub size_bytes: Option<i64>,
    pub format: String,
    pub transcription: bool,
    pub legal_hold: bool,
    /// When retention deletes it (unless on legal hold).
    pub expires_at: String,
    /// Everyone in the call when the recording started.
    pub participants: Vec<String>,
    pub consent_method: Option<String>,
    /// Where the decrypted media is served (HTTP ranges supported).
    pub media_url: String,
    /// Where participants send their SDP offer to the recording peer while it runs.
    pub offer_url: String,
    /// The call's consent history (metadata only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consents: Option<Vec<ConsentView>>,
}

fn view(state: &AppState, row: &RecordingRow, consents: Option<Vec<ConsentRecord>>) -> RecordingView {
    let base = format!("/webrtc/calls/{}/recordings/{}", row.call_id, row.id);
    RecordingView {
        id: row.id.to_string(),
        call_id: row.call_id.to_string(),
        status: row.status.as_str().to_string(),
        started_by: row.started_by.to_string(),
        started_at: iso(row.started_at),
        stopped_by: row.stopped_by.clone(),
        stopped_at: row.stopped_at.map(iso),
        duration_ms: row.duration_ms,
        size_bytes: row.size_bytes,
        format: "video/webm".into(),
        transcription: row.transcription,
        legal_hold: row.legal_hold,
        expires_at: iso(state.recordings.expires_at(row)),
        participants: row.participants.iter().map(ToString::to_string).collect(),
        consent_method: row.consent_method.map(|m| m.as_str().into()),
        media_url: format!("{base}/media"),
        offer_url: format!("{base}/offer"),
        consents: consents.map(|c| c.into_iter().map(Into::into).collect()),
    }
}

/// Starts recording a call. Every current participant's consent must be on record (given
/// on answering, or attested here with `consentedParticipants`); otherwise 409 names who is
/// missing and nothing changes.
#[utoipa::path(post, path = "/calls/{id}/record", tag = "recordings",
    params(("id" = String, Path, format = Uuid)), request_body = StartRecordingBody, security(("bearer" = [])),
    responses(
        (status = 201, description = "Recording started", body = RecordingView),
        BadRequest, Unauthorized, Forbidden, NotFound, RecordingRefused, Invalid,
    ))]
pub async fn start_recording(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<StartRecordingBody>,
) -> Result<(StatusCode, Json<RecordingView>), ApiError> {
    let id: CallId = path_id(&id, "id")?;
    let (consented, method) = body.validate()?;
    let request = StartRequest {
        consented,
        method,
        transcription: body.enable_transcription,
    };
    let row = state.recordings.start(&state.calls, &user.actor, id, request).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &row, None))))
}

/// Stops a running recording; its file is completed and becomes playable.
#[utoipa::path(post, path = "/calls/{id}/recordings/{recordingId}/stop", tag = "recordings",
    params(("id" = String, Path, format = Uuid), ("recordingId" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Recording stopped", body = RecordingView),
        BadRequest, Unauthorized, Forbidden, NotFound, RecordingNotRunning,
    ))]
pub async fn stop_recording(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, recording_id)): Path<(String, String)>,
) -> Result<Json<RecordingView>, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    let recording: RecordingId = path_id(&recording_id, "recordingId")?;
    let row = state.recordings.stop(&state.calls, &user.actor, id, recording).await?;
    Ok(Json(view(&state, &row, None)))
}

/// A recording's metadata: duration, size, participants, consent record, status.
#[utoipa::path(get, path = "/calls/{id}/recordings/{recordingId}", tag = "recordings",
    params(("id" = String, Path, format = Uuid), ("recordingId" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The recording", body = RecordingView),
        BadRequest, Unauthorized, Forbidden, NotFound,
    ))]
pub async fn get_recording(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, recording_id)): Path<(String, String)>,
) -> Result<Json<RecordingView>, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    let recording: RecordingId = path_id(&recording_id, "recordingId")?;
    let (row, consents) = state
        .recordings
        .metadata(&state.calls, &user.actor, id, recording)
        .await?;
    Ok(Json(view(&state, &row, Some(consents))))
}

/// The recording's media as WebM, decrypted on the fly, with HTTP range support.
#[utoipa::path(get, path = "/calls/{id}/recordings/{recordingId}/media", tag = "recordings",
    params(("id" = String, Path, format = Uuid), ("recordingId" = String, Path, format = Uuid),
        ("Range" = Option<String>, Header, description = "bytes=START-END, bytes=START- or bytes=-LENGTH")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The whole file", content_type = "video/webm"),
        (status = 206, description = "The requested range", content_type = "video/webm"),
        BadRequest, Unauthorized, Forbidden, NotFound, RecordingStillRunning, RangeNotSatisfiable, IntegrityFailure,
    ))]
pub async fn recording_media(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    Path((id, recording_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    let recording: RecordingId = path_id(&recording_id, "recordingId")?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let media = match state
        .recordings
        .media(&state.calls, &user.actor, id, recording, range)
        .await
    {
        Ok(m) => m,
        Err(RecordingError::BadRange { size }) => {
            let mut response = ApiError::from(RecordingError::BadRange { size }).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    };
    let (status, length, content_range) = match media.range {
        Some(r) => (
            StatusCode::PARTIAL_CONTENT,
            r.end - r.start + 1,
            Some(format!("bytes {}-{}/{}", r.start, r.end, media.size)),
        ),
        None => (StatusCode::OK, media.size, None),
    };
    let body = Body::from_stream(media.body.map_err(std::io::Error::other));
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/webm"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Some(v) = content_range.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

/// An SDP offer or answer, as `RTCSessionDescriptionInit`.
#[derive(Deserialize, Serialize, ToSchema, Default)]
pub struct SessionDescription {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub sdp: String,
}

/// A participant connects to the recording peer: their offer in, the peer's answer out
/// (ICE-lite; the answer carries the peer's candidate, no trickle). Refused with 409
/// `consent-required` until the participant's own consent is on record.
#[utoipa::path(post, path = "/calls/{id}/recordings/{recordingId}/offer", tag = "recordings",
    params(("id" = String, Path, format = Uuid), ("recordingId" = String, Path, format = Uuid)),
    request_body = SessionDescription, security(("bearer" = [])),
    responses(
        (status = 200, description = "The recording peer's answer", body = SessionDescription),
        BadRequest, Unauthorized, NotFound, NotAdmittedToRecording, InvalidOffer,
    ))]
pub async fn recording_offer(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, recording_id)): Path<(String, String)>,
    ValidJson(body): ValidJson<SessionDescription>,
) -> Result<Json<SessionDescription>, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    let recording: RecordingId = path_id(&recording_id, "recordingId")?;
    if body.kind.as_deref().is_some_and(|k| k != "offer") {
        return Err(ApiError::invalid("type", "type must be offer"));
    }
    if body.sdp.len() > crate::recording::peer::MAX_SDP {
        return Err(ApiError::invalid("sdp", "the offer is too large"));
    }
    let answer = state
        .recordings
        .offer(&state.calls, &user.actor, id, recording, body.sdp)
        .await?;
    Ok(Json(SessionDescription {
        kind: Some("answer".into()),
        sdp: answer,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ConsentBody {
    /// true to consent to being recorded, false to refuse (a refusal stops recording you).
    pub consented: bool,
}

/// A participant gives or refuses their own consent to recording (for example when asked
/// after joining a call that is being recorded). Recorded and audited either way.
#[utoipa::path(post, path = "/calls/{id}/recording-consent", tag = "recordings",
    params(("id" = String, Path, format = Uuid)), request_body = ConsentBody, security(("bearer" = [])),
    responses(
        (status = 204, description = "Recorded"),
        BadRequest, Unauthorized, NotFound, InvalidConsent,
    ))]
pub async fn recording_consent(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<ConsentBody>,
) -> Result<StatusCode, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    state
        .recordings
        .consent(&state.calls, &user.actor, id, body.consented)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct LegalHoldBody {
    pub hold: bool,
}

/// Places or lifts a legal hold (admins only); held recordings are never deleted by retention.
#[utoipa::path(post, path = "/calls/{id}/recordings/{recordingId}/legal-hold", tag = "recordings",
    params(("id" = String, Path, format = Uuid), ("recordingId" = String, Path, format = Uuid)),
    request_body = LegalHoldBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "The recording", body = RecordingView),
        Unauthorized, BadRequest, NotAnAdmin, Invalid, NotFound,
    ))]
pub async fn legal_hold(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, recording_id)): Path<(String, String)>,
    ValidJson(body): ValidJson<LegalHoldBody>,
) -> Result<Json<RecordingView>, ApiError> {
    let id: CallId = path_id(&id, "id")?;
    let recording: RecordingId = path_id(&recording_id, "recordingId")?;
    let row = state
        .recordings
        .set_legal_hold(&state.calls, &user.actor, id, recording, body.hold)
        .await?;
    Ok(Json(view(&state, &row, None)))
}
