//! `GET /proxyCrl/{host}` in-process, against a real HTTPS upstream on 127.0.0.1 (a private
//! test CA's certificate, real CRLs from e2ei-crl). The proxy touches no storage, so these run
//! on SQLite only; the advertised `crlProxy` feature value is stored per team and is checked on
//! both databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use common::upstream::{Scripted, TestCa, Upstream};
use common::{Backend, TestApp};
use e2ei_backend::crl_proxy::{CrlProxy, ProxyPolicy};
use e2ei_core::clock::Clock;
use http_body_util::BodyExt;
use serde_json::json;
use time::OffsetDateTime;
use tower::ServiceExt;

const PUBLIC_URL: &str = "https://wire.example.com/proxyCrl";

/// A policy allowing `hosts`, with a short timeout so the timeout test stays quick.
fn policy(hosts: &[&str]) -> ProxyPolicy {
    let mut policy = ProxyPolicy::new(
        hosts.iter().map(|h| h.parse().unwrap()).collect(),
        PUBLIC_URL.into(),
    );
    policy.timeout = Duration::from_secs(2);
    policy
}

async fn app_with(upstream: &Upstream, policy: ProxyPolicy) -> TestApp {
    let proxy = CrlProxy::new(policy, Some(upstream.tls_ca_pem.as_bytes())).unwrap();
    TestApp::with_crl_proxy(Backend::Sqlite, proxy)
        .await
        .unwrap()
}

/// An answer with its raw body.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn label(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["label"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

async fn request(app: &TestApp, method: Method, path: &str) -> Raw {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("origin", "https://app.wire.example.com")
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Raw {
        status,
        headers,
        body: body.to_vec(),
    }
}

async fn get(app: &TestApp, path: &str) -> Raw {
    request(app, Method::GET, path).await
}

fn now(app: &TestApp) -> OffsetDateTime {
    app.clock.now()
}

/// A CRL current at the app's clock for `valid_for` seconds more.
fn crl(issuer: &TestCa, app: &TestApp, valid_for: i64) -> Vec<u8> {
    let t = now(app);
    issuer.crl(
        t - time::Duration::minutes(1),
        t + time::Duration::seconds(valid_for),
        3,
    )
}

async fn metric(app: &TestApp, outcome: &str) -> u64 {
    let text = app.state.metrics.render();
    let series = format!("e2ei_backend_crl_proxy_requests_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn proxies_the_crl_with_its_type_cors_and_a_max_age_bounded_by_next_update() {
    let upstream = Upstream::start().await;
    let app = app_with(&upstream, policy(&[&upstream.host])).await;
    let issuer = TestCa::new("Wire Intermediate CA");
    let der = crl(&issuer, &app, 3600);
    upstream.set(
        "/crl",
        Scripted::crl(der.clone())
            .header("etag", "\"crl-1\"")
            .header("last-modified", "Fri, 15 Jan 2027 08:00:00 GMT"),
    );

    let reply = get(&app, &format!("/proxyCrl/{}", upstream.host)).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.body, der);
    assert_eq!(reply.header("content-type"), Some("application/pkix-crl"));
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(reply.header("cache-control"), Some("public, max-age=3600"));
    assert_eq!(reply.header("etag"), Some("\"crl-1\""));
    assert_eq!(
        reply.header("last-modified"),
        Some("Fri, 15 Jan 2027 08:00:00 GMT")
    );
    assert_eq!(upstream.hits("/crl"), 1);

    // HEAD answers the same headers without the body.
    app.clock.advance(1);
    let head = request(&app, Method::HEAD, &format!("/proxyCrl/{}", upstream.host)).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), Some("application/pkix-crl"));
    assert_eq!(head.header("cache-control"), Some("public, max-age=3599"));
    assert_eq!(metric(&app, "fetched").await, 1);
    assert_eq!(metric(&app, "cached").await, 1);
}

