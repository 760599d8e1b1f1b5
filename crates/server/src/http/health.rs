//! Liveness, readiness and Prometheus metrics. Unauthenticated by design (scraped by the
//! platform); they reveal counts, never ids.

use super::error::ApiError;
use super::problems::DependencyDown;
use crate::state::AppState;
use crate::storage::calls::count_by_status;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::fmt::Write;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can serve requests: the database answers, and Redis when configured.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready"), DependencyDown))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.db.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is not reachable",
        )
    })?;
    if let Some(redis) = &state.redis {
        redis.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness check failed: redis");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "redis is not reachable")
        })?;
        return Ok(Json(json!({ "status": "ready", "database": "ok", "redis": "ok" })));
    }
    Ok(Json(json!({ "status": "ready", "database": "ok" })))
}

/// Prometheus text format: requests by route and status, latency histogram, calls by state.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics.render();
    if let Ok(rows) = count_by_status(&state.db.pool).await {
        text.push_str("# HELP vytalcall_calls Calls by current state.\n# TYPE vytalcall_calls gauge\n");
        for status in vytalcall_domain::call::CallStatus::ALL {
            let n = rows.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
            let _ = writeln!(text, "vytalcall_calls{{state=\"{status}\"}} {n}");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
