//! `acme.toml`: the authority's configuration. Relative paths are relative to the file;
//! `E2EI_ACME_LISTEN`, `E2EI_ACME_DATABASE` and `E2EI_ACME_BASE_URL` override it.
//!
//! ```toml
//! base_url = "https://acme.wire.example.com"   # the origin clients see
//! listen = "127.0.0.1:8443"
//! database = "sqlite://acme.db"                # or postgres://…
//! roots = "pki/root.pem"                        # served at /roots.pem
//! federation = ["pki/intermediate-cross.pem"]   # served at /federation (+ alternate chains)
//!
//! [rate_limits]                                 # defaults: see RateLimits; count 0 = off
//! new_accounts_per_ip = { count = 3000, period_secs = 10800 }
//! new_orders_per_account = { count = 300, period_secs = 10800 }
//!
//! [issuer]
//! key = "file:pki/intermediate.key"             # or pkcs11:… / yubikey:…
//! certificate = "pki/intermediate.pem"          # issuing certificate first, then any others
//! crl_url = "https://acme.wire.example.com/crl"  # CRLs served here (shard k at /crl/k)
//!
//! [crl]                                         # optional; defaults shown
//! validity_hours = 24                           # regenerated at two thirds, and on revocation
//! shards = 1
//! keep_after_expiry_hours = 24
//! max_age_seconds = 300                         # Cache-Control max-age, never past nextUpdate
//!
//! [admin]                                       # optional: POST /admin/revocations
//! token = "env:E2EI_ADMIN_TOKEN"                # or file:PATH; never inline
//!
//! [[provisioners]]
//! name = "wire"
//! [provisioners.wire]
//! dpop_target = "https://{domain}/clients/{device_id}/access-token"
//! oidc_issuer = "https://idp.wire.example.com"
//! backend_keys = ["keys/dpop-ed25519.pub.pem", "keys/dpop-p256.pub.pem"]
//!
//! [[provisioners]]
//! name = "acme"                                 # standard ACME for DNS names
//! [provisioners.standard]                       # every field: crate::standard
//! allowed_domains = ["*.wire.example.com"]
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use e2ei_core::key::PublicKey;
use e2ei_core::x509::certificates_from_pem_or_der;
use e2ei_dpop::{AcmePolicy, BackendPublicKeys};
use e2ei_service::{LogFormat, TlsFiles, open_key};
use e2ei_signer::{KeyUri, SecretSource};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::app::{
    DEFAULT_NONCE_TTL, DEFAULT_STALE_PROCESSING_SECS, EabSettings, Provisioner, ProvisionerKind,
    RateLimits, Settings, WireSettings,
};
use crate::issuer::{CrlPolicy, DEFAULT_MAX_VALIDITY, Issuer};

/// Environment overrides.
pub const ENV_LISTEN: &str = "E2EI_ACME_LISTEN";
/// See [`ENV_LISTEN`].
pub const ENV_DATABASE: &str = "E2EI_ACME_DATABASE";
/// See [`ENV_LISTEN`].
pub const ENV_BASE_URL: &str = "E2EI_ACME_BASE_URL";

/// The file's shape.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The origin clients see (no trailing slash).
    pub base_url: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database: String,
    /// Logs.
    #[serde(default)]
    pub log_format: LogFormat,
    /// TLS, or plain HTTP behind a proxy.
    pub tls: Option<TlsFiles>,
    /// Trust anchors served at `/roots.pem`.
    pub roots: Option<PathBuf>,
    /// PEM files of cross-signed intermediates served at `/federation`; one that certifies the
    /// issuing key (the partner root's cross-signature of our intermediate) also gives
    /// certificate downloads an alternate chain.
    #[serde(default)]
    pub federation: Vec<PathBuf>,
    /// Rate limits (`[rate_limits]`, each `{ count, period_secs }`; count 0 turns one off).
    #[serde(default)]
    pub rate_limits: RateLimits,
    /// Seconds after which an order left in `processing` by a stopped process is `ready` again
    /// (default 60).
    pub stale_processing_secs: Option<i64>,
    /// Header with the client address set by a trusted reverse proxy, e.g. `X-Forwarded-For`
    /// (last entry taken). Leave unset when clients connect directly: a client could forge it.
    pub client_ip_header: Option<String>,
    /// The issuing CA.
    pub issuer: Option<IssuerConfig>,
    /// CRL publication.
    pub crl: Option<CrlConfig>,
    /// The admin API (`POST /admin/revocations`, used by `e2ei-ca revoke`).
    pub admin: Option<AdminConfig>,
    /// Provisioners.
    pub provisioners: Vec<ProvisionerConfig>,
}

