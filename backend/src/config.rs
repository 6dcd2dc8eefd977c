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
//!
//! [crl_proxy]                     # omit to serve no /proxyCrl
//! allowed_hosts = ["acme.wire.example.com", "acme.federated.example:8443"]
//! path = "/crl"                   # the CRL's path on every upstream
//! shards = 0                      # n > 1: also /proxyCrl/{host}/crl/{1..n-1}
//! timeout_seconds = 10
//! max_bytes = 16777216
//! cache_seconds = 60              # never past nextUpdate; 0: no cache
//! trust_anchors = "tls/acme-ca.pem"   # extra TLS roots for the upstreams
//! public_url = "https://wire.example.com/proxyCrl"   # advertised as crlProxy
//!
//! [scim]                          # SCIM 2.0 at /scim/v2 (always served; these are its settings)
//! public_url = "https://wire.example.com/scim/v2"     # base of meta.location; default from domain
//! max_results = 1000              # largest page of a list or filter query
//!
//! [revocation]                    # where SCIM deprovisioning revokes device certificates
//! authority = "https://acme.wire.example.com"         # its admin API: POST /admin/revocations
//! token = "env:E2EI_ADMIN_TOKEN"  # or file:PATH; never inline
//! trust_anchors = "tls/acme-ca.pem"                   # extra TLS roots for the authority
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::id::Domain;
use e2ei_service::{LogFormat, TlsFiles};
use e2ei_signer::KeyUri;
use serde::Deserialize;

use e2ei_dpop::BackendKeys;
use e2ei_service::open_key;

use crate::app::{AppState, Settings};
use crate::crl_proxy::{self, CrlProxy, ProxyPolicy, UpstreamHost};
use crate::revocations::AuthorityClient;
use crate::scim::ScimSettings;
use crate::zauth::ZauthKeys;
use e2ei_signer::SecretSource;

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
    /// The CRL proxy, or none.
    pub crl_proxy: Option<CrlProxyConfig>,
    /// SCIM settings.
    #[serde(default)]
    pub scim: ScimConfig,
    /// The authority that revokes deprovisioned devices' certificates, or none.
    pub revocation: Option<RevocationConfig>,
}

/// `[scim]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// The base URL clients reach `/scim/v2` at; default `https://{domain}/scim/v2`.
    pub public_url: Option<String>,
    /// Largest page of a query (ServiceProviderConfig `filter.maxResults`).
    pub max_results: Option<u64>,
}

/// `[revocation]`: the identity authority's admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationConfig {
    /// The authority's base URL (`{authority}/admin/revocations`).
    pub authority: String,
    /// The admin bearer token: `env:NAME` or `file:PATH`.
    pub token: String,
    /// PEM file of extra TLS trust anchors for the authority.
    pub trust_anchors: Option<PathBuf>,
    /// Time limit of one request (seconds).
    #[serde(default = "default_revocation_timeout")]
    pub timeout_seconds: u64,
}

fn default_revocation_timeout() -> u64 {
    10
}

/// `[crl_proxy]`: which CRLs `GET /proxyCrl/{host}` forwards, and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlProxyConfig {
    /// `host` or `host:port` of every authority whose CRL is proxied: the local one and the
    /// federated ones. Nothing else is ever fetched.
    pub allowed_hosts: Vec<String>,
    /// The CRL's path on the upstreams.
    #[serde(default = "default_crl_path")]
    pub path: String,
    /// Shards per upstream (e2ei-crl's `{path}/{n}` URLs); 0 or 1: the plain path only.
    #[serde(default)]
    pub shards: u32,
    /// Time limit of one upstream fetch.
    #[serde(default = "default_crl_timeout")]
    pub timeout_seconds: u64,
    /// Largest CRL passed on.
    #[serde(default = "default_crl_max_bytes")]
    pub max_bytes: usize,
    /// Longest time a CRL is served from memory (never past its nextUpdate); 0: no cache.
    #[serde(default = "default_crl_cache")]
    pub cache_seconds: u64,
    /// PEM file of extra TLS trust anchors for the upstreams (a private CA); the platform's
    /// roots are trusted as well.
    pub trust_anchors: Option<PathBuf>,
    /// The URL the backend advertises as `crlProxy`; default `https://{domain}/proxyCrl`.
    pub public_url: Option<String>,
}

fn default_crl_path() -> String {
    crl_proxy::DEFAULT_PATH.into()
}

fn default_crl_timeout() -> u64 {
    crl_proxy::DEFAULT_TIMEOUT.as_secs()
}

fn default_crl_max_bytes() -> usize {
    crl_proxy::DEFAULT_MAX_BYTES
}

