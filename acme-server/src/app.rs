//! The authority's state and settings.

use std::collections::HashMap;
use std::sync::Arc;

use e2ei_core::clock::Clock;
use e2ei_dpop::{AcmePolicy, BackendPublicKeys};
use zeroize::Zeroizing;

use crate::store::Store;

/// Default ACME nonce lifetime (seconds).
pub const DEFAULT_NONCE_TTL: i64 = 3600;

/// Default for [`Settings::stale_processing_secs`]: issuance takes milliseconds (an HSM
/// signature and a database write), so a minute in `processing` means the process died.
pub const DEFAULT_STALE_PROCESSING_SECS: i64 = 60;

/// Which challenges a provisioner offers.
#[derive(Debug, Clone)]
pub enum ProvisionerKind {
    /// Wire devices: `wireapp-user` / `wireapp-device` identifiers, `wire-oidc-01` and
    /// `wire-dpop-01`.
    Wire(Box<WireSettings>),
    /// Standard ACME: DNS identifiers with http-01, dns-01 and tls-alpn-01.
    Standard(Box<crate::standard::StandardSettings>),
}

/// The Wire provisioner's options (protocol doc §2.4).
#[derive(Debug, Clone)]
pub struct WireSettings {
    /// The backend's DPoP access-token public keys, one per algorithm.
    pub backend_keys: BackendPublicKeys,
    /// The `wire-dpop-01` target: `{domain}` and `{device_id}` are filled from the device
    /// identifier, e.g. `https://{domain}/clients/{device_id}/access-token`.
    pub dpop_target: String,
    /// The IdP (`wire-oidc-01`; its issuer is the challenge target).
    pub idp: crate::oidc::Idp,
    /// Access-token checks (leeway, size, strict §6.4).
    pub dpop_policy: AcmePolicy,
    /// Leaf validity bounds. Wire clients ask for long lifetimes (the reference client for ten
    /// years), so a longer request is capped at the maximum, not refused; a shorter one than
    /// the minimum is refused.
    pub validity: crate::standard::LeafValidity,
}

impl WireSettings {
    /// The `wire-dpop-01` target for a device.
    pub fn dpop_target_for(&self, domain: &str, device_id: &str) -> String {
        self.dpop_target
            .replace("{domain}", domain)
            .replace("{device_id}", device_id)
    }
}

/// External account binding settings.
#[derive(Debug, Clone, Default)]
pub struct EabSettings {
    /// New accounts must present a binding.
    pub required: bool,
    /// MAC keys by key id.
    pub keys: HashMap<String, Zeroizing<Vec<u8>>>,
}

/// One provisioner: its own directory at `/acme/{name}/directory`.
#[derive(Debug, Clone)]
pub struct Provisioner {
    /// URL path segment.
    pub name: String,
    /// Wire or standard.
    pub kind: ProvisionerKind,
    /// Terms of service URL; when set, new accounts must agree.
    pub terms_of_service: Option<String>,
    /// Website for the directory's `meta`.
    pub website: Option<String>,
    /// External account binding.
    pub eab: EabSettings,
}

/// At most `count` requests in `period_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed in the period; 0 turns the limit off.
    pub count: u32,
    /// The sliding window, in seconds.
    pub period_secs: i64,
}

/// Rate limits on new-account and new-order, counted in the database across replicas and
/// answered with `rateLimited` (429) and `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// New accounts per client IP (Wire clients create one account per enrollment).
    pub new_accounts_per_ip: RateLimit,
    /// New orders per account.
    pub new_orders_per_account: RateLimit,
    /// New orders per client IP.
    pub new_orders_per_ip: RateLimit,
}

impl Default for RateLimits {
    /// Generous enough for a large organisation behind one NAT address, tight enough to stop
    /// a runaway client: per 3 hours, 3,000 accounts and 10,000 orders per IP, 300 orders per
    /// account.
    fn default() -> Self {
        const THREE_HOURS: i64 = 3 * 3600;
        Self {
            new_accounts_per_ip: RateLimit {
                count: 3000,
                period_secs: THREE_HOURS,
            },
            new_orders_per_account: RateLimit {
                count: 300,
                period_secs: THREE_HOURS,
            },
            new_orders_per_ip: RateLimit {
                count: 10_000,
                period_secs: THREE_HOURS,
            },
        }
    }
}