/// The issuing CA.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Key URI of the intermediate.
    pub key: String,
    /// PEM: the issuing certificate, then further intermediates up to the root (excluded).
    pub certificate: PathBuf,
    /// CRL distribution point put in leaves (shard 0; shard `k` is `{crl_url}/{k}`). Set, the
    /// authority publishes CRLs there (the URL's path is served).
    pub crl_url: Option<String>,
    /// Longest leaf validity in days (default 90).
    pub max_validity_days: Option<u64>,
}

/// CRL publication (`[crl]`; needs `issuer.crl_url`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlConfig {
    /// thisUpdate to nextUpdate, hours (default 24); regenerated at two thirds of it.
    pub validity_hours: Option<u64>,
    /// Shards for new certificates (default 1).
    pub shards: Option<u32>,
    /// How long a revoked certificate stays listed after its notAfter, hours (default 24).
    pub keep_after_expiry_hours: Option<u64>,
    /// Longest `Cache-Control: max-age` of a served CRL, seconds (default 300; never past
    /// nextUpdate).
    pub max_age_seconds: Option<u64>,
}

/// The admin API (`[admin]`): off unless a token is configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where the bearer token comes from: `env:NAME` or `file:PATH` (never inline).
    pub token: String,
}

/// One provisioner.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionerConfig {
    /// URL segment.
    pub name: String,
    /// Terms of service URL.
    pub terms_of_service: Option<String>,
    /// Website.
    pub website: Option<String>,
    /// External account binding.
    pub eab: Option<EabConfig>,
    /// Wire options (exactly one of `wire` and `standard`).
    pub wire: Option<WireConfig>,
    /// Standard ACME options for DNS names (see [`crate::standard`]).
    pub standard: Option<crate::standard::StandardConfig>,
}

/// External account binding keys, each read from a secret source (`env:NAME` / `file:PATH`,
/// base64url of the MAC key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EabConfig {
    /// Require a binding for new accounts.
    #[serde(default)]
    pub required: bool,
    /// Key id → secret source of the MAC key.
    #[serde(default)]
    pub keys: HashMap<String, String>,
}

/// Wire provisioner options (protocol doc §2.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireConfig {
    /// `wire-dpop-01` target template with `{domain}` and `{device_id}`.
    pub dpop_target: String,
    /// The IdP issuer URL (`wire-oidc-01` target). A query such as `?client_id=wireapp` is kept
    /// in the target for clients and dropped for the expected `iss`, as step-ca does.
    pub oidc_issuer: String,
    /// Accepted ID-token signature algorithms (default: RS256, RS384, RS512, PS256, PS384,
    /// PS512, ES256, ES384, ES512, EdDSA).
    #[serde(default)]
    pub oidc_algorithms: Vec<String>,
    /// The OAuth client id Wire clients use at the IdP (default `wireapp`).
    #[serde(default = "default_client_id")]
    pub oidc_client_id: String,
    /// How `preferred_username` becomes the handle URI, e.g. `wireapp://%40{username}@{domain}`;
    /// absent: taken as it is. `{claim}` inserts any string claim of the ID token.
    pub preferred_username_transform: Option<String>,
    /// How the display name is formed, e.g. `{given_name} {family_name}`; absent: `name`.
    pub name_transform: Option<String>,
    /// Where OIDC discovery happens when it is not the issuer (step-ca's `discoveryBaseUrl`):
    /// `/.well-known/openid-configuration` is appended.
    pub oidc_discovery_url: Option<String>,
    /// The IdP's JWKS URL; set, discovery is skipped.
    pub oidc_jwks_url: Option<String>,
    /// PEM public keys of the backend's DPoP signing keys (`e2ei-backend dpop-keys`).
    pub backend_keys: Vec<PathBuf>,
    /// Shortest leaf validity an order may ask for (default `60s`).
    pub min_validity: Option<String>,
    /// Leaf validity when the order asks for none (default `90d`).
    pub default_validity: Option<String>,
    /// Longest leaf validity; longer requests are capped (default `90d`).
    pub max_validity: Option<String>,
    /// Apply the stricter §6.4 access-token checks.
    #[serde(default)]
    pub strict: bool,
}

fn default_client_id() -> String {
    "wireapp".into()
}

