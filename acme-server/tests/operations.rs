//! Operating the authority: rate limits on new-account and new-order (RFC 8555 §6.6), counted
//! in the database, per client address (the TCP peer or a trusted proxy's header) and per
//! account; on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use common::{Authority, BASE, Database, Options, Reply};
use e2ei_acme::jws::{KeyRef, sign_flattened};
use e2ei_acme_server::app::{RateLimit, RateLimits};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::jwk::Jwk;
use e2ei_signer::Signer;
use serde_json::{Value, json};

const HOUR: i64 = 3600;

fn limits(accounts_per_ip: u32, orders_per_account: u32, orders_per_ip: u32) -> RateLimits {
    let limit = |count| RateLimit {
        count,
        period_secs: HOUR,
    };
    RateLimits {
        new_accounts_per_ip: limit(accounts_per_ip),
        new_orders_per_account: limit(orders_per_account),
        new_orders_per_ip: limit(orders_per_ip),
    }
}

async fn authority(
    database: Database,
    limits: RateLimits,
    header: Option<&str>,
) -> Option<Authority> {
    Authority::with_options(
        database,
        Options {
            rate_limits: limits,
            client_ip_header: header.map(str::to_owned),
            ..Options::default()
        },
    )
    .await
}

/// A signed request from `peer` (the TCP address a served authority would see), with an
/// optional extra header.
async fn post_from(
    authority: &Authority,
    peer: &str,
    header: Option<(&str, &str)>,
    signer: &Signer,
    key: &KeyRef,
    path: &str,
    payload: Value,
) -> Reply {
    let nonce = authority.nonce("wire").await;
    let jws = sign_flattened(
        signer,
        key,
        Some(&nonce),
        &format!("{BASE}{path}"),
        Some(&payload),
    )
    .unwrap();
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/jose+json");
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let mut request = request.body(Body::from(jws.to_string())).unwrap();
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    authority.send(request).await
}

fn new_key() -> (Signer, KeyRef) {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let jwk = KeyRef::Jwk(Jwk::from_public_key(signer.public_key().clone()));
    (signer, jwk)
}

async fn new_account_from(
    authority: &Authority,
    peer: &str,
    header: Option<(&str, &str)>,
) -> Reply {
    let (signer, jwk) = new_key();
    post_from(
        authority,
        peer,
        header,
        &signer,
        &jwk,
        "/acme/wire/new-account",
        json!({ "termsOfServiceAgreed": true }),
    )
    .await
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name(super::Database::Sqlite).await; } )* }
        mod postgres { $( #[tokio::test] async fn $name() { super::$name(super::Database::Postgres).await; } )* }
    };
}

on_both_databases!(
    new_account_is_rate_limited_per_client_address,
    rate_limited_new_account_creates_nothing,
    trusted_proxy_header_names_the_client_address,
    new_order_is_rate_limited_per_account,
    new_order_is_rate_limited_per_client_address,
);

async fn new_account_is_rate_limited_per_client_address(database: Database) {
    let Some(a) = authority(database, limits(2, 0, 0), None).await else {
        return;
    };
    for _ in 0..2 {
        assert_eq!(
            new_account_from(&a, "192.0.2.1", None).await.status,
            StatusCode::CREATED
        );
    }
    let limited = new_account_from(&a, "192.0.2.1", None).await;
    assert_eq!(
        (limited.status, limited.problem()),
        (StatusCode::TOO_MANY_REQUESTS, "rateLimited")
    );
    let retry: i64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= HOUR, "{retry}");
    assert!(limited.header("replay-nonce").is_some());
    // Another address has its own allowance.
    assert_eq!(
        new_account_from(&a, "192.0.2.2", None).await.status,
        StatusCode::CREATED
    );
}

async fn rate_limited_new_account_creates_nothing(database: Database) {
    let Some(a) = authority(database, limits(1, 0, 0), None).await else {
        return;
    };
    new_account_from(&a, "192.0.2.1", None).await;
    let (signer, jwk) = new_key();
    let path = "/acme/wire/new-account";
    let limited = post_from(&a, "192.0.2.1", None, &signer, &jwk, path, json!({})).await;
    assert_eq!(limited.problem(), "rateLimited");
    // The key has no account: the limited request wrote nothing.
    let lookup = post_from(
        &a,
        "192.0.2.9",
        None,
        &signer,
        &jwk,
        path,
        json!({ "onlyReturnExisting": true }),
    )
    .await;
    assert_eq!(lookup.problem(), "accountDoesNotExist");
}

