//! SCIM throughput and lookup latency against a loopback backend.
//!
//! 1. 10,000 `POST /scim/v2/Users` from concurrent clients (each a new backend user: user row,
//!    SCIM row and their indexes in one transaction), next to as many users created by a team
//!    admin through the Wire API (`POST /teams/{tid}/members`, one user row) in the same run:
//!    the baseline, what a backend user costs without SCIM.
//! 2. The team is filled to 100,000 users (the remaining 90,000 inserted in batched SQL
//!    transactions: the lookups do not care how rows arrived), then `GET /Users?filter=userName
//!    eq "…"` one at a time for random existing users: p50/p99/max latency.
//!
//! `cargo bench -p e2ei-backend --bench scim` (SQLite in a temporary directory);
//! `E2EI_BENCH_DATABASE=postgres://…` for PostgreSQL; `E2EI_BENCH_CONCURRENCY` (default 16),
//! `E2EI_BENCH_CREATES` (10000), `E2EI_BENCH_USERS` (100000), `E2EI_BENCH_LOOKUPS` (2000).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2ei_backend::scim::ScimSettings;
use e2ei_backend::users::{NewUser, create_team_with_owner};
use e2ei_backend::zauth::ZauthKeys;
use e2ei_backend::{AppState, Settings, api};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::SystemClock;
use e2ei_core::id::Domain;
use e2ei_signer::Signer;
use serde_json::json;

const DOMAIN: &str = "wire.example.com";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn new_user(n: u64) -> String {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("user{n:06}"),
        "displayName": format!("User {n}"),
        "externalId": format!("ext-{n}"),
        "emails": [{ "value": format!("user{n:06}@example.org"), "type": "work", "primary": true }],
    })
    .to_string()
}

/// `total` creates from `concurrency` tasks, request `n` made by `request(n)`; returns creates
/// per second.
async fn creates<F>(total: u64, concurrency: u64, request: F) -> f64
where
    F: Fn(u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (request, next) = (request.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let reply = request(n).send().await.unwrap();
                assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Rows for users `from..to` of `team`, straight into the tables, 1,000 per transaction.
async fn fill(state: &AppState, team: &str, from: u64, to: u64) {
    let now = state.now();
    let mut n = from;
    while n < to {
        let mut tx = state.db.begin_write().await.unwrap();
        for m in n..(n + 1000).min(to) {
            let id = uuid::Uuid::new_v4().to_string();
            let handle = format!("user{m:06}");
            sqlx::query(
                "INSERT INTO users (id, name, handle, email, locale, team_id, role, created_at) \
                 VALUES ($1, $2, $3, $4, 'en', $5, 'member', $6)",
            )
            .bind(&id)
            .bind(format!("User {m}"))
            .bind(&handle)
            .bind(format!("{handle}@example.org"))
            .bind(team)
            .bind(now)
            .execute(&mut *tx)
            .await
            .unwrap();
            let document = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": handle, "displayName": format!("User {m}"), "externalId": format!("ext-{m}"),
            });
            sqlx::query(
                "INSERT INTO scim_users (user_id, team_id, user_name, external_id, display_name, active, version, created_at, updated_at, document) \
                 VALUES ($1, $2, $3, $4, $5, 1, 1, $6, $6, $7)",
            )
            .bind(&id)
            .bind(team)
            .bind(&handle)
            .bind(format!("ext-{m}"))
            .bind(format!("User {m}"))
            .bind(now * 1000)
            .bind(document.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        n = (n + 1000).min(to);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let concurrency = env_or("E2EI_BENCH_CONCURRENCY", 16u64);
    let total_creates = env_or("E2EI_BENCH_CREATES", 10_000u64);
    let total_users = env_or("E2EI_BENCH_USERS", 100_000u64);
    let lookups = env_or("E2EI_BENCH_LOOKUPS", 2_000usize);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let database = std::env::var("E2EI_BENCH_DATABASE")
            .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()));
        let kind = if database.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/scim/v2", listener.local_addr().unwrap());
        let state = Arc::new(AppState {
            db: e2ei_backend::db::connect(&database).await.unwrap(),
            zauth: ZauthKeys::new(vec![Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap()]).unwrap(),
            dpop_keys: Default::default(),
            settings: Settings::new(Domain::new(DOMAIN).unwrap()),
            clock: Arc::new(SystemClock),
            metrics: Default::default(),
            hub: Default::default(),
            crl_proxy: None,
            scim: ScimSettings { public_url: url.clone(), max_results: 1000 },
            revocations: Default::default(),
        });
        tokio::spawn({
            let state = state.clone();
            async move { axum::serve(listener, api::router(state)).await.unwrap() }
        });
        let owner = NewUser {
            name: "Bench Owner".into(),
            handle: Some("bench_owner".into()),
            email: None,
            password: Some("bench owner password".into()),
            locale: None,
            team: None,
        };
        let (team, owner) = create_team_with_owner(&state, "Bench", owner).await.unwrap();
        let (token, _) = e2ei_backend::scim::tokens::create(&state, team, owner.id, "bench").await.unwrap();
        let http = reqwest::Client::builder().tcp_nodelay(true).build().unwrap();

        let base = url.trim_end_matches("/scim/v2").to_owned();
        let login: serde_json::Value = http
            .post(format!("{base}/login"))
            .json(&json!({ "handle": "bench_owner", "password": "bench owner password" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = login["access_token"].as_str().unwrap().to_owned();

        println!("SCIM, {kind}, {concurrency} concurrent clients, loopback HTTP/1.1");
        let baseline = {
            let (http, members) = (http.clone(), format!("{base}/teams/{team}/members"));
            creates(total_creates, concurrency, move |n| {
                http.post(&members).bearer_auth(&access).json(&json!({
                    "name": format!("Member {n}"), "handle": format!("member{n:06}"),
                    "email": format!("member{n:06}@example.org"),
                }))
            })
            .await
        };
        println!("  {total_creates} team members via the Wire API (baseline)   {baseline:>8.0} /s");
        let rate = {
            let (http, users, token) = (http.clone(), format!("{url}/Users"), token.clone());
            creates(total_creates, concurrency, move |n| {
                http.post(&users)
                    .bearer_auth(&token)
                    .header("content-type", "application/scim+json")
                    .body(new_user(n))
            })
            .await
        };
        println!("  {total_creates} SCIM user creates                         {rate:>8.0} /s");

        let start = Instant::now();
        fill(&state, &team.to_string(), total_creates, total_users).await;
        println!("  filled to {total_users} users in {:.1} s", start.elapsed().as_secs_f64());
        let mut latencies = Vec::with_capacity(lookups);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..lookups {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = seed % total_users;
            let filter = format!("userName eq \"USER{n:06}\"");
            let started = Instant::now();
            let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
            let reply = http
                .get(format!("{url}/Users?filter={encoded}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
            let body: serde_json::Value = reply.json().await.unwrap();
            latencies.push(started.elapsed());
            assert_eq!(body["totalResults"], 1, "{filter}");
        }
        latencies.sort_unstable();
        println!(
            "  {lookups} userName eq lookups among {total_users}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3,
        );
    });
}
