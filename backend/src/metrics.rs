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

impl Metrics {
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
