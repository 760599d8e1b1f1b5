//! The server's background jobs, owned in one place.
//!
//! Every periodic or long-running job (the ring sweep, recording upkeep, signaling's
//! departure retry and quality requests, ...) is started through [`Jobs`], never with a bare
//! `tokio::spawn`. `Jobs` hands each one the same shutdown token, the way mini-redis passes
//! its shutdown signal down, and [`Jobs::shutdown`] cancels them all and waits for them, so
//! a stopped server leaves nothing running behind it (tests start and stop many servers in
//! one process, and a detached job would keep its database pool open).

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The set of running jobs and the token that stops them.
pub struct Jobs {
    running: JoinSet<()>,
    shutdown: CancellationToken,
}

impl Default for Jobs {
    fn default() -> Self {
        Self::new()
    }
}

impl Jobs {
    pub fn new() -> Jobs {
        Jobs {
            running: JoinSet::new(),
            shutdown: CancellationToken::new(),
        }
    }

    /// The token every job watches; cancelled by [`Jobs::shutdown`].
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs `job` until it returns or the server shuts down, whichever comes first. A job
    /// that must finish a step cleanly can watch [`Jobs::shutdown_token`] itself instead.
    pub fn spawn(&mut self, name: &'static str, job: impl Future<Output = ()> + Send + 'static) {
        let shutdown = self.shutdown.clone();
        self.running.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => tracing::debug!(job = name, "job stopped"),
                () = job => tracing::debug!(job = name, "job finished"),
            }
        });
    }

    /// Calls `step` every `period` (the first call after one period) until shutdown. A step
    /// that overruns its period delays the next one instead of queueing a burst.
    pub fn every<F, Fut>(&mut self, name: &'static str, period: Duration, mut step: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                step().await;
            }
        });
    }

    /// Cancels every job and waits until each has stopped. A job is dropped at its next
    /// await point, so a step in the middle of a database transaction rolls back.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.running.join_next().await.is_some() {}
    }

    /// How many jobs are still running.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_periodic_job_runs_once_per_period_and_stops_at_shutdown() {
        let mut jobs = Jobs::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        jobs.every("count", Duration::from_secs(1), move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        jobs.shutdown().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "no run after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_a_job_that_would_never_return() {
        let mut jobs = Jobs::new();
        let token = jobs.shutdown_token();
        jobs.spawn("forever", std::future::pending::<()>());
        assert_eq!(jobs.len(), 1);
        jobs.shutdown().await;
        assert!(token.is_cancelled());
    }
}