fn default_crl_cache() -> u64 {
    crl_proxy::DEFAULT_CACHE_FOR.as_secs()
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
        if let Some(anchors) = self
            .crl_proxy
            .as_mut()
            .and_then(|p| p.trust_anchors.as_mut())
        {
            *anchors = base.join(&*anchors);
        }
        if let Some(anchors) = self
            .revocation
            .as_mut()
            .and_then(|r| r.trust_anchors.as_mut())
        {
            *anchors = base.join(&*anchors);
        }
        Ok(())
    }

    /// The SCIM base URL and page limit.
    pub fn scim(&self) -> Result<ScimSettings, String> {
        let public_url = match &self.scim.public_url {
            Some(url) => {
                match url::Url::parse(url) {
                    Ok(u)
                        if matches!(u.scheme(), "https" | "http")
                            && u.host().is_some()
                            && u.query().is_none() => {}
                    _ => return Err(format!("scim.public_url: `{url}` is not an http(s) URL")),
                }
                url.trim_end_matches('/').to_owned()
            }
            None => format!("https://{}/scim/v2", self.domain),
        };
        let max_results = self
            .scim
            .max_results
            .unwrap_or(ScimSettings::DEFAULT_MAX_RESULTS);
        if max_results == 0 {
            return Err("scim.max_results: at least 1".into());
        }
        Ok(ScimSettings {
            public_url,
            max_results,
        })
    }

    /// The authority client `[revocation]` describes (reading its token), or `None`.
    pub fn revocation_authority(&self) -> Result<Option<AuthorityClient>, String> {
        let Some(r) = &self.revocation else {
            return Ok(None);
        };
        match url::Url::parse(&r.authority) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {}
            _ => {
                return Err(format!(
                    "revocation.authority: `{}` is not an http(s) URL",
                    r.authority
                ));
            }
        }
        let token = SecretSource::parse(&r.token)
            .map_err(|e| format!("revocation.token: {e}"))?
            .read()
            .map_err(|e| format!("revocation.token: {e}"))?;
        if token.expose().trim().is_empty() {
            return Err("revocation.token: empty".into());
        }
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_secs(r.timeout_seconds.max(1)))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &r.trust_anchors {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{}: {e}", path.display()))?
            {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build().map_err(|e| format!("revocation: {e}"))?;
        Ok(Some(AuthorityClient::new(&r.authority, token, http)))
    }

    /// The CRL proxy `[crl_proxy]` describes (reading its trust anchors), or `None`.
    pub fn crl_proxy(&self) -> Result<Option<CrlProxy>, String> {
        let Some(c) = &self.crl_proxy else {
            return Ok(None);
        };
        let allowed_hosts = c
            .allowed_hosts
            .iter()
            .map(|h| {
                h.parse::<UpstreamHost>()
                    .map_err(|e| format!("crl_proxy.allowed_hosts: `{h}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        crl_proxy::validate_path(&c.path).map_err(|e| format!("crl_proxy.path: {e}"))?;
        if c.timeout_seconds == 0 {
            return Err("crl_proxy.timeout_seconds: at least 1".into());
        }
        if c.max_bytes == 0 {
            return Err("crl_proxy.max_bytes: at least 1".into());
        }
        let public_url = match &c.public_url {
            Some(url) => {
                match url::Url::parse(url) {
                    Ok(u) if u.scheme() == "https" && u.host().is_some() && u.query().is_none() => {
                    }
                    _ => return Err(format!("crl_proxy.public_url: `{url}` is not an https URL")),
                }
                url.trim_end_matches('/').to_owned()
            }
            None => format!("https://{}/proxyCrl", self.domain),
        };
        let anchors = match &c.trust_anchors {
            Some(path) => {
                Some(std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?)
            }
            None => None,
        };
        let mut policy = ProxyPolicy::new(allowed_hosts, public_url);
        policy.path = c.path.clone();
        policy.shards = c.shards;
        policy.timeout = Duration::from_secs(c.timeout_seconds);
        policy.max_bytes = c.max_bytes;
        policy.cache_for = Duration::from_secs(c.cache_seconds);
        CrlProxy::new(policy, anchors.as_deref()).map(Some)
    }

    /// The DPoP access-token keys (one per algorithm, each of the configured algorithm).
    pub fn dpop_keys(&self) -> Result<BackendKeys, String> {
        let mut keys = BackendKeys::new();
        for key in &self.dpop.keys {
            let signer = open_key(&key.uri)?;
            if signer.algorithm() != key.alg {
                return Err(format!(
                    "{} is a {} key, configured as {}",
                    signer.describe(),
                    signer.algorithm(),
                    key.alg
                ));
            }
            if keys.get(key.alg).is_some() {
                return Err(format!("two DPoP keys for {}", key.alg));
            }
            keys.insert(signer);
        }
        Ok(keys)
    }

    /// The service state this file describes: keys opened, database connected and migrated,
    /// CRL proxy, SCIM and the revocation authority set up. The binary and the dev stack both
    /// start from here.
    pub async fn app_state(&self) -> Result<AppState, String> {
        let settings = self.settings()?;
        let token_keys = self
            .tokens
            .keys
            .iter()
            .map(|u| open_key(u))
            .collect::<Result<Vec<_>, _>>()?;
        let zauth = ZauthKeys::new(token_keys)?;
        let dpop_keys = self.dpop_keys()?;
        if dpop_keys.public_keys().is_empty() {
            tracing::warn!(
                "no DPoP keys configured: access-token requests will get no-server-key-bundle"
            );
        }
        let db = crate::db::connect(&self.database)
            .await
            .map_err(|e| format!("database {}: {e}", crate::db::redact(&self.database)))?;
        let crl_proxy = self.crl_proxy()?;
        if let Some(proxy) = &crl_proxy {
            tracing::info!(
                hosts = proxy.policy().allowed_hosts.len(),
                advertised = %proxy.policy().public_url,
                "CRL proxy enabled"
            );
        }
        Ok(AppState {
            db,
            zauth,
            dpop_keys,
            settings,
            clock: std::sync::Arc::new(e2ei_core::clock::SystemClock),
            metrics: Default::default(),
            hub: Default::default(),
            crl_proxy,
            scim: self.scim()?,
            revocations: crate::revocations::Revocations {
                authority: self.revocation_authority()?,
                wake: Default::default(),
            },
        })
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