#[tokio::test]
async fn serves_from_memory_until_cache_time_or_next_update_and_never_an_expired_copy() {
    let upstream = Upstream::start().await;
    let mut p = policy(&[&upstream.host]);
    p.cache_for = Duration::from_secs(600);
    let app = app_with(&upstream, p).await;
    let path = format!("/proxyCrl/{}", upstream.host);
    let issuer = TestCa::new("Wire Intermediate CA");
    let first = crl(&issuer, &app, 300);
    upstream.set("/crl", Scripted::crl(first.clone()));

    assert_eq!(get(&app, &path).await.body, first);
    app.clock.advance(100);
    let cached = get(&app, &path).await;
    assert_eq!(cached.body, first);
    assert_eq!(cached.header("cache-control"), Some("public, max-age=200"));
    assert_eq!(upstream.hits("/crl"), 1);

    // At nextUpdate the copy is dropped: the upstream is asked again, and a list it still
    // serves past its nextUpdate goes out as `no-cache` and is not kept.
    app.clock.advance(200);
    let expired = get(&app, &path).await;
    assert_eq!(expired.status, StatusCode::OK);
    assert_eq!(expired.header("cache-control"), Some("no-cache"));
    assert_eq!(upstream.hits("/crl"), 2);
    get(&app, &path).await;
    assert_eq!(upstream.hits("/crl"), 3);

    let second = crl(&issuer, &app, 86_400);
    upstream.set("/crl", Scripted::crl(second.clone()));
    let fresh = get(&app, &path).await;
    assert_eq!(fresh.body, second);
    assert_eq!(fresh.header("cache-control"), Some("public, max-age=86400"));
    assert_eq!(upstream.hits("/crl"), 4);

    // The cache time bounds the memory copy even when nextUpdate is far away.
    app.clock.advance(599);
    get(&app, &path).await;
    assert_eq!(upstream.hits("/crl"), 4);
    app.clock.advance(1);
    get(&app, &path).await;
    assert_eq!(upstream.hits("/crl"), 5);
}

#[tokio::test]
async fn honours_the_upstreams_cache_control() {
    let upstream = Upstream::start().await;
    let app = app_with(&upstream, policy(&[&upstream.host])).await;
    let path = format!("/proxyCrl/{}", upstream.host);
    let issuer = TestCa::new("Wire Intermediate CA");
    let der = crl(&issuer, &app, 3600);

    upstream.set(
        "/crl",
        Scripted::crl(der.clone()).header("cache-control", "public, max-age=30"),
    );
    let short = get(&app, &path).await;
    assert_eq!(short.header("cache-control"), Some("public, max-age=30"));
    app.clock.advance(30);
    let again = get(&app, &path).await;
    assert_eq!(upstream.hits("/crl"), 2, "the upstream's max-age ran out");
    assert_eq!(again.header("cache-control"), Some("public, max-age=30"));

    upstream.set(
        "/crl",
        Scripted::crl(der.clone()).header("cache-control", "no-store"),
    );
    app.clock.advance(30);
    for _ in 0..2 {
        let reply = get(&app, &path).await;
        assert_eq!(reply.body, der);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }
    assert_eq!(upstream.hits("/crl"), 4);
}