impl Config {
    /// Reads `path`, applies environment overrides and resolves relative paths.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut config: Self =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Ok(v) = std::env::var(ENV_LISTEN) {
            config.listen = v.parse().map_err(|e| format!("{ENV_LISTEN}: {e}"))?;
        }
        if let Ok(v) = std::env::var(ENV_DATABASE) {
            config.database = v;
        }
        if let Ok(v) = std::env::var(ENV_BASE_URL) {
            config.base_url = v;
        }
        config.base_url = config.base_url.trim_end_matches('/').to_owned();
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &PathBuf| {
            if p.is_relative() {
                base.join(p)
            } else {
                p.clone()
            }
        };
        if let Some(rest) = config.database.strip_prefix("sqlite://") {
            let (file, query) = rest.split_once('?').unwrap_or((rest, "mode=rwc"));
            config.database = format!(
                "sqlite://{}?{query}",
                resolve(&PathBuf::from(file)).display()
            );
        }
        if let Some(tls) = &mut config.tls {
            tls.certificate = resolve(&tls.certificate);
            tls.key = resolve(&tls.key);
        }
        config.roots = config.roots.as_ref().map(resolve);
        config.federation = config.federation.iter().map(resolve).collect();
        if let Some(issuer) = &mut config.issuer {
            issuer.certificate = resolve(&issuer.certificate);
            let uri: KeyUri = issuer.key.parse().map_err(|e| format!("issuer key: {e}"))?;
            issuer.key = uri.relative_to(base).to_string();
        }
        for p in &mut config.provisioners {
            if let Some(wire) = &mut p.wire {
                wire.backend_keys = wire.backend_keys.iter().map(resolve).collect();
            }
            if let Some(eab) = &mut p.eab {
                for source in eab.keys.values_mut() {
                    if let Some(file) = source.strip_prefix("file:") {
                        *source = format!("file:{}", resolve(&PathBuf::from(file)).display());
                    }
                }
            }
        }
        Ok(config)
    }

    /// The service settings.
    pub fn settings(&self) -> Result<Settings, String> {
        let mut provisioners = Vec::new();
        for p in &self.provisioners {
            if provisioners.iter().any(|q: &Provisioner| q.name == p.name) {
                return Err(format!("two provisioners named `{}`", p.name));
            }
            let kind = match (&p.wire, &p.standard) {
                (None, Some(standard)) => {
                    ProvisionerKind::Standard(Box::new(standard.settings(&p.name)?))
                }
                (None, None) | (Some(_), Some(_)) => {
                    return Err(format!(
                        "provisioner `{}` needs exactly one of [provisioners.wire] and [provisioners.standard]",
                        p.name
                    ));
                }
                (Some(wire), None) => {
                    if let Some(alg) = wire
                        .oidc_algorithms
                        .iter()
                        .find(|a| !e2ei_acme::oidc::IDP_ALGS.contains(&a.as_str()))
                    {
                        return Err(format!(
                            "provisioner `{}`: ID-token algorithm `{alg}` is not supported",
                            p.name
                        ));
                    }
                    let mut keys = Vec::new();
                    for file in &wire.backend_keys {
                        let pem = std::fs::read_to_string(file)
                            .map_err(|e| format!("{}: {e}", file.display()))?;
                        keys.push(
                            PublicKey::from_pem(&pem)
                                .map_err(|e| format!("{}: {e}", file.display()))?,
                        );
                    }
                    ProvisionerKind::Wire(Box::new(WireSettings {
                        backend_keys: BackendPublicKeys::new(keys),
                        dpop_target: wire.dpop_target.clone(),
                        idp: crate::oidc::Idp::new(
                            &wire.oidc_issuer,
                            &wire.oidc_client_id,
                            e2ei_acme::oidc::ClaimTransform {
                                name: wire.name_transform.clone(),
                                preferred_username: wire.preferred_username_transform.clone(),
                            },
                        )
                        .with_algorithms(wire.oidc_algorithms.clone())
                        .with_discovery(
                            wire.oidc_discovery_url.clone(),
                            wire.oidc_jwks_url.clone(),
                        ),
                        dpop_policy: if wire.strict {
                            AcmePolicy::strict()
                        } else {
                            AcmePolicy::default()
                        },
                        validity: crate::standard::LeafValidity::from_config(
                            &wire.min_validity,
                            &wire.default_validity,
                            &wire.max_validity,
                            crate::standard::LeafValidity::wire(),
                        )
                        .map_err(|e| format!("provisioner `{}`: {e}", p.name))?,
                    }))
                }
            };
            let eab = match &p.eab {
                None => EabSettings::default(),
                Some(eab) => {
                    let mut keys = HashMap::new();
                    for (kid, source) in &eab.keys {
                        let source = SecretSource::parse(source)
                            .map_err(|e| format!("eab key {kid}: {e}"))?;
                        let secret = source.read().map_err(|e| format!("eab key {kid}: {e}"))?;
                        let key = base64_url(secret.expose())
                            .ok_or_else(|| format!("eab key {kid} is not base64url"))?;
                        keys.insert(kid.clone(), key);
                    }
                    EabSettings {
                        required: eab.required,
                        keys,
                    }
                }
            };
            provisioners.push(Provisioner {
                name: p.name.clone(),
                kind,
                terms_of_service: p.terms_of_service.clone(),
                website: p.website.clone(),
                eab,
            });
        }
        Ok(Settings {
            base_url: self.base_url.clone(),
            provisioners,
            nonce_ttl: DEFAULT_NONCE_TTL,
            rate_limits: self.rate_limits,
            stale_processing_secs: self
                .stale_processing_secs
                .unwrap_or(DEFAULT_STALE_PROCESSING_SECS)
                .max(1),
            client_ip_header: self.client_ip_header.clone(),
        })
    }

    /// The certificates served at `/federation`.
    pub fn federation(&self) -> Result<Vec<x509_cert::Certificate>, String> {
        let mut out = Vec::new();
        for file in &self.federation {
            let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let certs = certificates_from_pem_or_der(&bytes)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            if certs.is_empty() {
                return Err(format!("{}: no certificate", file.display()));
            }
            out.extend(certs);
        }
        Ok(out)
    }

    /// The issuing CA, if configured.
    pub fn issuer(&self) -> Result<Option<Issuer>, String> {
        let Some(issuer) = &self.issuer else {
            return Ok(None);
        };
        let pem = std::fs::read(&issuer.certificate)
            .map_err(|e| format!("{}: {e}", issuer.certificate.display()))?;
        let mut certs = certificates_from_pem_or_der(&pem)
            .map_err(|e| format!("{}: {e}", issuer.certificate.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no certificate", issuer.certificate.display()));
        }
        let first = certs.remove(0);
        let max = issuer
            .max_validity_days
            .map(|d| Duration::from_secs(d * 24 * 3600))
            .unwrap_or(DEFAULT_MAX_VALIDITY);
        let mut built = Issuer::new(
            open_key(&issuer.key)?,
            first,
            certs,
            issuer.crl_url.clone(),
            max,
        )?;
        match (&issuer.crl_url, &self.crl) {
            (Some(url), crl) => {
                let hours = |h: Option<u64>, default: Duration| {
                    h.map(|h| Duration::from_secs(h * 3600)).unwrap_or(default)
                };
                let shards = crl.as_ref().and_then(|c| c.shards).unwrap_or(1);
                let policy = CrlPolicy::new(
                    url,
                    std::num::NonZeroU32::new(shards).ok_or("crl.shards must be at least 1")?,
                    hours(
                        crl.as_ref().and_then(|c| c.validity_hours),
                        CrlPolicy::DEFAULT_VALIDITY,
                    ),
                    hours(
                        crl.as_ref().and_then(|c| c.keep_after_expiry_hours),
                        CrlPolicy::DEFAULT_KEEP_AFTER_EXPIRY,
                    ),
                )
                .map_err(|e| format!("[crl]: {e}"))?
                .with_max_age(
                    crl.as_ref()
                        .and_then(|c| c.max_age_seconds)
                        .map(Duration::from_secs)
                        .unwrap_or(CrlPolicy::DEFAULT_MAX_AGE),
                );
                built = built.with_crl(policy);
            }
            (None, Some(_)) => return Err("[crl] needs issuer.crl_url".into()),
            (None, None) => {}
        }
        Ok(Some(built))
    }

    /// SHA-256 of the admin API's bearer token, read from its source.
    pub fn admin_token_sha256(&self) -> Result<Option<[u8; 32]>, String> {
        let Some(admin) = &self.admin else {
            return Ok(None);
        };
        let source = SecretSource::parse(&admin.token).map_err(|e| format!("admin token: {e}"))?;
        let token = source.read().map_err(|e| format!("admin token: {e}"))?;
        let token = token.expose().trim();
        if token.len() < 16 {
            return Err("admin token: at least 16 characters".into());
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Ok(Some(out))
    }
}

fn base64_url(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim())
        .ok()
        .map(Zeroizing::new)
}
