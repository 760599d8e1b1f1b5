//! Building and running the server. [`Application::build`] binds the port (0 picks a free
//! one, which is how tests start a real server each), opens and migrates the database,
//! wires the services and starts the background jobs, which the application owns
//! ([`Jobs`]); [`Application::run`] serves until the shutdown future resolves, then stops
//! every job and waits for it.

use crate::auth::Verifier;
use crate::calls::CallsService;
use crate::config::{Mode, Settings};
use crate::state::{AppInner, AppState};
use crate::storage::Db;
use crate::tasks::Jobs;
use crate::{demo, http, signaling, telemetry, tls};
use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub struct Application {
    listener: TcpListener,
    state: AppState,
    demo_users: Option<demo::DemoUsers>,
    signaling: axum::Router,
    /// The certificate being served, when the binary terminates TLS.
    tls: Option<RustlsConfig>,
    /// Every background job of this server, stopped and awaited by [`Application::run`].
    jobs: Jobs,
}

impl Application {
    /// Builds the server from complete settings: in development the generated secrets must
    /// already be filled in ([`demo::fill_development_secrets`], which the CLI calls before
    /// dispatch). The background jobs start here; an application dropped without being run
    /// stops them.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        // Demo users and their printed tokens only with a secret vytalcall generated itself.
        let demo_users = if settings.mode == Mode::Development && settings.jwt.generated_secret {
            Some(demo::demo_users(&settings.data_dir).context("cannot create the demo users")?)
        } else {
            None
        };
        let verifier = Verifier::new(&settings.jwt)?;
        let db = Db::open(&settings).await?;
        let addr = SocketAddr::new(settings.host, settings.port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let tls = match &settings.tls {
            None => None,
            Some(tls_settings) => Some(tls::load(tls_settings).await?),
        };
        let redis = match &settings.redis_url {
            None => None,
            Some(url) => Some(
                signaling::multinode::RedisLink::connect(url, &settings.redis_key_prefix)
                    .await
                    .context("cannot connect to Redis (REDIS_URL)")?,
            ),
        };
        // The services report every change to signaling's notifier; its handlers need the
        // finished state.
        let (notifier, notices) = signaling::notifier::channel();
        let calls = CallsService::new(
            db.clone(),
            Arc::new(notifier.clone()),
            settings.ring_timeout_seconds as i64 * 1000,
        );
        let limits = http::limits::Limits::new(
            settings.rate_limit_per_address_per_minute,
            settings.rate_limit_per_user_per_minute,
        );
        let (recordings, recorder_inbox) = crate::recording::upkeep::open_service(
            &settings,
            db.clone(),
            crate::recording::upkeep::OpenFor::Server {
                notifier: Arc::new(notifier),
                redis: redis.clone(),
            },
        )
        .await?;
        let people = crate::people::People::new(db.clone());
        let state = AppState(Arc::new(AppInner {
            recordings,
            settings,
            db,
            verifier,
            calls,
            people,
            metrics: telemetry::metrics_handle(),
            limits,
            redis,
        }));
        let mut jobs = Jobs::new();
        let signaling = signaling::start(state.clone(), notices, &mut jobs).await?;
        start_jobs(&mut jobs, &state, tls.as_ref());
        crate::webhooks::start(&state.settings, &state.db, &mut jobs)
            .await
            .context("cannot set up webhooks")?;
        if let (Some(link), Some(inbox)) = (&state.redis, recorder_inbox) {
            jobs.spawn(
                "recording requests from other nodes",
                crate::recording::remote::serve(state.recordings.clone(), link.clone(), inbox),
            );
        }
        if state.redis.is_some() {
            tracing::info!("multi-node signaling on Redis");
        }
        Ok(Application {
            listener,
            state,
            demo_users,
            signaling,
            tls,
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The base URL people should open.
    pub fn base_url(&self) -> String {
        let scheme = if self.state.settings.tls.is_some() {
            "https"
        } else {
            "http"
        };
        self.state.settings.public_url.clone().unwrap_or_else(|| {
            let host = self.state.settings.host;
            let shown = if host.is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                host.to_string()
            };
            let shown = if host.is_ipv6() && !host.is_unspecified() {
                format!("[{shown}]")
            } else {
                shown
            };
            format!("{scheme}://{shown}:{}", self.port())
        })
    }

    pub fn banner(&self) -> String {
        demo::banner(&self.base_url(), &self.state.verifier, self.demo_users)
    }

    /// Serves until `shutdown` resolves, then lets open requests finish (at most ten
    /// seconds), stops every background job and waits for them, and closes the recordings.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Application {
            listener,
            state,
            signaling,
            tls,
            mut jobs,
            ..
        } = self;
        let rest = http::edge::with_deadline(http::router(state.clone()), &state.settings);
        let app = http::edge::around(rest.merge(signaling), &state.settings)
            .into_make_service_with_connect_info::<SocketAddr>();
        crate::audit::checkpoint::start(&mut jobs, &state);
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        jobs.spawn("shutdown signal", async move {
            shutdown.await;
            stopper.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        let header_timeout = Duration::from_secs(state.settings.header_read_timeout_seconds.max(1));
        let result = serve(listener, app, tls, handle, header_timeout).await;
        jobs.shutdown().await;
        state.recordings.stop_all().await;
        crate::audit::checkpoint::at_shutdown(&state).await;
        // Closing the pool now, rather than when the runtime drops it, ends SQLite's worker
        // threads at once, so the process exits promptly.
        state.db.pool.close().await;
        result
    }
}

type Service = axum::extract::connect_info::IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr>;

/// axum-server serves both plain HTTP and TLS so that slow or stalled clients are cut off by
/// hyper's header read timeout (axum::serve has none).
async fn serve(
    listener: TcpListener,
    app: Service,
    tls: Option<RustlsConfig>,
    handle: axum_server::Handle<SocketAddr>,
    header_timeout: Duration,
) -> std::io::Result<()> {
    let listener = listener.into_std()?;
    match tls {
        None => {
            let mut server = axum_server::from_tcp(listener)?.acceptor(tls::FirstByteWithin(header_timeout));
            server.http_builder().http1().header_read_timeout(header_timeout);
            server.handle(handle).serve(app).await
        }
        Some(config) => {
            // The TLS handshake's own time limit covers clients that send nothing.
            let mut server = axum_server::from_tcp_rustls(listener, config)?;
            server.http_builder().http1().header_read_timeout(header_timeout);
            http::edge::limit_http2(server.http_builder());
            server.handle(handle).serve(app).await
        }
    }
}

/// How often idle clients are dropped from the rate limiters (a bucket refills within a
/// minute, so forgetting an idle client changes nothing it sees; this bounds memory).
const RATE_LIMIT_CLEANUP_EVERY: Duration = Duration::from_secs(10);

/// The server's own periodic jobs (signaling starts its own in [`signaling::start`]).
fn start_jobs(jobs: &mut Jobs, state: &AppState, tls: Option<&RustlsConfig>) {
    let swept = state.clone();
    jobs.every("ring time-out sweep", Duration::from_secs(1), move || {
        sweep_ringing_calls(swept.clone())
    });
    let limited = state.clone();
    jobs.every("rate-limit clean-up", RATE_LIMIT_CLEANUP_EVERY, move || {
        limited.limits.forget_idle();
        std::future::ready(())
    });
    let retention_every = Duration::from_secs(state.settings.retention_sweep_seconds.max(1));
    jobs.spawn(
        "recording upkeep",
        crate::recording::upkeep::run_jobs(state.recordings.clone(), retention_every),
    );
    if let (Some(config), Some(tls_settings)) = (tls, &state.settings.tls) {
        jobs.spawn(
            "TLS certificate reload",
            tls::keep_fresh(tls_settings.clone(), config.clone()),
        );
    }
}

/// Turns calls that rang out into `missed` (run once a second).
async fn sweep_ringing_calls(state: AppState) {
    match state.calls.expire_ringing().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(missed = n, "calls rang out"),
        Err(e) => tracing::warn!(error = %e, "ring time-out sweep failed"),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
