//! The HTTP edge: the REST API under `/webrtc`, operations endpoints at the root, the
//! OpenAPI document (generated from the handlers' annotations) and its browsable docs page.
//!
//! Cross-cutting layers, outermost first: request metrics, tracing (method, route, status;
//! never bodies or headers), CORS from `FRONTEND_URL`, security headers, body size limit.

pub mod access;
pub mod audit;
pub mod calls;
pub mod client_addr;
pub mod edge;
pub mod error;
pub mod extract;
pub mod fhir;
pub mod health;
pub mod ice;
pub mod limits;
pub mod page;
pub mod people;
pub mod problems;
pub mod recordings;
pub mod reports;
pub mod schema;
pub mod waiting_room;
pub mod webhooks;

use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use error::ApiError;
use std::time::Instant;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(title = "vytalcall", description = "Telehealth call server: calls, WebRTC signaling settings, audit trail."),
    modifiers(&BearerAuth),
    // `Problem` is the body of every response in `problems` (those do not register it).
    components(schemas(schema::CallStatusName, schema::CallTypeName, schema::UuidText, error::Problem)),
    tags(
        (name = "calls", description = "Placing, answering and ending calls"),
        (name = "people", description = "Whom to call: recent patients by name, ids checked"),
        (name = "recordings", description = "Consent-based call recording"),
        (name = "webrtc", description = "STUN/TURN settings"),
        (name = "audit", description = "The tamper-evident audit trail"),
        (name = "webhooks", description = "Signed events to other systems (Standard Webhooks); admins only"),
        (name = "operations", description = "Health and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;
impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The REST API and its OpenAPI description.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let webrtc = OpenApiRouter::new()
        .routes(routes!(calls::create_call, calls::list_calls))
        .routes(routes!(calls::get_call))
        .routes(routes!(calls::answer_call))
        .routes(routes!(calls::end_call))
        .routes(routes!(calls::cancel_call))
        .routes(routes!(waiting_room::admit))
        .routes(routes!(calls::stats))
        .routes(routes!(people::recent_patients))
        .routes(routes!(people::get_person))
        .routes(routes!(recordings::start_recording))
        .routes(routes!(recordings::stop_recording))
        .routes(routes!(recordings::get_recording))
        .routes(routes!(recordings::recording_media))
        .routes(routes!(recordings::recording_offer))
        .routes(routes!(recordings::recording_consent))
        .routes(routes!(recordings::legal_hold))
        .routes(routes!(ice::ice_servers))
        .routes(routes!(audit::list_audit))
        .routes(routes!(reports::interactive_time_report))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::delete_webhook))
        .routes(routes!(webhooks::rotate_webhook_secret))
        .routes(routes!(webhooks::list_webhook_deliveries))
        .routes(routes!(webhooks::redeliver_webhook));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/webrtc", webrtc)
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .split_for_parts()
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api();
    let max_body = state.settings.max_body_bytes;
    let cors = cors_layer(&state.settings.frontend_urls);
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .merge(crate::web::routes())
        .merge(fhir::routes())
        .route_layer(middleware::from_fn(track_request))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this route does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(middleware::from_fn_with_state(state.clone(), limits::per_address))
        .layer(cors)
        .with_state(state)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-device-id"),
        ])
        .allow_credentials(true)
}

/// Counts and times every request by its route template (never the concrete path, which
/// holds ids) and logs one line per request.
async fn track_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    let labels = [
        ("method", method.to_string()),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!("vytalcall_http_requests_total", &labels).increment(1);
    metrics::histogram!("vytalcall_http_request_duration_seconds", &labels[..2]).record(elapsed);
    tracing::info!(%method, %route, status, ms = (elapsed * 1000.0).round(), "request");
    response
}
