//! What every handler can reach: settings, the database, the token verifier and services.

use crate::auth::Verifier;
use crate::calls::CallsService;
use crate::config::Settings;
use crate::storage::Db;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState(pub Arc<AppInner>);

pub struct AppInner {
    pub settings: Settings,
    pub db: Db,
    pub verifier: Verifier,
    pub calls: CallsService,
    /// Display names from tokens (`people` table), written only when they change.
    pub people: crate::people::People,
    pub metrics: PrometheusHandle,
    pub limits: crate::http::limits::Limits,
    pub recordings: Arc<crate::recording::RecordingService>,
    /// Set with `REDIS_URL`: signaling shared by several processes.
    pub redis: Option<crate::signaling::multinode::RedisLink>,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}
