//! One rejection per request-JWS rule of ARCHITECTURE.md (Boulder's list, RFC 8555 §6), each
//! with its exact ACME error type and HTTP status, over HTTP in-process on SQLite and
//! PostgreSQL. Each case sends one crafted request; what it rejects is in its name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Authority, BASE, Database, Reply};
use e2ei_acme::jws::KeyRef;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::jwk::Jwk;
use e2ei_signer::Signer;
use serde_json::{Value, json};

/// A flattened JWS with exactly the given protected header, signed by `signer` (no checks: the
/// point is to send what a careless or hostile client would).
fn raw_jws(signer: &Signer, protected: &Value, payload: Option<&Value>) -> Value {
    let protected = URL_SAFE_NO_PAD.encode(protected.to_string());
    let payload = payload.map_or_else(String::new, |p| URL_SAFE_NO_PAD.encode(p.to_string()));
    let signature = signer
        .sign(format!("{protected}.{payload}").as_bytes())
        .unwrap();
    json!({
        "protected": protected,
        "payload": payload,
        "signature": URL_SAFE_NO_PAD.encode(signature.to_jws()),
    })
}

struct Client {
    a: Authority,
    signer: Signer,
    account: String,
}

impl Client {
    async fn new(database: Database) -> Option<Self> {
        let a = Authority::new(database).await?;
        let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let account = a.account(&signer).await;
        Some(Self { a, signer, account })
    }

    fn jwk(&self) -> Value {
        Jwk::from_public_key(self.signer.public_key().clone()).to_json_value()
    }

    fn account_path(&self) -> String {
        self.account.trim_start_matches(BASE).to_owned()
    }

    /// A protected header for `path` with a fresh nonce, naming the account by `kid`.
    async fn kid_header(&self, path: &str) -> Value {
        json!({
            "alg": "ES256",
            "kid": self.account,
            "nonce": self.a.nonce("wire").await,
            "url": format!("{BASE}{path}"),
        })
    }

    async fn send_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        self.a.send(request).await
    }

    async fn send(&self, path: &str, jws: &Value) -> Reply {
        self.a.post_jws(path, jws).await
    }
}

fn expect(reply: &Reply, status: StatusCode, problem: &str) {
    assert_eq!(
        (reply.status, reply.problem()),
        (status, problem),
        "{:?}",
        reply.body
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name(super::Client::new(super::Database::Sqlite).await.unwrap()).await; } )* }
        mod postgres { $( #[tokio::test] async fn $name() { if let Some(c) = super::Client::new(super::Database::Postgres).await { super::$name(c).await; } } )* }
    };
}

on_both_databases!(
    rejects_an_empty_body,
    rejects_a_body_over_64_kib,
    rejects_a_content_type_other_than_jose_json,
    rejects_a_body_that_is_not_json,
    rejects_the_general_serialization_with_two_signatures,
    rejects_an_unprotected_header,
    rejects_jwk_and_kid_together,
    rejects_jwk_where_kid_is_required,
    rejects_kid_where_jwk_is_required,
    rejects_kid_of_an_unknown_account,
    rejects_kid_of_a_deactivated_account,
    rejects_alg_none,
    rejects_alg_hs256,
    rejects_an_alg_outside_the_allowlist,
    rejects_an_alg_that_does_not_fit_the_key,
    rejects_a_missing_nonce,
    rejects_a_malformed_nonce,
    rejects_a_nonce_not_issued_by_us,
    rejects_a_reused_nonce,
    rejects_a_url_other_than_the_request_url,
    rejects_a_missing_url,
    rejects_a_bad_signature,
    rejects_post_as_get_with_a_payload,
    rejects_a_key_change_whose_inner_url_differs,
    rejects_a_key_change_whose_inner_jws_is_not_signed_by_the_new_key,
    rejects_a_key_change_whose_old_key_is_not_the_current_key,
);

async fn rejects_an_empty_body(c: Client) {
    let reply = c
        .send_raw("/acme/wire/new-order", "application/jose+json", Vec::new())
        .await;
    expect(&reply, StatusCode::BAD_REQUEST, "malformed");
}

async fn rejects_a_body_over_64_kib(c: Client) {
    let path = "/acme/wire/new-order";
    let header = c.kid_header(path).await;
    let jws = raw_jws(
        &c.signer,
        &header,
        Some(&json!({ "padding": "x".repeat(70 * 1024) })),
    );
    let reply = c.send(path, &jws).await;
    expect(&reply, StatusCode::PAYLOAD_TOO_LARGE, "malformed");
}

async fn rejects_a_content_type_other_than_jose_json(c: Client) {
    let path = "/acme/wire/new-order";
    let jws = raw_jws(&c.signer, &c.kid_header(path).await, Some(&json!({})));
    let reply = c
        .send_raw(path, "application/json", jws.to_string().into_bytes())
        .await;
    expect(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "malformed");
}

