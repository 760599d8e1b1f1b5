//! Building and running the server. [`Application::build`] binds the port (0 picks a free
//! one, which is how tests start a real server each), opens and migrates the database and
//! wires the services; [`Application::run`] serves until the shutdown future resolves.

use crate::auth::Verifier;
use crate::calls::CallsService;
use crate::config::{Mode, Settings};
use crate::state::{AppInner, AppState};
use crate::storage::Db;
use crate::tasks::Jobs;
use crate::{demo, http, signaling, telemetry, tls};
use anyhow::Context;
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
}

/// Opens the configured database and brings its schema up to date.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let db = connect_database(settings).await?;
    db.migrate().await.context("cannot migrate the database")?;
    Ok(db)
}

/// Opens the configured database as it is, without migrating: what read-only work (an
/// auditor's `audit verify` under a role that may only read the trail) needs.
pub async fn connect_database(settings: &Settings) -> anyhow::Result<Db> {
    if settings.database_url.is_none() {
        demo::ensure_data_dir(&settings.data_dir)
            .with_context(|| format!("cannot create the data directory {}", settings.data_dir.display()))?;
    }
    let mut db = Db::connect(&settings.effective_database_url())
        .await
        .context("cannot open the database")?;
    db.audit_key = Some(crate::audit::key(settings).context("cannot load the audit key (AUDIT_KEY)")?);
    Ok(db)
}

impl Application {
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        let demo_users = if settings.mode == Mode::Development {
            demo::fill_development_secrets(&mut settings).context("cannot prepare the data directory")?;
            Some(demo::demo_users(&settings.data_dir).context("cannot create the demo users")?)
        } else {
            None
        };
        let verifier = Verifier::new(&settings.jwt)?;
        let db = open_database(&settings).await?;
        let addr = SocketAddr::new(settings.host, settings.port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
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
        let recordings = crate::recording::upkeep::open_service(&settings, db.clone(), true).await?;
        recordings.set_notifier(Arc::new(notifier));
        let state = AppState(Arc::new(AppInner {
            recordings,
            settings,
            db,
            verifier,
            calls,
            metrics: telemetry::metrics_handle(),
            limits,
            redis,
        }));
        let signaling = signaling::start(state.clone(), notices).await?;
        if state.redis.is_some() {
            tracing::info!("multi-node signaling on Redis");
        }
        Ok(Application {
            listener,
            state,
            demo_users,
            signaling,
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

    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let state = self.state.clone();
        let mut jobs = Jobs::new();
        let swept = state.clone();
        jobs.every("ring time-out sweep", Duration::from_secs(1), move || {
            sweep_ringing_calls(swept.clone())
        });
        let retention_every = Duration::from_secs(state.settings.retention_sweep_seconds.max(1));
        jobs.spawn(
            "recording upkeep",
            crate::recording::upkeep::run_jobs(state.recordings.clone(), retention_every),
        );
        crate::audit::checkpoint::start(&mut jobs, &state);
        let app = http::router(state.clone())
            .merge(self.signaling)
            .into_make_service_with_connect_info::<SocketAddr>();
        // axum-server serves both plain HTTP and TLS so that slow or stalled clients are cut
        // off by hyper's header read timeout (axum::serve has none).
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopper.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        let header_timeout = Duration::from_secs(state.settings.header_read_timeout_seconds.max(1));
        let listener = self.listener.into_std()?;
        let result = match &state.settings.tls {
            None => {
                let mut server = axum_server::from_tcp(listener)?.acceptor(tls::FirstByteWithin(header_timeout));
                server.http_builder().http1().header_read_timeout(header_timeout);
                server.handle(handle).serve(app).await
            }
            Some(tls_settings) => {
                let config = tls::load(tls_settings).await.map_err(std::io::Error::other)?;
                let reloader = tokio::spawn(tls::keep_fresh(tls_settings.clone(), config.clone()));
                // The TLS handshake's own time limit covers clients that send nothing.
                let mut server = axum_server::from_tcp_rustls(listener, config)?;
                server.http_builder().http1().header_read_timeout(header_timeout);
                let served = server.handle(handle).serve(app).await;
                reloader.abort();
                served
            }
        };
        jobs.shutdown().await;
        state.recordings.stop_all().await;
        crate::audit::checkpoint::at_shutdown(&state).await;
        result
    }
}

/// Turns calls that rang out into `missed` (run once a second).
async fn sweep_ringing_calls(state: AppState) {
    state.limits.forget_idle();
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
