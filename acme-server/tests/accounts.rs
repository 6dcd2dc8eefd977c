//! Directory, nonces and accounts over HTTP (in-process), on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use e2ei_acme::eab::{self, MacAlgorithm};
use e2ei_acme::jws::{KeyRef, sign_flattened};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::jwk::Jwk;
use e2ei_signer::Signer;
use serde_json::json;

mod common;

use common::{Authority, BASE, EAB_KEY};

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name(super::common::Authority::new(super::common::Database::Sqlite).await.unwrap()).await; } )* }
        mod postgres { $( #[tokio::test] async fn $name() { if let Some(a) = super::common::Authority::new(super::common::Database::Postgres).await { super::$name(a).await; } } )* }
    };
}

on_both_databases!(
    serves_a_directory_per_provisioner,
    new_nonce_answers_head_200_and_get_204_with_a_nonce,
    creates_finds_and_returns_existing_accounts,
    rejects_reused_unknown_and_missing_nonces,
    rejects_url_that_is_not_the_request_url,
    rejects_wrong_key_mode_and_unknown_accounts,
    rejects_wrong_content_type_and_bad_envelopes,
    validates_contacts,
    accepts_the_wire_clients_dummy_contact_on_wire_provisioners_only,
    requires_terms_and_external_account_binding_where_configured,
    updates_and_deactivates_accounts,
    rolls_over_account_keys,
);

async fn serves_a_directory_per_provisioner(a: Authority) {
    let wire = a.get("/acme/wire/directory", Method::GET).await;
    assert_eq!(wire.status, StatusCode::OK);
    assert_eq!(wire.body["newNonce"], format!("{BASE}/acme/wire/new-nonce"));
    assert_eq!(
        wire.body["newAccount"],
        format!("{BASE}/acme/wire/new-account")
    );
    assert_eq!(wire.body["newOrder"], format!("{BASE}/acme/wire/new-order"));
    assert_eq!(
        wire.body["keyChange"],
        format!("{BASE}/acme/wire/key-change")
    );
    let std = a.get("/acme/std/directory", Method::GET).await;
    assert_eq!(
        std.body["meta"]["termsOfService"],
        "https://acme.wire.example.com/terms"
    );
    assert_eq!(std.body["meta"]["externalAccountRequired"], true);
    assert!(std.header("replay-nonce").is_some());
    assert_eq!(
        std.header("link"),
        Some(format!("<{BASE}/acme/std/directory>;rel=\"index\"").as_str())
    );
    let none = a.get("/acme/nope/directory", Method::GET).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(
        none.header("content-type"),
        Some("application/problem+json")
    );
}

async fn new_nonce_answers_head_200_and_get_204_with_a_nonce(a: Authority) {
    let head = a.get("/acme/wire/new-nonce", Method::HEAD).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("cache-control"), Some("no-store"));
    let get = a.get("/acme/wire/new-nonce", Method::GET).await;
    assert_eq!(get.status, StatusCode::NO_CONTENT);
    assert_ne!(head.header("replay-nonce"), get.header("replay-nonce"));
    assert_eq!(get.header("replay-nonce").unwrap().len(), 22);
}

async fn creates_finds_and_returns_existing_accounts(a: Authority) {
    let signer = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
    let jwk = KeyRef::Jwk(Jwk::from_public_key(signer.public_key().clone()));
    let missing = a
        .post(
            "wire",
            &signer,
            &jwk,
            "/acme/wire/new-account",
            Some(json!({ "onlyReturnExisting": true })),
        )
        .await;
    assert_eq!(
        (missing.status, missing.problem()),
        (StatusCode::BAD_REQUEST, "accountDoesNotExist")
    );

    let url = a.account(&signer).await;
    assert!(url.starts_with(&format!("{BASE}/acme/wire/account/")));
    let again = a
        .post(
            "wire",
            &signer,
            &jwk,
            "/acme/wire/new-account",
            Some(json!({})),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.header("location"), Some(url.as_str()));
    assert_eq!(again.body["orders"], format!("{url}/orders"));
    assert_eq!(again.body["status"], "valid");
    assert!(again.header("replay-nonce").is_some());
    let found = a
        .post(
            "wire",
            &signer,
            &jwk,
            "/acme/wire/new-account",
            Some(json!({ "onlyReturnExisting": true })),
        )
        .await;
    assert_eq!(found.header("location"), Some(url.as_str()));

    // The same key on another provisioner is another account.
    let eab = eab::sign(
        MacAlgorithm::Hs256,
        "kid-1",
        EAB_KEY,
        &format!("{BASE}/acme/std/new-account"),
        &Jwk::from_public_key(signer.public_key().clone()),
    );
    let std = a
        .post(
            "std",
            &signer,
            &jwk,
            "/acme/std/new-account",
            Some(json!({ "termsOfServiceAgreed": true, "externalAccountBinding": eab })),
        )
        .await;
    assert_eq!(std.status, StatusCode::CREATED, "{:?}", std.body);
    assert_ne!(std.header("location"), Some(url.as_str()));
}