#[tokio::test]
async fn refuses_hosts_off_the_allowlist_without_an_outbound_request() {
    let upstream = Upstream::start().await;
    let app = app_with(
        &upstream,
        policy(&[&upstream.host, "acme.wire.example.com"]),
    )
    .await;
    let port = upstream.host.rsplit_once(':').unwrap().1;
    for host in [
        "127.0.0.1".to_owned(),
        "127.0.0.1:1".to_owned(),
        format!("127.0.0.2:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "10.0.0.1".into(),
        "169.254.169.254".into(),
        "evil.example".into(),
        "acme.wire.example.com:8443".into(),
        "acme.wire.example.com.evil.example".into(),
    ] {
        let reply = get(&app, &format!("/proxyCrl/{host}")).await;
        assert_eq!(
            (reply.status, reply.label().as_str()),
            (StatusCode::FORBIDDEN, "crl-proxy-host-not-allowed"),
            "{host}"
        );
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    assert_eq!(upstream.total_hits(), 0);
    assert_eq!(metric(&app, "crl-proxy-host-not-allowed").await, 10);
}

#[tokio::test]
async fn refuses_malformed_hosts_and_paths_without_an_outbound_request() {
    let upstream = Upstream::start().await;
    let app = app_with(&upstream, policy(&[&upstream.host])).await;
    let h = &upstream.host;
    for path in [
        "/proxyCrl/..".to_owned(),
        "/proxyCrl/%2e%2e".into(),
        "/proxyCrl/a@b".into(),
        format!("/proxyCrl/user@{h}"),
        format!("/proxyCrl/user:pass@{h}"),
        format!("/proxyCrl/{h}%2Fadmin"),
        format!("/proxyCrl/{h}%3Fx=1"),
        format!("/proxyCrl/{h}%23f"),
        format!("/proxyCrl/{h}%00"),
        "/proxyCrl/%FF".into(),
        "/proxyCrl/0x7f000001".into(),
        "/proxyCrl/2130706433".into(),
        "/proxyCrl/127.1".into(),
        "/proxyCrl/127.0.0.1:0".into(),
        "/proxyCrl/127.0.0.1:99999".into(),
        "/proxyCrl/[::1".into(),
        "/proxyCrl/-a.example".into(),
        "/proxyCrl/a_b.example".into(),
        "/proxyCrl/example.com.".into(),
    ] {
        let reply = get(&app, &path).await;
        assert_eq!(
            (reply.status, reply.label().as_str()),
            (StatusCode::BAD_REQUEST, "crl-proxy-bad-host"),
            "{path}"
        );
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    }
    // Without shards, nothing may follow the host.
    for suffix in [
        "crl",
        "crl/1",
        "admin",
        "../crl",
        "crl/../../admin",
        "%2e%2e/x",
    ] {
        let reply = get(&app, &format!("/proxyCrl/{h}/{suffix}")).await;
        assert_eq!(
            (reply.status, reply.label().as_str()),
            (StatusCode::FORBIDDEN, "crl-proxy-path-not-allowed"),
            "{suffix}"
        );
    }
    assert_eq!(upstream.total_hits(), 0);
}

#[tokio::test]
async fn forwards_shard_paths_only_as_the_policy_allows() {
    let upstream = Upstream::start().await;
    let mut p = policy(&[&upstream.host]);
    p.shards = 4;
    let app = app_with(&upstream, p).await;
    let issuer = TestCa::new("Wire Intermediate CA");
    let shard = crl(&issuer, &app, 3600);
    let plain = crl(&issuer, &app, 3600);
    upstream.set("/crl/3", Scripted::crl(shard.clone()));
    upstream.set("/crl", Scripted::crl(plain.clone()));
    let h = &upstream.host;

    assert_eq!(get(&app, &format!("/proxyCrl/{h}/crl/3")).await.body, shard);
    assert_eq!(get(&app, &format!("/proxyCrl/{h}/crl")).await.body, plain);
    assert_eq!(get(&app, &format!("/proxyCrl/{h}")).await.body, plain);
    for suffix in [
        "crl/4",
        "crl/0",
        "crl/03",
        "crl/3/x",
        "crl/x",
        "other/3",
        "crl/3/../4",
    ] {
        let reply = get(&app, &format!("/proxyCrl/{h}/{suffix}")).await;
        assert_eq!(
            (reply.status, reply.label().as_str()),
            (StatusCode::FORBIDDEN, "crl-proxy-path-not-allowed"),
            "{suffix}"
        );
    }
    assert_eq!(upstream.hits("/crl/3"), 1);
    assert_eq!(
        upstream.hits("/crl"),
        1,
        "the plain path is one cache entry"
    );
    assert_eq!(upstream.total_hits(), 2);
}

#[tokio::test]
async fn upstream_failures_are_bad_gateway_with_a_label() {
    let upstream = Upstream::start().await;
    let mut p = policy(&[&upstream.host]);
    p.shards = 10;
    p.max_bytes = 2048;
    p.timeout = Duration::from_millis(500);
    let app = app_with(&upstream, p).await;
    let issuer = TestCa::new("Wire Intermediate CA");
    let small = crl(&issuer, &app, 3600);
    let large = issuer.crl(now(&app), now(&app) + time::Duration::hours(1), 100);
    assert!(small.len() < 2048 && large.len() > 2048);
    upstream.set("/crl/2", Scripted::status(500));
    upstream.set("/crl/3", Scripted::status(302).header("location", "/crl/9"));
    upstream.set("/crl/9", Scripted::crl(small.clone()));
    upstream.set("/crl/4", Scripted::crl(b"<html>not a CRL</html>".to_vec()));
    upstream.set("/crl/5", Scripted::crl(large.clone()));
    upstream.set("/crl/6", Scripted::crl(large).chunked());
    upstream.set(
        "/crl/7",
        Scripted::crl(small.clone()).after(Duration::from_secs(3)),
    );
    let mut truncated = small.clone();
    truncated.truncate(small.len() - 10);
    upstream.set("/crl/8", Scripted::crl(truncated));

    let h = &upstream.host;
    for (shard, label) in [
        (1, "crl-proxy-upstream-status"), // not scripted: 404
        (2, "crl-proxy-upstream-status"),
        (3, "crl-proxy-upstream-status"),
        (4, "crl-proxy-upstream-not-a-crl"),
        (5, "crl-proxy-upstream-too-large"),
        (6, "crl-proxy-upstream-too-large"),
        (7, "crl-proxy-upstream-timeout"),
        (8, "crl-proxy-upstream-not-a-crl"),
    ] {
        let reply = get(&app, &format!("/proxyCrl/{h}/crl/{shard}")).await;
        assert_eq!(
            (reply.status, reply.label().as_str()),
            (StatusCode::BAD_GATEWAY, label),
            "shard {shard}"
        );
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        assert!(metric(&app, label).await > 0, "{label}");
    }
    assert_eq!(upstream.hits("/crl/9"), 0, "the redirect was not followed");
    // Failures are not kept: the next request asks again.
    get(&app, &format!("/proxyCrl/{h}/crl/2")).await;
    assert_eq!(upstream.hits("/crl/2"), 2);
}

#[tokio::test]
async fn unreachable_and_untrusted_upstreams_are_bad_gateway() {
    let upstream = Upstream::start().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let app = app_with(&upstream, policy(&[&closed])).await;
    let reply = get(&app, &format!("/proxyCrl/{closed}")).await;
    assert_eq!(
        (reply.status, reply.label().as_str()),
        (StatusCode::BAD_GATEWAY, "crl-proxy-upstream-unreachable")
    );

    // Without the private CA as trust anchor the upstream's certificate is refused.
    let issuer = TestCa::new("Wire Intermediate CA");
    let untrusting = CrlProxy::new(policy(&[&upstream.host]), None).unwrap();
    let app = TestApp::with_crl_proxy(Backend::Sqlite, untrusting)
        .await
        .unwrap();
    upstream.set("/crl", Scripted::crl(crl(&issuer, &app, 3600)));
    let reply = get(&app, &format!("/proxyCrl/{}", upstream.host)).await;
    assert_eq!(
        (reply.status, reply.label().as_str()),
        (StatusCode::BAD_GATEWAY, "crl-proxy-upstream-unreachable")
    );
    assert_eq!(
        upstream.hits("/crl"),
        0,
        "no request over an untrusted connection"
    );
}

#[tokio::test]
async fn serves_the_earlier_copy_while_the_upstream_is_down_but_not_past_next_update() {
    let upstream = Upstream::start().await;
    let app = app_with(&upstream, policy(&[&upstream.host])).await;
    let path = format!("/proxyCrl/{}", upstream.host);
    let issuer = TestCa::new("Wire Intermediate CA");
    let der = crl(&issuer, &app, 3600);
    upstream.set("/crl", Scripted::crl(der.clone()));
    get(&app, &path).await;

    upstream.set("/crl", Scripted::status(503));
    app.clock.advance(120);
    let stale = get(&app, &path).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.body, der);
    assert_eq!(stale.header("cache-control"), Some("public, max-age=3480"));
    assert_eq!(metric(&app, "stale").await, 1);
    assert_eq!(upstream.hits("/crl"), 2);

    app.clock.advance(3480);
    let gone = get(&app, &path).await;
    assert_eq!(
        (gone.status, gone.label().as_str()),
        (StatusCode::BAD_GATEWAY, "crl-proxy-upstream-status")
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_upstream_fetch() {
    let upstream = Upstream::start().await;
    let app = Arc::new(app_with(&upstream, policy(&[&upstream.host])).await);
    let issuer = TestCa::new("Wire Intermediate CA");
    let der = crl(&issuer, &app, 3600);
    upstream.set(
        "/crl",
        Scripted::crl(der.clone()).after(Duration::from_millis(300)),
    );
    let path = format!("/proxyCrl/{}", upstream.host);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, path) = (app.clone(), path.clone());
            tokio::spawn(async move { get(&app, &path).await })
        })
        .collect();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, der);
    }
    assert_eq!(upstream.hits("/crl"), 1);

    // A failing upstream is asked once too, and every waiting request gets its answer.
    upstream.set(
        "/crl/1",
        Scripted::status(500).after(Duration::from_millis(300)),
    );
    let mut p = policy(&[&upstream.host]);
    p.shards = 2;
    let app = Arc::new(app_with(&upstream, p).await);
    let path = format!("/proxyCrl/{}/crl/1", upstream.host);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, path) = (app.clone(), path.clone());
            tokio::spawn(async move { get(&app, &path).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().status, StatusCode::BAD_GATEWAY);
    }
    assert_eq!(upstream.hits("/crl/1"), 1);
}

