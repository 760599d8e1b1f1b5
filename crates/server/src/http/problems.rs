//! The problem responses of the REST API, declared once for the OpenAPI document. A route
//! lists the ones it can answer by name after its success response, e.g.
//! `responses((status = 200, ...), BadRequest, Unauthorized, NotFound)`. Every one is an RFC 9457
//! [`Problem`] served as `application/problem+json`; [`ApiError`](super::error::ApiError)
//! produces them at run time.
//!
//! Most routes share the general ones; where a status means something particular on one
//! route (which conflict a 409 is, say) that route has its own, still declared here.

use super::error::Problem;
use utoipa::IntoResponses;

/// 400: a path segment, query parameter or body that could not be read.
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "Malformed request (the problem names the field)",
    content_type = "application/problem+json"
)]
pub struct BadRequest(pub Problem);

/// 401: every `/webrtc` route needs a valid bearer token.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "Missing or invalid bearer token",
    content_type = "application/problem+json"
)]
pub struct Unauthorized(pub Problem);

/// 403: the caller may see the call (or route) but not do this.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "Not allowed for this user",
    content_type = "application/problem+json"
)]
pub struct Forbidden(pub Problem);

/// 403 of admin-only actions.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "Not an admin",
    content_type = "application/problem+json"
)]
pub struct NotAnAdmin(pub Problem);

/// 404: also the answer to a stranger asking about a call (its existence is not revealed).
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "Not found, or not visible to this user",
    content_type = "application/problem+json"
)]
pub struct NotFound(pub Problem);

/// 409 of call commands: the problem's `currentState` is the call's state.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "Not possible in the call's current state",
    content_type = "application/problem+json"
)]
pub struct NotInThisState(pub Problem);

/// 409 of starting a recording.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "Consent missing (the detail names who), call not active, or already recording",
    content_type = "application/problem+json"
)]
pub struct RecordingRefused(pub Problem);

/// 409 of stopping a recording.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "The recording is not running",
    content_type = "application/problem+json"
)]
pub struct RecordingNotRunning(pub Problem);

/// 409 of playing a recording back.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "The recording is still running",
    content_type = "application/problem+json"
)]
pub struct RecordingStillRunning(pub Problem);

/// 409 of connecting to the recording peer.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "No consent on record, or the recording is not running",
    content_type = "application/problem+json"
)]
pub struct NotAdmittedToRecording(pub Problem);

/// 416 of ranged playback.
#[derive(IntoResponses)]
#[response(
    status = 416,
    description = "Range not satisfiable",
    content_type = "application/problem+json"
)]
pub struct RangeNotSatisfiable(pub Problem);

/// 422: a body field has the wrong type or value.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Invalid field value (the problem names the field)",
    content_type = "application/problem+json"
)]
pub struct Invalid(pub Problem);

/// 422 of a participant's own consent.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Invalid body, or not a participant",
    content_type = "application/problem+json"
)]
pub struct InvalidConsent(pub Problem);

/// 422 of an SDP offer to the recording peer.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Not an acceptable SDP offer",
    content_type = "application/problem+json"
)]
pub struct InvalidOffer(pub Problem);

/// 500 of playback when the stored file fails authentication.
#[derive(IntoResponses)]
#[response(
    status = 500,
    description = "The stored recording failed its integrity check",
    content_type = "application/problem+json"
)]
pub struct IntegrityFailure(pub Problem);

/// 503 of readiness.
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "A dependency is down",
    content_type = "application/problem+json"
)]
pub struct DependencyDown(pub Problem);

#[cfg(test)]
mod tests {
    #[test]
    fn every_error_response_in_the_document_is_a_problem_document() {
        let (_, doc) = crate::http::api();
        let doc = serde_json::to_value(&doc).expect("the document serializes");
        assert!(doc["components"]["schemas"]["Problem"].is_object());
        let mut seen = 0;
        for (path, operations) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in operations.as_object().into_iter().flatten() {
                for (status, response) in op["responses"].as_object().into_iter().flatten() {
                    if status.as_str() < "400" {
                        continue;
                    }
                    let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/Problem", "{method} {path} {status}");
                    seen += 1;
                }
            }
        }
        assert!(seen > 0);
    }

    #[test]
    fn every_authenticated_route_declares_its_401() {
        let (_, doc) = crate::http::api();
        let doc = serde_json::to_value(&doc).expect("the document serializes");
        for (path, operations) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in operations.as_object().into_iter().flatten() {
                if op.get("security").is_some() {
                    assert!(op["responses"]["401"].is_object(), "{method} {path}");
                }
            }
        }
    }
}