async fn rejects_reused_unknown_and_missing_nonces(a: Authority) {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let jwk = KeyRef::Jwk(Jwk::from_public_key(signer.public_key().clone()));
    let nonce = a.nonce("wire").await;
    let url = format!("{BASE}/acme/wire/new-account");
    let jws = sign_flattened(&signer, &jwk, Some(&nonce), &url, Some(&json!({}))).unwrap();
    assert_eq!(
        a.post_jws("/acme/wire/new-account", &jws).await.status,
        StatusCode::CREATED
    );
    let reused = a.post_jws("/acme/wire/new-account", &jws).await;
    assert_eq!(
        (reused.status, reused.problem()),
        (StatusCode::BAD_REQUEST, "badNonce")
    );
    assert!(
        reused.header("replay-nonce").is_some(),
        "a badNonce answer carries a fresh nonce"
    );
    let unknown = sign_flattened(
        &signer,
        &jwk,
        Some("bm90LWlzc3VlZC1ieS11cw"),
        &url,
        Some(&json!({})),
    )
    .unwrap();
    assert_eq!(
        a.post_jws("/acme/wire/new-account", &unknown)
            .await
            .problem(),
        "badNonce"
    );
    let missing = sign_flattened(&signer, &jwk, None, &url, Some(&json!({}))).unwrap();
    assert_eq!(
        a.post_jws("/acme/wire/new-account", &missing)
            .await
            .problem(),
        "badNonce"
    );
}

async fn rejects_url_that_is_not_the_request_url(a: Authority) {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let jwk = KeyRef::Jwk(Jwk::from_public_key(signer.public_key().clone()));
    let nonce = a.nonce("wire").await;
    let jws = sign_flattened(
        &signer,
        &jwk,
        Some(&nonce),
        &format!("{BASE}/acme/wire/new-order"),
        Some(&json!({})),
    )
    .unwrap();
    let reply = a.post_jws("/acme/wire/new-account", &jws).await;
    assert_eq!(
        (reply.status, reply.problem()),
        (StatusCode::FORBIDDEN, "unauthorized")
    );
}

async fn rejects_wrong_key_mode_and_unknown_accounts(a: Authority) {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let url = a.account(&signer).await;
    let path = url.trim_start_matches(BASE).to_owned();
    let kid = KeyRef::Kid(url.clone());
    let with_kid = a
        .post(
            "wire",
            &signer,
            &kid,
            "/acme/wire/new-account",
            Some(json!({})),
        )
        .await;
    assert_eq!(with_kid.problem(), "malformed");
    let jwk = KeyRef::Jwk(Jwk::from_public_key(signer.public_key().clone()));
    let with_jwk = a.post("wire", &signer, &jwk, &path, None).await;
    assert_eq!(with_jwk.problem(), "malformed");
    let unknown = KeyRef::Kid(format!("{BASE}/acme/wire/account/nope"));
    let reply = a
        .post("wire", &signer, &unknown, "/acme/wire/account/nope", None)
        .await;
    assert_eq!(reply.problem(), "accountDoesNotExist");
    // Signed by another key than the account's.
    let other = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let reply = a.post("wire", &other, &kid, &path, None).await;
    assert_eq!(reply.problem(), "malformed");
    // Another account's URL in the path.
    let second = a
        .account(&Signer::ephemeral(KeyAlgorithm::P256).unwrap())
        .await;
    let second_path = second.trim_start_matches(BASE).to_owned();
    let reply = a.post("wire", &signer, &kid, &second_path, None).await;
    assert_eq!(reply.problem(), "unauthorized");
}

