//! `backend.toml`: the service's configuration. Relative paths (key files, TLS files, a SQLite
//! database) are relative to the file. `E2EI_BACKEND_LISTEN`, `E2EI_BACKEND_DATABASE` and
//! `E2EI_BACKEND_DOMAIN` override the file.
//!
//! ```toml
//! domain = "wire.example.com"
//! listen = "127.0.0.1:8080"
//! database = "sqlite://backend.db"
//! log_format = "text"             # or "json"
//!
//! [tls]                           # omit to serve plain HTTP behind a TLS proxy
//! certificate = "tls/backend.pem"
//! key = "tls/backend.key"
//!
//! [tokens]                        # Ed25519 keys for Wire access/user tokens; newest last
//! keys = ["file:keys/zauth-1.key"]
//!
//! [[dpop.keys]]                   # one DPoP access-token key per algorithm
//! alg = "ed25519"
//! uri = "file:keys/dpop-ed25519.key"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::id::Domain;
use e2ei_service::{LogFormat, TlsFiles};
use e2ei_signer::KeyUri;
use serde::Deserialize;

use crate::app::Settings;

/// Environment variables that override the file.
pub const ENV_LISTEN: &str = "E2EI_BACKEND_LISTEN";
/// See [`ENV_LISTEN`].
pub const ENV_DATABASE: &str = "E2EI_BACKEND_DATABASE";
/// See [`ENV_LISTEN`].
pub const ENV_DOMAIN: &str = "E2EI_BACKEND_DOMAIN";

/// The file's shape.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Federation domain.
    pub domain: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database: String,
    /// `text` or `json` logs.
    #[serde(default)]
    pub log_format: LogFormat,
    /// TLS, or plain HTTP when absent.
    pub tls: Option<TlsFiles>,
    /// Token keys.
    pub tokens: TokensConfig,
    /// DPoP settings and keys.
    #[serde(default)]
    pub dpop: DpopConfig,
}

/// Wire token keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    /// Ed25519 key URIs, oldest first (index 1).
    pub keys: Vec<String>,
}

/// DPoP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpopConfig {
    /// Signing keys.
    #[serde(default)]
    pub keys: Vec<DpopKey>,
    /// Tolerance for client clocks (seconds).
    #[serde(default = "default_skew")]
    pub max_skew_secs: u64,
    /// Latest proof `exp` accepted, ahead of now (seconds).
    #[serde(default = "default_expiration")]
    pub proof_expiration_secs: u64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            max_skew_secs: default_skew(),
            proof_expiration_secs: default_expiration(),
        }
    }
}

fn default_skew() -> u64 {
    1
}

fn default_expiration() -> u64 {
    300
}

/// One DPoP key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpopKey {
    /// Its algorithm.
    pub alg: KeyAlgorithm,
    /// Its key URI.
    pub uri: String,
}

impl Config {
    /// Reads `path`, applies environment overrides and resolves relative paths.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut config: Self =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Ok(listen) = std::env::var(ENV_LISTEN) {
            config.listen = listen.parse().map_err(|e| format!("{ENV_LISTEN}: {e}"))?;
        }
        if let Ok(database) = std::env::var(ENV_DATABASE) {
            config.database = database;
        }
        if let Ok(domain) = std::env::var(ENV_DOMAIN) {
            config.domain = domain;
        }
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base)?;
        Ok(config)
    }

    fn resolve(&mut self, base: &Path) -> Result<(), String> {
        if let Some(rest) = self.database.strip_prefix("sqlite://") {
            let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
            let file = if Path::new(file).is_absolute() || file.starts_with(':') {
                PathBuf::from(file)
            } else {
                base.join(file)
            };
            // Create the file on first start.
            let query = if query.is_empty() {
                "mode=rwc".to_owned()
            } else {
                query.to_owned()
            };
            self.database = format!("sqlite://{}?{query}", file.display());
        }
        if let Some(tls) = &mut self.tls {
            tls.certificate = base.join(&tls.certificate);
            tls.key = base.join(&tls.key);
        }
        for uri in &mut self.tokens.keys {
            *uri = resolve_uri(uri, base)?;
        }
        for key in &mut self.dpop.keys {
            key.uri = resolve_uri(&key.uri, base)?;
        }
        Ok(())
    }

    /// The service settings this file describes.
    pub fn settings(&self) -> Result<Settings, String> {
        let domain = Domain::new(self.domain.clone()).map_err(|e| format!("domain: {e}"))?;
        let mut settings = Settings::new(domain);
        settings.dpop.max_skew = Duration::from_secs(self.dpop.max_skew_secs);
        settings.dpop.max_proof_lifetime = Duration::from_secs(self.dpop.proof_expiration_secs);
        Ok(settings)
    }
}

/// Resolves a key URI's relative paths against `base`.
fn resolve_uri(uri: &str, base: &Path) -> Result<String, String> {
    let parsed: KeyUri = uri.parse().map_err(|e| format!("key URI `{uri}`: {e}"))?;
    Ok(parsed.relative_to(base).to_string())
}