#[tokio::test]
async fn answers_cors_preflights_without_an_outbound_request() {
    let upstream = Upstream::start().await;
    let mut p = policy(&[&upstream.host]);
    p.shards = 2;
    let app = app_with(&upstream, p).await;
    for path in [
        format!("/proxyCrl/{}", upstream.host),
        format!("/proxyCrl/{}/crl/1", upstream.host),
    ] {
        let request = Request::builder()
            .method(Method::OPTIONS)
            .uri(&path)
            .header("origin", "https://app.wire.example.com")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "if-none-match")
            .body(Body::empty())
            .unwrap();
        let response = app.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
        let h = response.headers();
        assert_eq!(h["access-control-allow-origin"], "*");
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("GET")
        );
        assert_eq!(h["access-control-allow-headers"], "*");
        assert!(h.contains_key("access-control-max-age"));
    }
    assert_eq!(upstream.total_hits(), 0);
}

#[tokio::test]
async fn is_not_found_when_not_configured() {
    let app = TestApp::new(Backend::Sqlite).await.unwrap();
    let reply = get(&app, "/proxyCrl/acme.wire.example.com").await;
    assert_eq!(
        (reply.status, reply.label().as_str()),
        (StatusCode::NOT_FOUND, "crl-proxy-disabled")
    );
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
}