async fn rejects_wrong_content_type_and_bad_envelopes(a: Authority) {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let jwk = KeyRef::Jwk(Jwk::from_public_key(signer.public_key().clone()));
    let nonce = a.nonce("wire").await;
    let jws = sign_flattened(
        &signer,
        &jwk,
        Some(&nonce),
        &format!("{BASE}/acme/wire/new-account"),
        Some(&json!({})),
    )
    .unwrap();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/acme/wire/new-account")
        .header("content-type", "application/json")
        .body(Body::from(jws.to_string()))
        .unwrap();
    let reply = a.send(request).await;
    assert_eq!(reply.problem(), "malformed");
    let mut unprotected = jws.clone();
    unprotected["header"] = json!({});
    assert_eq!(
        a.post_jws("/acme/wire/new-account", &unprotected)
            .await
            .problem(),
        "malformed"
    );
    let big = json!({ "protected": "x".repeat(70 * 1024), "payload": "", "signature": "" });
    let reply = a.post_jws("/acme/wire/new-account", &big).await;
    assert!(reply.status.is_client_error());
}

async fn validates_contacts(a: Authority) {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let jwk = KeyRef::Jwk(Jwk::from_public_key(signer.public_key().clone()));
    for (contact, problem) in [
        ("tel:+123", "unsupportedContact"),
        ("mailto:not-an-address", "invalidContact"),
        ("mailto:a@example.com?subject=x", "invalidContact"),
    ] {
        let reply = a
            .post(
                "wire",
                &signer,
                &jwk,
                "/acme/wire/new-account",
                Some(json!({ "contact": [contact] })),
            )
            .await;
        assert_eq!(reply.problem(), problem, "{contact}");
    }
    let many: Vec<String> = (0..11)
        .map(|i| format!("mailto:a{i}@example.com"))
        .collect();
    let reply = a
        .post(
            "wire",
            &signer,
            &jwk,
            "/acme/wire/new-account",
            Some(json!({ "contact": many })),
        )
        .await;
    assert_eq!(reply.problem(), "invalidContact");
    // Nothing was created by the refused requests.
    let reply = a
        .post(
            "wire",
            &signer,
            &jwk,
            "/acme/wire/new-account",
            Some(json!({ "onlyReturnExisting": true })),
        )
        .await;
    assert_eq!(reply.problem(), "accountDoesNotExist");
}

