//! The backend's state and settings, shared by every handler.

use std::sync::Arc;
use std::time::Duration;

use e2ei_core::clock::Clock;
use e2ei_core::id::Domain;
use e2ei_dpop::{BackendKeys, BackendPolicy};

use crate::db::Db;
use crate::password::PasswordCost;
use crate::zauth::ZauthKeys;

/// Lifetimes and limits.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The federation domain: client ids, handles and the DPoP `htu` use it.
    pub domain: Domain,
    /// Access tokens live 15 minutes.
    pub access_token_ttl: Duration,
    /// Persistent cookies live 1 year.
    pub persistent_cookie_ttl: Duration,
    /// Session cookies live 1 week.
    pub session_cookie_ttl: Duration,
    /// A refresh with a cookie older than this also renews the cookie.
    pub cookie_renewal_age: Duration,
    /// At most this many persistent and this many session cookies per user.
    pub max_cookies_per_kind: i64,
    /// At most this many permanent clients per user (plus one temporary).
    pub max_permanent_clients: i64,
    /// Backend nonces live this long.
    pub nonce_ttl: Duration,
    /// DPoP proof checks and access-token lifetime.
    pub dpop: BackendPolicy,
    /// Password hashing cost.
    pub password_cost: PasswordCost,
}

impl Settings {
    /// Wire's defaults for `domain`.
    pub fn new(domain: Domain) -> Self {
        Self {
            domain,
            access_token_ttl: Duration::from_secs(15 * 60),
            persistent_cookie_ttl: Duration::from_secs(365 * 24 * 3600),
            session_cookie_ttl: Duration::from_secs(7 * 24 * 3600),
            cookie_renewal_age: Duration::from_secs(90 * 24 * 3600),
            max_cookies_per_kind: 32,
            max_permanent_clients: 7,
            nonce_ttl: e2ei_dpop::nonce::DEFAULT_NONCE_TTL,
            dpop: BackendPolicy::default(),
            password_cost: PasswordCost::default(),
        }
    }
}

/// Everything a request handler needs.
pub struct AppState {
    /// Storage.
    pub db: Db,
    /// Token signing keys.
    pub zauth: ZauthKeys,
    /// DPoP access-token signing keys, one per algorithm.
    pub dpop_keys: BackendKeys,
    /// Settings.
    pub settings: Settings,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Counters for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Fan-out of new notifications to this process's websockets.
    pub hub: crate::notifications::Hub,
    /// The CRL proxy, when `[crl_proxy]` is configured.
    pub crl_proxy: Option<crate::crl_proxy::CrlProxy>,
    /// SCIM's public URL and limits.
    pub scim: crate::scim::ScimSettings,
    /// Certificate revocations for deprovisioned devices: the authority and the worker's wake-up.
    pub revocations: crate::revocations::Revocations,
}

impl AppState {
    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }
}

/// The state as handlers receive it.
pub type SharedState = Arc<AppState>;
