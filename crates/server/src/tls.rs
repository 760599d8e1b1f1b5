//! Connection handling: TLS termination with rustls, and the acceptor that drops silent
//! connections.
//!
//! TLS termination with rustls. The certificate and key are re-read whenever either file
//! changes (checked every `TLS_RELOAD_SECONDS`) or on SIGHUP, so a renewed certificate takes
//! effect without a restart; a renewal that fails to load is logged and the current
//! certificate stays in service.

use crate::config::TlsSettings;
use axum_server::tls_rustls::RustlsConfig;
use std::time::{Duration, SystemTime};

/// Loads the configured certificate; rustls uses the `ring` provider.
pub async fn load(settings: &TlsSettings) -> anyhow::Result<RustlsConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    RustlsConfig::from_pem_file(&settings.cert_file, &settings.key_file)
        .await
        .map_err(|e| anyhow::anyhow!("cannot load TLS_CERT_FILE/TLS_KEY_FILE: {e}"))
}

fn modified(settings: &TlsSettings) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&settings.cert_file)?, m(&settings.key_file)?))
}

/// Watches the files and reloads `config` in place; runs as one of the server's jobs until
/// it shuts down.
pub async fn keep_fresh(settings: TlsSettings, config: RustlsConfig) {
    let mut seen = modified(&settings);
    let mut tick = tokio::time::interval(Duration::from_secs(settings.reload_seconds.max(1)));
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let forced = async {
            match hangup.as_mut() {
                Some(s) => s.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let forced = std::future::pending::<bool>();
        let force = tokio::select! {
            _ = tick.tick() => false,
            f = forced => f,
        };
        let now = modified(&settings);
        if !force && now == seen {
            continue;
        }
        match config
            .reload_from_pem_file(&settings.cert_file, &settings.key_file)
            .await
        {
            Ok(()) => {
                seen = now;
                tracing::info!("TLS certificate reloaded");
            }
            Err(e) => tracing::warn!(error = %e, "TLS certificate reload failed; keeping the current one"),
        }
    }
}

/// Drops connections that send nothing within the deadline. hyper's header read timeout
/// starts at the first byte, so without this an idle TCP connection would be held forever.
#[derive(Clone, Copy, Debug)]
pub struct FirstByteWithin(pub std::time::Duration);

impl<S: Send + 'static> axum_server::accept::Accept<tokio::net::TcpStream, S> for FirstByteWithin {
    type Stream = tokio::net::TcpStream;
    type Service = S;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<(tokio::net::TcpStream, S)>> + Send>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        let deadline = self.0;
        Box::pin(async move {
            let mut first = [0u8; 1];
            match tokio::time::timeout(deadline, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => Ok((stream, service)),
                Ok(Ok(_)) => Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
            }
        })
    }
}
