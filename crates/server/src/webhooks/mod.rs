//! Webhooks in the Standard Webhooks scheme (docs/webhooks.md): events written to an outbox
//! in the transaction of the fact they report ([`events`], filled from the audited fact by
//! [`crate::storage::audit::append`]), endpoints and deliveries in the database
//! ([`crate::storage::webhooks`]), the admins' operations ([`admin`], under the REST routes of [`crate::http::webhooks`]), where a
//! delivery may go ([`target`]) and the worker that sends them ([`worker`]). The rules
//! themselves (signatures, backoff, address classes) are `vytalcall_domain::webhook`.

pub mod admin;
pub mod events;
pub mod target;
pub mod worker;

use crate::config::Settings;
use crate::storage::Db;
use crate::tasks::Jobs;
use std::time::Duration;

/// Writes the environment's endpoint (`WEBHOOK_URL`, if set), then starts this node's worker.
pub async fn start(settings: &Settings, db: &Db, jobs: &mut Jobs) -> anyhow::Result<()> {
    if let Some((url, secret)) = &settings.webhooks.endpoint {
        crate::storage::webhooks::sync_env_endpoint(&db.pool, url, &secret.expose(), crate::now_millis()).await?;
    }
    let deliverer = worker::Deliverer {
        db: db.clone(),
        node: format!("node-{}", uuid::Uuid::new_v4().simple()),
        retry: settings.webhooks.retry,
        timeout: Duration::from_secs(settings.webhooks.timeout_seconds),
        allow_private: settings.webhooks.allow_private,
    };
    jobs.spawn("webhook deliveries", deliverer.run());
    Ok(())
}
