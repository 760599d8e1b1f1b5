//! Request extractors that turn every malformed input into a precise problem: a JSON body
//! whose error names the field (`ValidJson`), an optional body for commands like
//! `end` (`OptionalJson`), query strings (`ValidQuery`) and UUID path segments.
//!
//! Unknown JSON fields are ignored (forward compatibility with newer frontends); a known
//! field with the wrong type or value is always refused with 422 naming it.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

pub struct ValidJson<T>(pub T);
pub struct OptionalJson<T>(pub T);

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<(bool, Bytes), ApiError> {
    let is_json = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    });
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "the request body is too large",
            )
        } else {
            ApiError::bad_request("body", "the request body could not be read")
        }
    })?;
    if !bytes.is_empty() && is_json != Some(true) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as application/json",
        ));
    }
    Ok((is_json.unwrap_or(false), bytes))
}

/// Parses a JSON object body into `T`, naming the field at fault (also the fuzzing entry point).
pub fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would also fill a struct from an array, positionally; bodies are objects only.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(ApiError::invalid("body", "the body must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(
                "body",
                format!(
                    "the body is not valid JSON (line {}, column {})",
                    inner.line(),
                    inner.column()
                ),
            )
        } else if field == "." {
            ApiError::invalid("body", "the body must be a JSON object")
        } else {
            // serde's message names the expected type without echoing the value.
            let why = inner.to_string();
            let why = why.split(" at line ").next().unwrap_or("invalid value");
            ApiError::invalid(field.clone(), format!("{field}: {why}"))
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (_, bytes) = body_bytes(req, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request("body", "a JSON body is required"));
        }
        parse_json_body(&bytes).map(ValidJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (_, bytes) = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json_body(&bytes).map(OptionalJson)
    }
}

/// Query parameters, each kept as text so that the handler can name the bad one.
pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(ValidQuery)
            .map_err(|e| ApiError::bad_request("query", format!("invalid query string: {e}")))
    }
}

/// Parses a path segment as an id, answering 400 naming `field` if it is not a UUID.
pub fn path_id<T: std::str::FromStr>(raw: &str, field: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(field, format!("{field} must be a UUID")))
}

/// Parses an optional UUID field of a body or query.
pub fn opt_uuid<T: std::str::FromStr>(raw: Option<&str>, field: &str) -> Result<Option<T>, ApiError> {
    raw.map(|s| {
        s.parse()
            .map_err(|_| ApiError::invalid(field, format!("{field} must be a UUID")))
    })
    .transpose()
}

/// Trims a free-text reason and bounds its length; reasons are shown to the other party
/// (the rule is [`vytalcall_domain::text::free_text`], shared with signaling).
pub fn reason(raw: Option<String>, default: &str) -> Result<String, ApiError> {
    vytalcall_domain::text::free_text(raw.as_deref(), 500)
        .map(|r| r.unwrap_or_else(|| default.to_string()))
        .map_err(|e| ApiError::invalid("reason", format!("reason {e}")))
}

/// A date (`2024-01-31`, the whole day in UTC) or an RFC 3339 instant, as Unix milliseconds.
/// `end_of_day` picks the first instant after the given day, for exclusive upper bounds.
pub fn date_bound(raw: Option<&str>, field: &str, end_of_day: bool) -> Result<Option<i64>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    if let Ok(day) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = if end_of_day { day.succ_opt().unwrap_or(day) } else { day };
        return Ok(day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()));
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| {
            ApiError::bad_request(
                field,
                format!("{field} must be a date (YYYY-MM-DD) or an RFC 3339 time"),
            )
        })
}