/// `crlProxy` as advertised: the team's own value when it set one, else this proxy.
async fn advertises_itself_as_crl_proxy_unless_the_team_set_one(backend: Backend) {
    let proxy = CrlProxy::new(policy(&["acme.wire.example.com"]), None).unwrap();
    let Some(app) = TestApp::with_crl_proxy(backend, proxy).await else {
        return;
    };
    let (_, team) = app.register_owner("alice_wire").await;
    let (owner, _) = app.login("alice_wire").await;
    let path = format!("/teams/{team}/features/mlsE2EId");
    let default = app.call(Method::GET, &path, Some(&owner), None).await;
    assert_eq!(default.body["config"]["crlProxy"], PUBLIC_URL);
    let mine = app
        .call(Method::GET, "/feature-configs", Some(&owner), None)
        .await;
    assert_eq!(mine.body["mlsE2EId"]["config"]["crlProxy"], PUBLIC_URL);

    let mut feature = json!({
        "status": "enabled",
        "config": {
            "verificationExpiration": 3600,
            "acmeDiscoveryUrl": "https://acme.wire.example.com/acme/wire/directory",
            "useProxyOnMobile": true
        }
    });
    let set = app
        .call(Method::PUT, &path, Some(&owner), Some(feature.clone()))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    assert_eq!(set.body["config"]["crlProxy"], PUBLIC_URL);
    let read = app.call(Method::GET, &path, Some(&owner), None).await;
    assert_eq!(read.body["config"]["crlProxy"], PUBLIC_URL);
    assert_eq!(read.body["status"], "enabled");

    feature["config"]["crlProxy"] = json!("https://crl.example.org/proxyCrl");
    app.call(Method::PUT, &path, Some(&owner), Some(feature))
        .await;
    let read = app.call(Method::GET, &path, Some(&owner), None).await;
    assert_eq!(
        read.body["config"]["crlProxy"],
        "https://crl.example.org/proxyCrl"
    );
}

#[tokio::test]
async fn advertises_itself_as_crl_proxy_unless_the_team_set_one_on_sqlite() {
    advertises_itself_as_crl_proxy_unless_the_team_set_one(Backend::Sqlite).await;
}

#[tokio::test]
async fn advertises_itself_as_crl_proxy_unless_the_team_set_one_on_postgres() {
    advertises_itself_as_crl_proxy_unless_the_team_set_one(Backend::Postgres).await;
}
