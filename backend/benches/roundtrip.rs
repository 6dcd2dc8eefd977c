//! Nonce + DPoP access-token round trips per second against a loopback backend, next to plain
//! `GET /healthz` round trips in the same run as the baseline (what the HTTP stack alone costs).
//!
//! `cargo bench -p e2ei-backend --bench roundtrip` (SQLite in a temporary directory);
//! `E2EI_BENCH_DATABASE=postgres://…` to run on PostgreSQL; `E2EI_BENCH_SECONDS` (default 5)
//! and `E2EI_BENCH_CONCURRENCY` (default 16).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2ei_backend::zauth::ZauthKeys;
use e2ei_backend::{AppState, Settings, api};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::SystemClock;
use e2ei_core::id::Domain;
use e2ei_dpop::BackendKeys;
use e2ei_signer::Signer;

#[path = "../tests/common/http.rs"]
mod http;

use http::{DOMAIN, HttpDevice};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One nonce + access-token round trip; the client builds its proof as a real one would.
async fn round_trip(device: &HttpDevice, http: &reqwest::Client, base: &str) -> bool {
    let nonce = device.nonce(http, base).await;
    let (status, body) = device.access_token(http, base, &device.proof(&nonce)).await;
    if status != 200 {
        eprintln!("access token refused: {body}");
    }
    status == 200
}

/// Runs `op` from `concurrency` tasks for `seconds`; returns operations per second.
async fn measure<F, Fut>(concurrency: usize, seconds: u64, op: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (op, done) = (op.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                assert!(op().await, "a round trip failed");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too: run only under bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let seconds = env_or("E2EI_BENCH_SECONDS", 5u64);
    let concurrency = env_or("E2EI_BENCH_CONCURRENCY", 16usize);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let database = std::env::var("E2EI_BENCH_DATABASE")
            .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()));
        let kind = if database.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" };
        let state = Arc::new(AppState {
            db: e2ei_backend::db::connect(&database).await.unwrap(),
            zauth: ZauthKeys::new(vec![Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap()]).unwrap(),
            dpop_keys: KeyAlgorithm::ALL.into_iter().map(|a| Signer::ephemeral(a).unwrap()).collect::<BackendKeys>(),
            settings: Settings::new(Domain::new(DOMAIN).unwrap()),
            clock: Arc::new(SystemClock),
            metrics: Default::default(),
            hub: Default::default(),
            crl_proxy: None,
            scim: e2ei_backend::scim::ScimSettings::for_domain("wire.example.com"),
            revocations: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, api::router(state)).await.unwrap() });
        let http = reqwest::Client::new();

        println!("backend round trips, {kind}, {concurrency} concurrent clients, {seconds} s each, loopback HTTP/1.1");
        let health = {
            let (http, base) = (http.clone(), base.clone());
            measure(concurrency, seconds, move || {
                let (http, base) = (http.clone(), base.clone());
                async move { http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) }
            })
            .await
        };
        println!("  GET /healthz (baseline)                       {health:>8.0} /s");
        for (n, alg) in KeyAlgorithm::ALL.into_iter().enumerate() {
            let device = Arc::new(HttpDevice::register(&http, &base, &format!("alice{n}"), alg).await);
            let (http, base) = (http.clone(), base.clone());
            let rate = measure(concurrency, seconds, move || {
                let (device, http, base) = (device.clone(), http.clone(), base.clone());
                async move { round_trip(&device, &http, &base).await }
            })
            .await;
            println!("  nonce + access token, {:<7}                 {rate:>8.0} /s", alg.jws_algorithm().as_str());
        }
    });
}