impl RateLimits {
    /// No limits (tests and benchmarks that must not be throttled).
    pub const OFF: Self = Self {
        new_accounts_per_ip: RateLimit {
            count: 0,
            period_secs: 1,
        },
        new_orders_per_account: RateLimit {
            count: 0,
            period_secs: 1,
        },
        new_orders_per_ip: RateLimit {
            count: 0,
            period_secs: 1,
        },
    };
}

/// Settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The externally visible origin, e.g. `https://acme.wire.example.com` (no trailing slash);
    /// every URL the authority hands out and every JWS `url` is checked against it.
    pub base_url: String,
    /// Provisioners.
    pub provisioners: Vec<Provisioner>,
    /// ACME nonce lifetime (seconds).
    pub nonce_ttl: i64,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// How long an order may stay in `processing` before it counts as abandoned by a stopped
    /// process and becomes `ready` again (seconds).
    pub stale_processing_secs: i64,
    /// A header carrying the client address set by a trusted reverse proxy (e.g.
    /// `X-Forwarded-For`, whose last entry is taken); none: the TCP peer address.
    pub client_ip_header: Option<String>,
}

impl Settings {
    /// The provisioner named `name`.
    pub fn provisioner(&self, name: &str) -> Option<&Provisioner> {
        self.provisioners.iter().find(|p| p.name == name)
    }

    /// `{base}/acme/{provisioner}/{path}`.
    pub fn url(&self, provisioner: &str, path: &str) -> String {
        format!("{}/acme/{provisioner}/{path}", self.base_url)
    }

    /// Order lifetime (seconds) for new orders and their authorizations.
    pub fn order_ttl(&self) -> i64 {
        24 * 3600
    }

    /// An account's URL.
    pub fn account_url(&self, provisioner: &str, id: &str) -> String {
        self.url(provisioner, &format!("account/{id}"))
    }
}

/// Everything a handler needs.
pub struct AppState {
    /// Storage.
    pub store: Store,
    /// Settings.
    pub settings: Settings,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The issuing intermediate (none: finalize answers `serverInternal`).
    pub issuer: Option<crate::issuer::Issuer>,
    /// The trust anchors served at `/roots.pem`.
    pub roots_pem: Option<String>,
    /// Cross-signed intermediates served at `/federation`; those for the issuing key also give
    /// alternate chains on certificate download.
    pub federation: Vec<x509_cert::Certificate>,
    /// Prometheus metrics.
    pub metrics: Arc<e2ei_service::metrics::Metrics>,
    /// Wakes the CRL publisher after a revocation.
    pub crl_wake: tokio::sync::Notify,
    /// SHA-256 of the bearer token of the admin API (`/admin/…`); none: the API is off.
    pub admin_token_sha256: Option<[u8; 32]>,
}

/// A fresh metrics registry with the authority's counters declared.
pub fn new_metrics() -> Arc<e2ei_service::metrics::Metrics> {
    let metrics = e2ei_service::metrics::Metrics::new("e2ei_acme");
    metrics.declare(crate::api::CERTIFICATES_ISSUED, "Certificates issued.");
    Arc::new(metrics)
}

impl AppState {
    /// Now, Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }
}

/// The state as handlers receive it.
pub type SharedState = Arc<AppState>;

/// At start and then periodically, orders a stopped process left in `processing` become `ready`
/// again, so that none stays half-finalized (their clients can finalize anew).
pub async fn reclaim_stale_orders(state: Arc<AppState>) {
    let every = std::time::Duration::from_secs(
        u64::try_from(state.settings.stale_processing_secs).unwrap_or(60),
    );
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        let stale_before = state.now() - state.settings.stale_processing_secs;
        match state.store.reclaim_all_stale_processing(stale_before).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(orders = n, "orders left in processing are ready again"),
            Err(e) => tracing::error!(error = %e, "reclaiming orders left in processing"),
        }
    }
}
