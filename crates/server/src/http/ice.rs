//! `GET /webrtc/ice-servers`: the `iceServers` list for `RTCPeerConnection`. With
//! `TURN_SECRET`, TURN entries carry credentials minted for this user that expire after
//! `TURN_CREDENTIAL_TTL_SECONDS` or with the caller's token, whichever comes first; otherwise the static `WEBRTC_TURN_*` values.

use super::problems::Unauthorized;
use crate::auth::AuthUser;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;
use vytalcall_domain::turn;

#[derive(Serialize, ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IceServers {
    pub ice_servers: Vec<IceServer>,
    /// When time-limited TURN credentials expire (RFC 3339); absent for static ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// STUN and TURN servers for the caller.
#[utoipa::path(get, path = "/ice-servers", tag = "webrtc", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = IceServers), Unauthorized))]
pub async fn ice_servers(State(state): State<AppState>, user: AuthUser) -> Json<IceServers> {
    let t = &state.settings.turn;
    let mut servers = Vec::new();
    if !t.stun_servers.is_empty() {
        servers.push(IceServer {
            urls: t.stun_servers.clone(),
            username: None,
            credential: None,
        });
    }
    let mut expires_at = None;
    if !t.turn_servers.is_empty() {
        let (username, credential) = match &t.rest_secret {
            Some(secret) => {
                let now = crate::now_millis() / 1000;
                let c = turn::rest_credential(
                    secret.expose_secret().as_bytes(),
                    &user.identity.user.to_string(),
                    now,
                    turn::credential_ttl(now, user.identity.expires_at, t.credential_ttl_seconds),
                );
                expires_at = Some(crate::calls::view::iso(c.expires_at_unix * 1000));
                (Some(c.username), Some(c.credential))
            }
            None => (
                t.static_username.clone(),
                t.static_password.as_ref().map(|p| p.expose_secret().to_string()),
            ),
        };
        servers.push(IceServer {
            urls: t.turn_servers.clone(),
            username,
            credential,
        });
    }
    Json(IceServers {
        ice_servers: servers,
        expires_at,
    })
}