async fn trusted_proxy_header_names_the_client_address(database: Database) {
    let Some(a) = authority(database, limits(1, 0, 0), Some("x-forwarded-for")).await else {
        return;
    };
    // Everything arrives from the proxy's address; the header tells the clients apart, and its
    // last entry (the one the proxy added) counts, not what the client put first.
    let from = |client: &'static str| Some(("x-forwarded-for", client));
    assert_eq!(
        new_account_from(&a, "10.0.0.1", from("198.51.100.7, 203.0.113.1"))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        new_account_from(&a, "10.0.0.1", from("203.0.113.2"))
            .await
            .status,
        StatusCode::CREATED
    );
    let limited = new_account_from(&a, "10.0.0.1", from("198.51.100.8, 203.0.113.1")).await;
    assert_eq!(limited.problem(), "rateLimited");
}

fn wire_order() -> Value {
    use e2ei_core::id::{ClientId, DisplayName, Handle};
    use e2ei_core::identifier::WireIdentifiers;
    let client_id: ClientId = "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.example.com"
        .parse()
        .unwrap();
    let ids = WireIdentifiers::for_client(
        client_id,
        Handle::new("alice_wire").unwrap(),
        DisplayName::new("Alice Smith").unwrap(),
    );
    json!({ "identifiers": [
        { "type": "wireapp-device", "value": ids.device().to_value_string() },
        { "type": "wireapp-user", "value": ids.user().to_value_string() },
    ]})
}

async fn order_from(a: &Authority, peer: &str, signer: &Signer, account: &str) -> Reply {
    post_from(
        a,
        peer,
        None,
        signer,
        &KeyRef::Kid(account.to_owned()),
        "/acme/wire/new-order",
        wire_order(),
    )
    .await
}

async fn new_order_is_rate_limited_per_account(database: Database) {
    let Some(a) = authority(database, limits(0, 2, 0), None).await else {
        return;
    };
    let alice = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let alice_url = a.account(&alice).await;
    for _ in 0..2 {
        assert_eq!(
            order_from(&a, "192.0.2.1", &alice, &alice_url).await.status,
            StatusCode::CREATED
        );
    }
    let limited = order_from(&a, "192.0.2.1", &alice, &alice_url).await;
    assert_eq!(
        (limited.status, limited.problem()),
        (StatusCode::TOO_MANY_REQUESTS, "rateLimited")
    );
    assert!(limited.header("retry-after").is_some());
    let orders = a
        .post(
            "wire",
            &alice,
            &KeyRef::Kid(alice_url.clone()),
            &format!("{}/orders", alice_url.trim_start_matches(BASE)),
            None,
        )
        .await;
    assert_eq!(
        orders.body["orders"].as_array().unwrap().len(),
        2,
        "the refused order was not created"
    );
    let bob = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let bob_url = a.account(&bob).await;
    assert_eq!(
        order_from(&a, "192.0.2.1", &bob, &bob_url).await.status,
        StatusCode::CREATED
    );
}

async fn new_order_is_rate_limited_per_client_address(database: Database) {
    let Some(a) = authority(database, limits(0, 0, 2), None).await else {
        return;
    };
    let mut accounts = Vec::new();
    for _ in 0..3 {
        let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let url = a.account(&signer).await;
        accounts.push((signer, url));
    }
    for (signer, url) in &accounts[..2] {
        assert_eq!(
            order_from(&a, "192.0.2.1", signer, url).await.status,
            StatusCode::CREATED
        );
    }
    let (signer, url) = &accounts[2];
    assert_eq!(
        order_from(&a, "192.0.2.1", signer, url).await.problem(),
        "rateLimited"
    );
    assert_eq!(
        order_from(&a, "192.0.2.2", signer, url).await.status,
        StatusCode::CREATED
    );
}
