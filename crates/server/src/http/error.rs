//! `ApiError`: the one error type at the HTTP edge, rendered as RFC 9457
//! `application/problem+json`. Every lower layer's error converts into it exactly once here.
//! Unexpected failures are logged with their cause; the client gets a generic message.

use crate::auth::AuthError;
use crate::calls::CallError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use vytalcall_domain::call::TransitionError;
use vytalcall_domain::waiting_room::RoomRefused;

/// An RFC 9457 problem document.
#[derive(Serialize, ToSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// A URI naming the kind of problem (relative to the server).
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request field at fault, for 400 and 422.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The call's state when a transition was refused (409).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: String,
    pub field: Option<String>,
    pub current_state: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            detail: detail.into(),
            field: None,
            current_state: None,
        }
    }

    pub fn bad_request(field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "bad-request", detail)
        }
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation-failed", detail)
        }
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_implemented(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "not-implemented", detail)
    }

    /// A failure the client cannot fix. The cause goes to the log, never to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request",
        )
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            problem_type: format!("/problems/{}", self.kind),
            title: self.title().to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            field: self.field,
            current_state: self.current_state,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        match e {
            CallError::NotFound => ApiError::not_found("call not found"),
            CallError::Room(refused) => {
                let (status, kind) = match refused {
                    RoomRefused::NotHost => (StatusCode::FORBIDDEN, "forbidden"),
                    RoomRefused::CallFull(_) => (StatusCode::CONFLICT, "call-full"),
                    RoomRefused::NotWaiting => (StatusCode::CONFLICT, "not-waiting"),
                    RoomRefused::NotAdmitted => (StatusCode::CONFLICT, "not-admitted"),
                };
                ApiError::new(status, kind, refused.to_string())
            }
            CallError::Forbidden(why) => ApiError::forbidden(why),
            CallError::Invalid { field, message } => ApiError::invalid(field, format!("{field} {message}")),
            CallError::Transition {
                error: TransitionError::CallerCannotAnswer,
                ..
            } => ApiError::forbidden(TransitionError::CallerCannotAnswer.to_string()),
            CallError::Transition { error, current } => ApiError {
                current_state: Some(current.as_str().to_string()),
                ..ApiError::new(StatusCode::CONFLICT, "invalid-transition", error.to_string())
            },
            CallError::Busy => ApiError::new(StatusCode::CONFLICT, "concurrent-update", e.to_string()),
            CallError::Store(cause) => ApiError::from(cause),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again",
                )
            }
            other => ApiError::internal(&other),
        }
    }
}

impl From<crate::recording::RecordingError> for ApiError {
    fn from(e: crate::recording::RecordingError) -> ApiError {
        use crate::recording::RecordingError as R;
        use vytalcall_domain::consent::StartRefused;
        let conflict = |kind: &'static str, detail: String| ApiError::new(StatusCode::CONFLICT, kind, detail);
        match e {
            R::NotFound => ApiError::not_found("recording not found"),
            R::Call(call) => ApiError::from(call),
            R::Refused(StartRefused::ConsentMissing(_)) => conflict("consent-missing", e.to_string()),
            R::Refused(refused) => conflict("recording-refused", refused.to_string()),
            R::NotAParticipant(_) => ApiError::invalid("consentedParticipants", e.to_string()),
            R::NotRunning | R::StillRunning => conflict("recording-state", e.to_string()),
            R::ConsentRequired => conflict("consent-required", e.to_string()),
            R::BadRange { .. } => ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range-not-satisfiable",
                e.to_string(),
            ),
            R::BadOffer(_) => ApiError::invalid("sdp", e.to_string()),
            R::Integrity(cause) => {
                tracing::error!(error = %cause, "a stored recording cannot be read");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "recording-integrity",
                    "the stored recording failed its integrity check and is not played",
                )
            }
            R::RecorderUnavailable(node) => {
                tracing::warn!(node = %node, "a recording's node did not answer");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "recorder-unavailable",
                    "the server running this recording is not answering; nothing was changed, try again shortly",
                )
            }
            R::Db(cause) => ApiError::from(cause),
            R::Store(_) | R::Peer(_) | R::WriterGone => ApiError::internal(&e),
        }
    }
}