async fn rejects_a_body_that_is_not_json(c: Client) {
    let reply = c
        .send_raw(
            "/acme/wire/new-order",
            "application/jose+json",
            b"eyJhbGciOi.x.y".to_vec(),
        )
        .await;
    expect(&reply, StatusCode::BAD_REQUEST, "malformed");
}

async fn rejects_the_general_serialization_with_two_signatures(c: Client) {
    let path = "/acme/wire/new-order";
    let jws = raw_jws(&c.signer, &c.kid_header(path).await, Some(&json!({})));
    let one = json!({ "protected": jws["protected"], "signature": jws["signature"] });
    let general = json!({ "payload": jws["payload"], "signatures": [one, one] });
    expect(
        &c.send(path, &general).await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
}

async fn rejects_an_unprotected_header(c: Client) {
    let path = "/acme/wire/new-order";
    let mut jws = raw_jws(&c.signer, &c.kid_header(path).await, Some(&json!({})));
    jws["header"] = json!({ "kid": c.account });
    expect(
        &c.send(path, &jws).await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
}

async fn rejects_jwk_and_kid_together(c: Client) {
    let path = "/acme/wire/new-order";
    let mut header = c.kid_header(path).await;
    header["jwk"] = c.jwk();
    let jws = raw_jws(&c.signer, &header, Some(&json!({})));
    expect(
        &c.send(path, &jws).await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
}

async fn rejects_jwk_where_kid_is_required(c: Client) {
    let path = "/acme/wire/new-order";
    let jwk = KeyRef::Jwk(Jwk::from_public_key(c.signer.public_key().clone()));
    let reply =
        c.a.post("wire", &c.signer, &jwk, path, Some(json!({})))
            .await;
    expect(&reply, StatusCode::BAD_REQUEST, "malformed");
}

async fn rejects_kid_where_jwk_is_required(c: Client) {
    let path = "/acme/wire/new-account";
    let kid = KeyRef::Kid(c.account.clone());
    let reply =
        c.a.post("wire", &c.signer, &kid, path, Some(json!({})))
            .await;
    expect(&reply, StatusCode::BAD_REQUEST, "malformed");
}

async fn rejects_kid_of_an_unknown_account(c: Client) {
    let path = "/acme/wire/new-order";
    let kid = KeyRef::Kid(format!("{BASE}/acme/wire/account/unknown"));
    let reply =
        c.a.post("wire", &c.signer, &kid, path, Some(json!({})))
            .await;
    expect(&reply, StatusCode::BAD_REQUEST, "accountDoesNotExist");
}

async fn rejects_kid_of_a_deactivated_account(c: Client) {
    let kid = KeyRef::Kid(c.account.clone());
    let deactivated =
        c.a.post(
            "wire",
            &c.signer,
            &kid,
            &c.account_path(),
            Some(json!({ "status": "deactivated" })),
        )
        .await;
    assert_eq!(deactivated.body["status"], "deactivated");
    let reply =
        c.a.post("wire", &c.signer, &kid, &c.account_path(), None)
            .await;
    expect(&reply, StatusCode::FORBIDDEN, "unauthorized");
}

async fn with_alg(c: &Client, alg: &str) -> Reply {
    let path = c.account_path();
    let mut header = c.kid_header(&path).await;
    header["alg"] = json!(alg);
    c.send(&path, &raw_jws(&c.signer, &header, None)).await
}

async fn rejects_alg_none(c: Client) {
    expect(
        &with_alg(&c, "none").await,
        StatusCode::BAD_REQUEST,
        "badSignatureAlgorithm",
    );
}

async fn rejects_alg_hs256(c: Client) {
    expect(
        &with_alg(&c, "HS256").await,
        StatusCode::BAD_REQUEST,
        "badSignatureAlgorithm",
    );
}

async fn rejects_an_alg_outside_the_allowlist(c: Client) {
    let reply = with_alg(&c, "RS256").await;
    expect(&reply, StatusCode::BAD_REQUEST, "badSignatureAlgorithm");
    assert!(
        reply.body["algorithms"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{:?}",
        reply.body
    );
}

async fn rejects_an_alg_that_does_not_fit_the_key(c: Client) {
    // ES384 claimed for the account's P-256 key.
    expect(
        &with_alg(&c, "ES384").await,
        StatusCode::BAD_REQUEST,
        "badSignatureAlgorithm",
    );
}

async fn with_nonce(c: &Client, nonce: Option<&str>) -> Reply {
    let path = c.account_path();
    let mut header = c.kid_header(&path).await;
    match nonce {
        Some(n) => header["nonce"] = json!(n),
        None => {
            header.as_object_mut().unwrap().remove("nonce");
        }
    }
    c.send(&path, &raw_jws(&c.signer, &header, None)).await
}

async fn rejects_a_missing_nonce(c: Client) {
    expect(
        &with_nonce(&c, None).await,
        StatusCode::BAD_REQUEST,
        "badNonce",
    );
}

async fn rejects_a_malformed_nonce(c: Client) {
    expect(
        &with_nonce(&c, Some("not base64url!")).await,
        StatusCode::BAD_REQUEST,
        "badNonce",
    );
}

async fn rejects_a_nonce_not_issued_by_us(c: Client) {
    expect(
        &with_nonce(&c, Some("bm90LWlzc3VlZC1ieS11cw")).await,
        StatusCode::BAD_REQUEST,
        "badNonce",
    );
}

async fn rejects_a_reused_nonce(c: Client) {
    let path = c.account_path();
    let jws = raw_jws(&c.signer, &c.kid_header(&path).await, None);
    assert_eq!(c.send(&path, &jws).await.status, StatusCode::OK);
    let reply = c.send(&path, &jws).await;
    expect(&reply, StatusCode::BAD_REQUEST, "badNonce");
    assert!(
        reply.header("replay-nonce").is_some(),
        "a fresh nonce to retry with"
    );
}

async fn rejects_a_url_other_than_the_request_url(c: Client) {
    let path = c.account_path();
    let mut header = c.kid_header(&path).await;
    header["url"] = json!(format!("{BASE}/acme/wire/new-order"));
    let reply = c.send(&path, &raw_jws(&c.signer, &header, None)).await;
    expect(&reply, StatusCode::FORBIDDEN, "unauthorized");
}

async fn rejects_a_missing_url(c: Client) {
    let path = c.account_path();
    let mut header = c.kid_header(&path).await;
    header.as_object_mut().unwrap().remove("url");
    let reply = c.send(&path, &raw_jws(&c.signer, &header, None)).await;
    expect(&reply, StatusCode::BAD_REQUEST, "malformed");
}

async fn rejects_a_bad_signature(c: Client) {
    let path = c.account_path();
    let header = c.kid_header(&path).await;
    let stranger = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let reply = c.send(&path, &raw_jws(&stranger, &header, None)).await;
    expect(&reply, StatusCode::BAD_REQUEST, "malformed");
}

async fn rejects_post_as_get_with_a_payload(c: Client) {
    let order =
        c.a.post(
            "wire",
            &c.signer,
            &KeyRef::Kid(c.account.clone()),
            &format!("{}/orders", c.account_path()),
            Some(json!({ "anything": true })),
        )
        .await;
    expect(&order, StatusCode::BAD_REQUEST, "malformed");
}

/// A key-change request (RFC 8555 §7.3.5) whose inner JWS `edit` spoils; the inner JWS is
/// signed by the new key it names, or by a stranger when `signed_by_new` is false.
async fn key_change(
    c: &Client,
    edit: impl FnOnce(&mut Value, &mut Value),
    signed_by_new: bool,
) -> Reply {
    let new = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let new_jwk = Jwk::from_public_key(new.public_key().clone()).to_json_value();
    let mut header =
        json!({ "alg": "ES256", "jwk": new_jwk, "url": format!("{BASE}/acme/wire/key-change") });
    let mut payload = json!({ "account": c.account, "oldKey": c.jwk() });
    edit(&mut header, &mut payload);
    let stranger = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let inner = raw_jws(
        if signed_by_new { &new } else { &stranger },
        &header,
        Some(&payload),
    );
    c.a.post(
        "wire",
        &c.signer,
        &KeyRef::Kid(c.account.clone()),
        "/acme/wire/key-change",
        Some(inner),
    )
    .await
}

async fn rejects_a_key_change_whose_inner_url_differs(c: Client) {
    let reply = key_change(
        &c,
        |header, _| header["url"] = json!(format!("{BASE}/acme/wire/new-order")),
        true,
    )
    .await;
    expect(&reply, StatusCode::BAD_REQUEST, "malformed");
}

async fn rejects_a_key_change_whose_inner_jws_is_not_signed_by_the_new_key(c: Client) {
    let reply = key_change(&c, |_, _| {}, false).await;
    expect(&reply, StatusCode::BAD_REQUEST, "malformed");
}

async fn rejects_a_key_change_whose_old_key_is_not_the_current_key(c: Client) {
    let stranger = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let stranger_jwk = Jwk::from_public_key(stranger.public_key().clone()).to_json_value();
    let reply = key_change(&c, |_, payload| payload["oldKey"] = stranger_jwk, true).await;
    expect(&reply, StatusCode::FORBIDDEN, "unauthorized");
}
