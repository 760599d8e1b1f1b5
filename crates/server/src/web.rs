//! The web app: static files under `crates/server/web/`, embedded in the binary at compile
//! time (also in debug builds), so `vytalcall` serves its app offline with no Node step.
//!
//! `/` is the app's single page; `/assets/{path}` its scripts, styles and icons (including
//! the client SDK bundle). Nothing else is served from the folder, and an unknown asset is a
//! problem+json 404 like any unknown route. Every response carries a strict
//! Content-Security-Policy: only the app's own scripts run, so an injected `<script>` or
//! inline handler does nothing, and the page can only talk to its own origin (REST and the
//! Socket.IO WebSocket). Files are revalidated by ETag rather than cached blindly, so a new
//! binary's app is picked up at once.
//!
//! `/app-config.json` tells the page what it shows that the server knows: the clinic's name
//! (`CLINIC_NAME`), whether it has a logo (`CLINIC_LOGO_FILE`, served at `/clinic-logo`), and
//! how long recordings are kept (`RECORDING_RETENTION_DAYS`, for the consent question).

use crate::http::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

/// The app's files. `debug-embed` embeds them in debug builds too, so tests exercise exactly
/// what ships; `build.rs` makes Cargo rebuild when a file under `web/` is added or changed.
#[derive(RustEmbed)]
#[folder = "web/"]
struct WebFiles;

/// The routes of the web app, merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
        .route("/app-config.json", get(app_config))
        .route("/clinic-logo", get(clinic_logo))
}

/// What the page needs from the server's configuration (public facts only).
#[derive(serde::Serialize, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppConfig {
    pub clinic_name: String,
    /// `/clinic-logo` when a logo is configured.
    pub clinic_logo_url: Option<&'static str>,
    pub recording_retention_days: u32,
}

pub fn app_config_of(settings: &crate::config::Settings) -> AppConfig {
    AppConfig {
        clinic_name: settings.clinic.name.clone(),
        clinic_logo_url: settings.clinic.logo_file.as_ref().map(|_| "/clinic-logo"),
        recording_retention_days: settings.recording_retention_days,
    }
}

async fn app_config(State(state): State<AppState>) -> Response {
    let mut response = Json(app_config_of(&state.settings)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The clinic's logo file (at most 1 MiB), or 404 when none is configured or it cannot be read.
async fn clinic_logo(State(state): State<AppState>) -> Response {
    const MAX_LOGO_BYTES: u64 = 1 << 20;
    let Some(file) = state.settings.clinic.logo_file.clone() else {
        return ApiError::not_found("no clinic logo").into_response();
    };
    let fits = tokio::fs::metadata(&file)
        .await
        .is_ok_and(|m| m.is_file() && m.len() <= MAX_LOGO_BYTES);
    let bytes = if fits { tokio::fs::read(&file).await.ok() } else { None };
    let Some(bytes) = bytes else {
        tracing::warn!(file = %file.display(), "CLINIC_LOGO_FILE cannot be served (missing, unreadable or over 1 MiB)");
        return ApiError::not_found("no clinic logo").into_response();
    };
    let name = file.display().to_string();
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&name)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // An SVG opened on its own runs no script and loads nothing.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // Only plain relative names: no `..`, no hidden files, no empty segments.
    let clean = !path.is_empty() && path.split('/').all(|seg| !seg.is_empty() && !seg.starts_with('.'));
    if !clean {
        return ApiError::not_found("no such asset").into_response();
    }
    serve(&format!("assets/{path}"), &headers)
}

/// One embedded file with its content type, ETag, revalidation and the security headers.
fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(file) = WebFiles::get(name) else {
        return ApiError::not_found("no such asset").into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, file.data.into_owned()).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&content_security_policy(request))
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(self), microphone=(self), display-capture=(self), geolocation=()"),
    );
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    response
}

/// The policy of the app's pages. `connect-src` names the WebSocket origin explicitly
/// (`ws://` and `wss://` of the host the browser used) because older browsers do not count
/// it as `'self'`. The host comes from the request, so it is used only when it is a plain
/// host name or address with an optional port; otherwise `'self'` alone remains.
pub fn content_security_policy(request: &HeaderMap) -> String {
    let sockets = request
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| is_plain_host(h))
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         media-src 'self' blob:; connect-src 'self'{sockets}; font-src 'self'; \
         manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Content types of the file kinds the app ships; anything else is served as bytes.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_socket_origin_only_for_a_plain_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let csp = content_security_policy(&h);
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"));
        assert!(csp.contains("script-src 'self';"));
        h.insert(header::HOST, HeaderValue::from_static("evil; script-src *"));
        let csp = content_security_policy(&h);
        assert!(csp.contains("connect-src 'self';"), "{csp}");
        assert!(!csp.contains("evil"));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("assets/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("assets/app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("assets/x"), "application/octet-stream");
    }
}
