//! The backend's Prometheus metrics at `GET /metrics` (e2ei-service's registry): requests by
//! route and status with their total duration, and the E2EI counters.

use std::sync::Arc;

/// The counters.
#[derive(Debug)]
pub struct Metrics {
    /// The registry, shared with the request-counting middleware.
    pub registry: Arc<e2ei_service::metrics::Metrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = e2ei_service::metrics::Metrics::new("e2ei_backend");
        registry.declare("dpop_nonces_issued_total", NONCES);
        registry.declare("dpop_access_tokens_issued_total", ISSUED);
        registry.declare("crl_proxy_requests_total", CRL_PROXY);
        registry.declare("scim_deprovisioned_users_total", DEPROVISIONED);
        registry.declare("revocations_delivered_total", REVOCATIONS_DELIVERED);
        registry.declare("revocations_failed_total", REVOCATIONS_FAILED);
        Self {
            registry: Arc::new(registry),
        }
    }
}

const NONCES: &str = "Backend nonces handed out.";
const ISSUED: &str = "DPoP access tokens minted.";
const REFUSED: &str = "DPoP access-token requests refused, by Wire error label.";
const CRL_PROXY: &str = "CRL proxy requests by outcome: fetched, cached, stale (upstream down, \
an earlier copy still before its nextUpdate served), or the Wire error label.";

const DEPROVISIONED: &str = "Users deprovisioned through SCIM (deactivated or deleted).";
const REVOCATIONS_DELIVERED: &str = "Device revocations the identity authority confirmed.";
const REVOCATIONS_FAILED: &str = "Device revocation attempts that failed and wait for a retry.";

impl Metrics {
    /// A SCIM client deactivated or deleted a user.
    pub fn user_deprovisioned(&self) {
        self.registry
            .inc("scim_deprovisioned_users_total", DEPROVISIONED, &[]);
    }

    /// The authority confirmed a device revocation.
    pub fn revocation_delivered(&self) {
        self.registry
            .inc("revocations_delivered_total", REVOCATIONS_DELIVERED, &[]);
    }

    /// A device revocation attempt failed.
    pub fn revocation_failed(&self) {
        self.registry
            .inc("revocations_failed_total", REVOCATIONS_FAILED, &[]);
    }

    /// A nonce was handed out.
    pub fn nonce_issued(&self) {
        self.registry.inc("dpop_nonces_issued_total", NONCES, &[]);
    }

    /// A DPoP access token was minted.
    pub fn access_token_issued(&self) {
        self.registry
            .inc("dpop_access_tokens_issued_total", ISSUED, &[]);
    }

    /// A DPoP access-token request was refused with `label`.
    pub fn access_token_refused(&self, label: &str) {
        self.registry.inc(
            "dpop_access_tokens_refused_total",
            REFUSED,
            &[("label", label)],
        );
    }

    /// A CRL proxy request ended with `outcome`.
    pub fn crl_proxy(&self, outcome: &str) {
        self.registry.inc(
            "crl_proxy_requests_total",
            CRL_PROXY,
            &[("outcome", outcome)],
        );
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        self.registry.render()
    }
}
