//! The delivery worker: one per node, started through [`crate::tasks::Jobs`].
//!
//! Every quarter second it reads the deliveries that are due (the first pending one of each
//! call and endpoint, so a call's events go out in order), takes each one's lease with a
//! compare-and-set (so of several nodes exactly one sends it) and sends it from a task of its
//! own. No database connection is held while a request is under way: the row is read, the
//! connection goes back to the pool, the request runs under `WEBHOOK_TIMEOUT_SECONDS`, and
//! the outcome is written with a fresh one. A receiver that hangs therefore delays only its
//! own deliveries, never a call. A node that dies mid-request leaves its lease to run out,
//! after which another node (or itself, restarted) sends the same event again: delivery is at
//! least once, with the same `webhook-id`.

use super::target;
use crate::storage::Db;
use crate::storage::webhooks::{self as store, Attempted};
use std::collections::HashSet;
use std::time::Duration;
use tokio::task::JoinSet;
use vytalcall_domain::webhook::{NextAttempt, RetryPolicy, Secret, signature};

/// How often the worker looks for due deliveries.
const POLL: Duration = Duration::from_millis(250);
/// At most this many requests under way per node.
const MAX_IN_FLIGHT: usize = 32;
/// How long finished deliveries stay listed (and their events kept).
const KEEP_FINISHED_MS: i64 = 30 * 24 * 3_600_000;
/// How often finished deliveries older than that are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct Deliverer {
    pub db: Db,
    /// This process, as the owner of the leases it takes.
    pub node: String,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub allow_private: bool,
}

impl Deliverer {
    /// Runs until the server shuts down (dropping the future aborts requests under way;
    /// their leases run out and another pass sends them again).
    pub async fn run(self) {
        let mut sending: JoinSet<i64> = JoinSet::new();
        let mut in_flight: HashSet<i64> = HashSet::new();
        let mut pruned = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                Some(done) = sending.join_next(), if !sending.is_empty() => {
                    if let Ok(id) = done {
                        in_flight.remove(&id);
                    }
                    continue;
                }
            }
            if in_flight.len() >= MAX_IN_FLIGHT {
                continue;
            }
            let now = crate::now_millis();
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = tokio::time::Instant::now();
                if let Err(e) = store::prune(&self.db.pool, now - KEEP_FINISHED_MS).await {
                    tracing::warn!(error = %e, "cannot remove old webhook deliveries");
                }
            }
            let due = match store::due(&self.db.pool, now, MAX_IN_FLIGHT as i64).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read due webhook deliveries");
                    continue;
                }
            };
            for id in due {
                if in_flight.len() >= MAX_IN_FLIGHT || in_flight.contains(&id) {
                    continue;
                }
                let lease = now + self.timeout.as_millis() as i64 + 30_000;
                match store::claim(&self.db.pool, id, &self.node, now, lease).await {
                    Ok(true) => {
                        in_flight.insert(id);
                        let me = self.clone();
                        sending.spawn(async move {
                            me.send(id).await;
                            id
                        });
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot claim a webhook delivery"),
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(delivery = id))]
    async fn send(&self, id: i64) {
        let out = match store::outgoing(&self.db.pool, id).await {
            Ok(Some(out)) => out,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a webhook delivery");
                return;
            }
        };
        let result = self.post(&out).await;
        let now = crate::now_millis();
        let (status, error) = match result {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("the receiver answered {status}"))),
            Err(e) => (None, Some(e)),
        };
        let outcome = match (status, error.as_deref()) {
            (Some(status), None) => Attempted::Delivered { status },
            (status, error) => {
                let error = error.unwrap_or("no answer");
                let attempts = u32::try_from(out.attempts + 1).unwrap_or(u32::MAX);
                match self
                    .retry
                    .after_failure(out.window_start, now, attempts, rand::random::<f64>())
                {
                    NextAttempt::At(at) => Attempted::Retry { status, error, at },
                    NextAttempt::GiveUp => Attempted::Failed { status, error },
                }
            }
        };
        let kind = match outcome {
            Attempted::Delivered { .. } => "delivered",
            Attempted::Retry { .. } => "retry",
            Attempted::Failed { .. } => "failed",
        };
        metrics::counter!("vytalcall_webhook_attempts_total", "outcome" => kind).increment(1);
        match store::attempted(&self.db.pool, id, &self.node, now, outcome).await {
            Ok(true) => tracing::debug!(outcome = kind, "webhook attempt"),
            Ok(false) => tracing::info!("a webhook lease ran out before its attempt was recorded"),
            Err(e) => tracing::warn!(error = %e, "cannot record a webhook attempt"),
        }
    }

    /// One request; the receiver's status, or why there was none.
    async fn post(&self, out: &store::Outgoing) -> Result<u16, String> {
        let url = target::parse_url(&out.url).map_err(str::to_string)?;
        let (host, addrs) = tokio::time::timeout(self.timeout, target::resolve(&url, self.allow_private))
            .await
            .map_err(|_| "the host did not resolve in time".to_string())?
            .map_err(|e| e.to_string())?;
        let secret = Secret::parse(&out.secret).map_err(|_| "the endpoint's secret is not valid".to_string())?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .resolve_to_addrs(&host, &addrs)
            .user_agent(concat!("vytalcall-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let timestamp = crate::now_millis() / 1000;
        let sig = signature(&secret, &out.event_id, timestamp, out.body.as_bytes());
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &out.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sig)
            .body(out.body.clone())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!("no answer within {} s", self.timeout.as_secs())
                } else if e.is_connect() {
                    "cannot connect to the receiver".to_string()
                } else {
                    "the request failed".to_string()
                }
            })?;
        Ok(response.status().as_u16())
    }
}
