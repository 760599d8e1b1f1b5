//! `AuthUser`: the extractor every protected route takes. A handler that has one has a
//! verified identity; one that forgot it cannot read the caller at all.

use super::jwt::Identity;
use crate::audit::Actor;
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use std::net::SocketAddr;
use vytalcall_domain::access::Caller;

/// Optional header naming the caller's device, recorded in the audit trail.
pub const DEVICE_HEADER: &str = "x-device-id";

pub struct AuthUser {
    pub identity: Identity,
    /// The identity as the audit trail records it (with device and address).
    pub actor: Actor,
}

impl AuthUser {
    pub fn caller(&self) -> Caller {
        Caller {
            user: self.identity.user,
            role: self.identity.role,
        }
    }
}

/// Device ids are free-form but bounded: letters, digits and `._:-`, at most 64.
pub fn valid_device_id(raw: &str) -> bool {
    !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// The token from an `Authorization: Bearer …` header value.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let unauthorized = |e: super::AuthError| {
            metrics::counter!("vytalcall_auth_failures_total", "reason" => e.to_string()).increment(1);
            ApiError::from(e).into_response()
        };
        let token = header
            .and_then(bearer_token)
            .ok_or(super::AuthError::Missing)
            .map_err(unauthorized)?;
        let identity = state.verifier.verify(token).map_err(unauthorized)?;
        state
            .limits
            .check_user(identity.user)
            .map_err(IntoResponse::into_response)?;
        state.people.seen(&identity).await;
        let device_id = match parts.headers.get(DEVICE_HEADER) {
            None => None,
            Some(v) => match v.to_str().ok().filter(|s| valid_device_id(s)) {
                Some(s) => Some(s.to_string()),
                None => {
                    let problem =
                        ApiError::bad_request("X-Device-Id", "X-Device-Id must be 1-64 letters, digits or . _ : -");
                    return Err(problem.into_response());
                }
            },
        };
        let client_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_string());
        let actor = Actor {
            caller: Some(Caller {
                user: identity.user,
                role: identity.role,
            }),
            device_id,
            client_addr,
        };
        Ok(AuthUser { identity, actor })
    }
}
