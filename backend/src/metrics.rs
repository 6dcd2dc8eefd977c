//! Prometheus metrics in the text exposition format, at `GET /metrics`: requests by route and
//! status with their total duration, and the E2EI counters.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::SharedState;

/// (method, route template, status).
type RequestKey = (String, String, u16);

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Per key: count and total seconds.
    requests: Mutex<BTreeMap<RequestKey, (u64, f64)>>,
    nonces_issued: AtomicU64,
    access_tokens_issued: AtomicU64,
    access_tokens_refused: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// A nonce was handed out.
    pub fn nonce_issued(&self) {
        self.nonces_issued.fetch_add(1, Ordering::Relaxed);
    }

    /// A DPoP access token was minted.
    pub fn access_token_issued(&self) {
        self.access_tokens_issued.fetch_add(1, Ordering::Relaxed);
    }

    /// A DPoP access-token request was refused with `label`.
    pub fn access_token_refused(&self, label: &str) {
        let mut refused = self
            .access_tokens_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *refused.entry(label.to_owned()).or_default() += 1;
    }

    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let entry = requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        entry.0 += 1;
        entry.1 += seconds;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP e2ei_backend_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE e2ei_backend_requests_total counter");
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for ((method, route, status), (count, _)) in &requests {
            let _ = writeln!(
                out,
                "e2ei_backend_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP e2ei_backend_request_seconds_total Time spent serving requests."
        );
        let _ = writeln!(out, "# TYPE e2ei_backend_request_seconds_total counter");
        for ((method, route, status), (_, seconds)) in &requests {
            let _ = writeln!(
                out,
                "e2ei_backend_request_seconds_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {seconds}"
            );
        }
        let _ = writeln!(out, "# TYPE e2ei_backend_dpop_nonces_issued_total counter");
        let _ = writeln!(
            out,
            "e2ei_backend_dpop_nonces_issued_total {}",
            self.nonces_issued.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# TYPE e2ei_backend_dpop_access_tokens_issued_total counter"
        );
        let _ = writeln!(
            out,
            "e2ei_backend_dpop_access_tokens_issued_total {}",
            self.access_tokens_issued.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# TYPE e2ei_backend_dpop_access_tokens_refused_total counter"
        );
        let refused = self
            .access_tokens_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (label, count) in refused.iter() {
            let _ = writeln!(
                out,
                "e2ei_backend_dpop_access_tokens_refused_total{{label=\"{label}\"}} {count}"
            );
        }
        out
    }
}

/// Middleware: counts every request by its route template (never the raw path, which carries ids).
pub async fn track(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    state.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}
