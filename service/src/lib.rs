//! e2ei-service: what every service binary (backend, authority) shares — structured logs,
//! serving a router over rustls or plain HTTP with graceful shutdown on SIGINT/SIGTERM, and
//! opening or creating the keys a configuration names.

pub mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_signer::{GenerateOptions, KeyUri, Signer, SignerError};
use serde::Deserialize;

/// How long in-flight requests may finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Log output.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// TLS certificate chain and key (PEM).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub certificate: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Installs the global log subscriber; the filter comes from `E2EI_LOG` (default `info`).
pub fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("E2EI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Serves `app` on `listen` (HTTPS when `tls` is given) until SIGINT/SIGTERM, then lets
/// in-flight requests finish for up to [`SHUTDOWN_GRACE`].
pub async fn serve(app: Router, listen: SocketAddr, tls: Option<&TlsFiles>) -> Result<(), String> {
    // The peer address reaches handlers as `ConnectInfo<SocketAddr>` (per-IP rate limits, logs).
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));
    match tls {
        Some(tls) => {
            let rustls =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.certificate, &tls.key)
                    .await
                    .map_err(|e| format!("TLS files: {e}"))?;
            tracing::info!(%listen, "serving HTTPS");
            axum_server::bind_rustls(listen, rustls)
                .handle(handle)
                .serve(app)
                .await
        }
        None => {
            tracing::info!(%listen, "serving plain HTTP (TLS ends at a proxy)");
            axum_server::bind(listen).handle(handle).serve(app).await
        }
    }
    .map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_on_signal(handle: axum_server::Handle<SocketAddr>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
    handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
}

/// Opens the key a URI names.
pub fn open_key(uri: &str) -> Result<Signer, String> {
    let parsed: KeyUri = uri.parse().map_err(|e: SignerError| e.to_string())?;
    Signer::open(&parsed).map_err(|e| e.to_string())
}

/// Creates the `file:` keys among `wanted` that do not exist yet (other kinds of key are made by
/// their ceremonies); returns a line per key created.
pub fn generate_missing_keys<'a>(
    wanted: impl IntoIterator<Item = (&'a str, KeyAlgorithm)>,
) -> Result<Vec<String>, String> {
    let mut created = Vec::new();
    for (uri, alg) in wanted {
        let parsed: KeyUri = uri.parse().map_err(|e: SignerError| e.to_string())?;
        if let KeyUri::File(file) = &parsed {
            if file.path.exists() {
                continue;
            }
            if let Some(dir) = file.path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            let signer = Signer::generate(&parsed, alg, &GenerateOptions::default())
                .map_err(|e| e.to_string())?;
            created.push(format!("generated {alg} key {}", signer.describe()));
        }
    }
    Ok(created)
}