/// Wire's client registers with `"contact": ["anonymous@anonymous.invalid"]`, not a URL
/// (protocol doc §4 step 3): the Wire provisioner takes it, a standard one does not.
async fn accepts_the_wire_clients_dummy_contact_on_wire_provisioners_only(a: Authority) {
    let signer = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
    let jwk = KeyRef::Jwk(Jwk::from_public_key(signer.public_key().clone()));
    let payload = json!({
        "termsOfServiceAgreed": true,
        "contact": ["anonymous@anonymous.invalid"],
        "onlyReturnExisting": false,
    });
    let reply = a
        .post(
            "std",
            &signer,
            &jwk,
            "/acme/std/new-account",
            Some(payload.clone()),
        )
        .await;
    assert_eq!(reply.problem(), "unsupportedContact");
    let reply = a
        .post(
            "wire",
            &signer,
            &jwk,
            "/acme/wire/new-account",
            Some(payload),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(
        reply.body["contact"],
        json!(["anonymous@anonymous.invalid"])
    );
}

async fn requires_terms_and_external_account_binding_where_configured(a: Authority) {
    let signer = Signer::ephemeral(KeyAlgorithm::P384).unwrap();
    let jwk_value = Jwk::from_public_key(signer.public_key().clone());
    let jwk = KeyRef::Jwk(jwk_value.clone());
    let url = format!("{BASE}/acme/std/new-account");
    let eab = eab::sign(MacAlgorithm::Hs256, "kid-1", EAB_KEY, &url, &jwk_value);
    let no_terms = a
        .post(
            "std",
            &signer,
            &jwk,
            "/acme/std/new-account",
            Some(json!({ "externalAccountBinding": eab })),
        )
        .await;
    assert_eq!(no_terms.problem(), "malformed");
    let no_eab = a
        .post(
            "std",
            &signer,
            &jwk,
            "/acme/std/new-account",
            Some(json!({ "termsOfServiceAgreed": true })),
        )
        .await;
    assert_eq!(
        (no_eab.status, no_eab.problem()),
        (StatusCode::UNAUTHORIZED, "externalAccountRequired")
    );
    let wrong_key = eab::sign(
        MacAlgorithm::Hs256,
        "kid-1",
        b"not the right key, not the right",
        &url,
        &jwk_value,
    );
    let reply = a
        .post(
            "std",
            &signer,
            &jwk,
            "/acme/std/new-account",
            Some(json!({ "termsOfServiceAgreed": true, "externalAccountBinding": wrong_key })),
        )
        .await;
    assert_eq!(reply.problem(), "unauthorized");
    let reply = a
        .post(
            "std",
            &signer,
            &jwk,
            "/acme/std/new-account",
            Some(json!({ "termsOfServiceAgreed": true, "externalAccountBinding": eab })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    assert_eq!(reply.body["termsOfServiceAgreed"], true);
}

async fn updates_and_deactivates_accounts(a: Authority) {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let url = a.account(&signer).await;
    let path = url.trim_start_matches(BASE).to_owned();
    let kid = KeyRef::Kid(url.clone());
    let fetched = a.post("wire", &signer, &kid, &path, None).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(
        fetched.body["contact"],
        json!(["mailto:alice@wire.example.com"])
    );
    let updated = a
        .post(
            "wire",
            &signer,
            &kid,
            &path,
            Some(json!({ "contact": ["mailto:ops@wire.example.com"] })),
        )
        .await;
    assert_eq!(
        updated.body["contact"],
        json!(["mailto:ops@wire.example.com"])
    );
    let bad = a
        .post(
            "wire",
            &signer,
            &kid,
            &path,
            Some(json!({ "status": "revoked" })),
        )
        .await;
    assert_eq!(bad.problem(), "malformed");
    let gone = a
        .post(
            "wire",
            &signer,
            &kid,
            &path,
            Some(json!({ "status": "deactivated" })),
        )
        .await;
    assert_eq!(gone.body["status"], "deactivated");
    let after = a.post("wire", &signer, &kid, &path, None).await;
    assert_eq!(
        (after.status, after.problem()),
        (StatusCode::FORBIDDEN, "unauthorized")
    );
}

async fn rolls_over_account_keys(a: Authority) {
    let old = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let new = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
    let url = a.account(&old).await;
    let path = url.trim_start_matches(BASE).to_owned();
    let inner_url = format!("{BASE}/acme/wire/key-change");
    let old_jwk = Jwk::from_public_key(old.public_key().clone());
    let inner = sign_flattened(
        &new,
        &KeyRef::Jwk(Jwk::from_public_key(new.public_key().clone())),
        None,
        &inner_url,
        Some(&json!({ "account": url, "oldKey": old_jwk.to_json_value() })),
    )
    .unwrap();
    let reply = a
        .post(
            "wire",
            &old,
            &KeyRef::Kid(url.clone()),
            "/acme/wire/key-change",
            Some(inner),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    // The old key no longer works (its ES256 `alg` does not fit the new Ed25519 key); the new one does.
    assert_eq!(
        a.post("wire", &old, &KeyRef::Kid(url.clone()), &path, None)
            .await
            .problem(),
        "badSignatureAlgorithm"
    );
    assert_eq!(
        a.post("wire", &new, &KeyRef::Kid(url.clone()), &path, None)
            .await
            .status,
        StatusCode::OK
    );

    // A key another account holds → 409 with that account's Location.
    let other = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let other_url = a.account(&other).await;
    let new_jwk = Jwk::from_public_key(new.public_key().clone());
    let inner = sign_flattened(
        &other,
        &KeyRef::Jwk(Jwk::from_public_key(other.public_key().clone())),
        None,
        &inner_url,
        Some(&json!({ "account": url, "oldKey": new_jwk.to_json_value() })),
    )
    .unwrap();
    let reply = a
        .post(
            "wire",
            &new,
            &KeyRef::Kid(url.clone()),
            "/acme/wire/key-change",
            Some(inner),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.header("location"), Some(other_url.as_str()));
}
