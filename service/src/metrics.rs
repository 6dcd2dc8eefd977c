//! Prometheus metrics in the text exposition format, shared by the services: requests by route
//! template and status with their total duration, plus named counters with labels. Served at
//! `GET /metrics` by each service.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// (method, route template, status).
type RequestKey = (String, String, u16);

/// A counter's series: its labels, rendered (`a="x",b="y"`).
type Series = BTreeMap<String, u64>;

/// One service's metrics, named `{namespace}_…`.
#[derive(Debug)]
pub struct Metrics {
    namespace: &'static str,
    /// Per key: count and total seconds.
    requests: Mutex<BTreeMap<RequestKey, (u64, f64)>>,
    /// Counter name → (help, series).
    counters: Mutex<BTreeMap<&'static str, (&'static str, Series)>>,
}

impl Metrics {
    /// Metrics whose names start with `namespace` (e.g. `e2ei_acme`).
    pub fn new(namespace: &'static str) -> Self {
        Self {
            namespace,
            requests: Mutex::default(),
            counters: Mutex::default(),
        }
    }

    /// Declares a counter so that it is exposed (as 0) before its first increment.
    pub fn declare(&self, name: &'static str, help: &'static str) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counters.entry(name).or_insert((help, Series::new()));
        entry.1.entry(String::new()).or_default();
    }

    /// Adds one to counter `name` (`{namespace}_{name}`) for `labels`.
    pub fn inc(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)]) {
        let rendered = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect::<Vec<_>>()
            .join(",");
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counters.entry(name).or_insert((help, Series::new()));
        if !rendered.is_empty() {
            // A labelled series replaces the declared unlabelled zero.
            entry.1.remove("");
        }
        *entry.1.entry(rendered).or_default() += 1;
    }

    /// Records one served request.
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let entry = requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        entry.0 += 1;
        entry.1 += seconds;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let ns = self.namespace;
        let mut out = String::new();
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let _ = writeln!(
            out,
            "# HELP {ns}_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE {ns}_requests_total counter");
        for ((method, route, status), (count, _)) in &requests {
            let _ = writeln!(
                out,
                "{ns}_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
        let _ = writeln!(
            out,
            "# HELP {ns}_request_seconds_total Time spent serving requests."
        );
        let _ = writeln!(out, "# TYPE {ns}_request_seconds_total counter");
        for ((method, route, status), (_, seconds)) in &requests {
            let _ = writeln!(
                out,
                "{ns}_request_seconds_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {seconds}",
                escape(route)
            );
        }
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        for (name, (help, series)) in counters.iter() {
            let _ = writeln!(out, "# HELP {ns}_{name} {help}");
            let _ = writeln!(out, "# TYPE {ns}_{name} counter");
            for (labels, value) in series {
                if labels.is_empty() {
                    let _ = writeln!(out, "{ns}_{name} {value}");
                } else {
                    let _ = writeln!(out, "{ns}_{name}{{{labels}}} {value}");
                }
            }
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: counts every request by its route template (never the raw path, which carries
/// ids). Mount with `route_layer(from_fn_with_state(metrics, track))`.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
pub fn exposition(metrics: &Metrics) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_and_labelled_counters() {
        let m = Metrics::new("e2ei_test");
        m.declare("things_total", "Things.");
        m.record("POST", "/acme/{provisioner}/new-order", 201, 0.5);
        m.inc(
            "refused_total",
            "Refusals by reason.",
            &[("reason", "a\"b")],
        );
        let text = m.render();
        assert!(text.contains("e2ei_test_things_total 0"), "{text}");
        assert!(text.contains(
            "e2ei_test_requests_total{method=\"POST\",route=\"/acme/{provisioner}/new-order\",status=\"201\"} 1"
        ));
        assert!(
            text.contains("e2ei_test_refused_total{reason=\"a\\\"b\"} 1"),
            "{text}"
        );
    }
}
