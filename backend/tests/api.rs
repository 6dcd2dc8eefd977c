//! The backend's HTTP API, in-process, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{DOMAIN, PASSWORD, Reply, TestApp};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::FixedClock;
use e2ei_core::id::{ClientId, DisplayName, QualifiedHandle, TeamId};
use e2ei_core::jwk::Jwk;
use e2ei_core::key::PublicKey;
use e2ei_dpop::{
    AccessTokenVerifier, AcmePolicy, BackendPublicKeys, ChallengeExpectations, ProofOptions,
    ProofRequest, build_proof,
};
use e2ei_signer::Signer;
use serde_json::json;

on_both_databases!(
    registers_logs_in_refreshes_and_logs_out,
    rejects_forged_expired_and_wrong_type_tokens,
    rejects_token_with_unknown_key_index,
    keeps_at_most_32_cookies_per_kind,
    renews_old_cookies_on_refresh,
    enforces_client_limits_and_replaces_the_temporary_client,
    client_registration_and_deletion_need_the_password,
    deleting_a_client_revokes_its_cookies,
    issues_dpop_access_tokens_that_the_acme_side_accepts,
    nonce_is_single_use_and_per_client,
    access_token_preconditions_have_wire_labels,
    concurrent_requests_consume_a_nonce_once,
    feature_config_is_read_by_members_and_set_by_admins,
    bad_input_gets_clear_errors_and_writes_nothing,
    handles_are_unique_and_validated,
    new_clients_are_announced_to_the_users_other_clients,
    notifications_page_and_report_gaps_and_expire,
);

async fn cookie_request(app: &TestApp, path: &str, cookie: &str) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

async fn registers_logs_in_refreshes_and_logs_out(app: TestApp) {
    let (user, team) = app.register_owner("alice_wire").await;
    let (token, login) = app.login("alice_wire").await;
    assert_eq!(login.body["token_type"], "Bearer");
    assert_eq!(login.body["expires_in"], 900);
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let set_cookie = login.header("set-cookie").unwrap();
    assert!(
        set_cookie.contains("Path=/access")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("Secure")
    );
    assert!(set_cookie.contains(&format!("Max-Age={}", 365 * 24 * 3600)));

    let me = app.call(Method::GET, "/self", Some(&token), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], user.as_str());
    assert_eq!(me.body["team"], team.as_str());
    assert_eq!(me.body["role"], "owner");
    assert_eq!(me.body["qualified_id"]["domain"], DOMAIN);
    assert!(me.body.get("password_hash").is_none());

    let cookie = login.cookie();
    let refreshed = cookie_request(&app, "/access", &cookie).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{refreshed:?}");
    let new_token = refreshed.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.call(Method::GET, "/self", Some(new_token), None)
            .await
            .status,
        StatusCode::OK
    );

    // A refresh can bind the access token to one of the user's clients (`i=`).
    let cid = app.new_client(new_token).await;
    let bound = cookie_request(&app, &format!("/access?client_id={cid}"), &cookie).await;
    assert_eq!(bound.status, StatusCode::OK);
    assert!(
        bound.body["access_token"]
            .as_str()
            .unwrap()
            .ends_with(&format!(".i={cid}"))
    );
    let foreign = cookie_request(&app, "/access?client_id=abc", &cookie).await;
    assert_eq!(
        (foreign.status, foreign.label()),
        (StatusCode::NOT_FOUND, "client-not-found")
    );
    // The connection number survives a renewal when the old token is presented.
    let connection = |t: &str| {
        t.split(".c=")
            .nth(1)
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_owned()
    };
    let renewal = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/access")
                .header("cookie", &cookie)
                .header("authorization", format!("Bearer {new_token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        connection(renewal.body["access_token"].as_str().unwrap()),
        connection(new_token)
    );

    let out = cookie_request(&app, "/access/logout", &cookie).await;
    assert_eq!(out.status, StatusCode::OK);
    let after = cookie_request(&app, "/access", &cookie).await;
    assert_eq!(after.status, StatusCode::FORBIDDEN);
    assert_eq!(after.label(), "invalid-credentials");

    // Session logins get a cookie without Max-Age.
    let session = app
        .call(
            Method::POST,
            "/login",
            None,
            Some(json!({ "handle": "alice_wire", "password": PASSWORD })),
        )
        .await;
    assert!(!session.header("set-cookie").unwrap().contains("Max-Age"));
    let wrong = app
        .call(
            Method::POST,
            "/login",
            None,
            Some(json!({ "handle": "alice_wire", "password": "wrong password" })),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.label()),
        (StatusCode::FORBIDDEN, "invalid-credentials")
    );
}

async fn rejects_forged_expired_and_wrong_type_tokens(app: TestApp) {
    app.register_owner("alice_wire").await;
    let (token, login) = app.login("alice_wire").await;
    let forged = token.replace(".c=", ".c=1");
    let reply = app.call(Method::GET, "/self", Some(&forged), None).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::UNAUTHORIZED, "invalid-token")
    );

    let cookie_token = login.cookie().trim_start_matches("zuid=").to_owned();
    let reply = app
        .call(Method::GET, "/self", Some(&cookie_token), None)
        .await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::UNAUTHORIZED, "invalid-token")
    );

    let reply = app.call(Method::GET, "/self", None, None).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::UNAUTHORIZED, "missing-auth")
    );

    app.clock.advance(901);
    let reply = app.call(Method::GET, "/self", Some(&token), None).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::UNAUTHORIZED, "token-expired")
    );
}

async fn rejects_token_with_unknown_key_index(app: TestApp) {
    app.register_owner("alice_wire").await;
    let (token, _) = app.login("alice_wire").await;
    let other_index = token.replace(".k=1.", ".k=2.");
    let reply = app
        .call(Method::GET, "/self", Some(&other_index), None)
        .await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::UNAUTHORIZED, "invalid-token")
    );
}

async fn keeps_at_most_32_cookies_per_kind(app: TestApp) {
    app.register_owner("alice_wire").await;
    let (_, first) = app.login("alice_wire").await;
    for _ in 0..32 {
        app.clock.advance(1);
        app.login("alice_wire").await;
    }
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM cookies WHERE session = 0")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    // 32 logins after the first, plus the registration cookie: the oldest two were replaced.
    assert_eq!(count, 32);
    let reply = cookie_request(&app, "/access", &first.cookie()).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::FORBIDDEN, "invalid-credentials")
    );
}

async fn renews_old_cookies_on_refresh(app: TestApp) {
    app.register_owner("alice_wire").await;
    let (_, login) = app.login("alice_wire").await;
    let young = cookie_request(&app, "/access", &login.cookie()).await;
    assert!(young.header("set-cookie").is_none());
    app.clock.advance(91 * 24 * 3600);
    let old = cookie_request(&app, "/access", &login.cookie()).await;
    assert_eq!(old.status, StatusCode::OK);
    let fresh = old.cookie();
    assert_ne!(fresh, login.cookie());
    assert_eq!(
        cookie_request(&app, "/access", &login.cookie())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        cookie_request(&app, "/access", &fresh).await.status,
        StatusCode::OK
    );
}

async fn enforces_client_limits_and_replaces_the_temporary_client(app: TestApp) {
    app.register_owner("alice_wire").await;
    let (token, _) = app.login("alice_wire").await;
    for _ in 0..7 {
        app.new_client(&token).await;
    }
    let eighth = app
        .call(
            Method::POST,
            "/clients",
            Some(&token),
            Some(json!({ "type": "permanent", "password": PASSWORD })),
        )
        .await;
    assert_eq!(
        (eighth.status, eighth.label()),
        (StatusCode::FORBIDDEN, "too-many-clients")
    );
    let temp = |n: u8| json!({ "type": "temporary", "password": PASSWORD, "label": format!("browser {n}") });
    let first = app
        .call(Method::POST, "/clients", Some(&token), Some(temp(1)))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = app
        .call(Method::POST, "/clients", Some(&token), Some(temp(2)))
        .await;
    assert_eq!(second.status, StatusCode::CREATED);
    let list = app.call(Method::GET, "/clients", Some(&token), None).await;
    let clients = list.body.as_array().unwrap();
    assert_eq!(clients.len(), 8);
    let temporaries: Vec<_> = clients
        .iter()
        .filter(|c| c["type"] == "temporary")
        .collect();
    assert_eq!(temporaries.len(), 1);
    assert_eq!(temporaries[0]["id"], second.body["id"]);
    // Ids are lowercase hex without padding.
    for c in clients {
        let id = c["id"].as_str().unwrap();
        assert!(
            id.chars()
                .all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_uppercase())
        );
        assert!(!id.starts_with('0'));
    }
}

async fn client_registration_and_deletion_need_the_password(app: TestApp) {
    app.register_owner("alice_wire").await;
    let (token, _) = app.login("alice_wire").await;
    let missing = app
        .call(
            Method::POST,
            "/clients",
            Some(&token),
            Some(json!({ "type": "permanent" })),
        )
        .await;
    assert_eq!(
        (missing.status, missing.label()),
        (StatusCode::FORBIDDEN, "missing-auth")
    );
    let wrong = app
        .call(
            Method::POST,
            "/clients",
            Some(&token),
            Some(json!({ "type": "permanent", "password": "nope nope nope" })),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.label()),
        (StatusCode::FORBIDDEN, "invalid-credentials")
    );
    let cid = app.new_client(&token).await;
    let path = format!("/clients/{cid}");
    let reply = app
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({ "password": "nope nope nope" })),
        )
        .await;
    assert_eq!(reply.label(), "invalid-credentials");
    assert_eq!(
        app.call(Method::GET, &path, Some(&token), None)
            .await
            .status,
        StatusCode::OK
    );
    let reply = app
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let gone = app.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(
        (gone.status, gone.label()),
        (StatusCode::NOT_FOUND, "client-not-found")
    );
}

async fn deleting_a_client_revokes_its_cookies(app: TestApp) {
    app.register_owner("alice_wire").await;
    let labelled = app
        .call(
            Method::POST,
            "/login?persist=true",
            None,
            Some(json!({ "handle": "alice_wire", "password": PASSWORD, "label": "cookie-label" })),
        )
        .await;
    let other = app.login("alice_wire").await.1;
    let token = labelled.body["access_token"].as_str().unwrap();
    let cid = app.new_client(token).await;
    app.call(
        Method::DELETE,
        &format!("/clients/{cid}"),
        Some(token),
        Some(json!({ "password": PASSWORD })),
    )
    .await;
    assert_eq!(
        cookie_request(&app, "/access", &labelled.cookie())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        cookie_request(&app, "/access", &other.cookie())
            .await
            .status,
        StatusCode::OK
    );
    // The device's certificates are queued for revocation (cessationOfOperation).
    let queued: Vec<(String, String)> =
        sqlx::query_as("SELECT client_uri, reason FROM revocation_outbox")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(queued.len(), 1);
    assert!(
        queued[0].0.ends_with(&format!("!{cid}@{DOMAIN}")),
        "{queued:?}"
    );
    assert_eq!(queued[0].1, "cessationOfOperation");
}

/// A team user with a client, and what a Wire client needs for a proof.
struct Enrollment {
    token: String,
    cid: String,
    client_id: ClientId,
    handle: QualifiedHandle,
    name: DisplayName,
    team: TeamId,
    account: Signer,
}

async fn enroll(app: &TestApp, alg: KeyAlgorithm) -> Enrollment {
    let (user, team) = app.register_owner("alice_wire").await;
    let (token, _) = app.login("alice_wire").await;
    let cid = app.new_client(&token).await;
    let client_id = format!(
        "wireapp://{}!{cid}@{DOMAIN}",
        e2ei_core::id::UserId::new(user.parse().unwrap()).to_base64url()
    )
    .parse()
    .unwrap();
    Enrollment {
        token,
        cid,
        client_id,
        handle: format!("wireapp://%40alice_wire@{DOMAIN}").parse().unwrap(),
        name: DisplayName::new("Alice Smith").unwrap(),
        team: team.parse().unwrap(),
        account: Signer::ephemeral(alg).unwrap(),
    }
}

const CHALLENGE_URL: &str = "https://acme.wire.example.com/acme/wire/challenge/a/b";
const CHALLENGE_TOKEN: &str = "OysCZNnV2iJTYfjmTUJZ6vavXXkzPFLf";

impl Enrollment {
    fn htu(&self) -> String {
        format!("https://{DOMAIN}/clients/{}/access-token", self.cid)
    }

    fn proof(&self, app: &TestApp, nonce: &str) -> String {
        let htu = self.htu();
        let request = ProofRequest {
            client_id: &self.client_id,
            handle: &self.handle,
            display_name: &self.name,
            team: Some(&self.team),
            backend_nonce: nonce,
            htu: &htu,
            challenge_url: CHALLENGE_URL,
            challenge_token: CHALLENGE_TOKEN,
        };
        build_proof(
            &self.account,
            &request,
            &ProofOptions::default(),
            app.clock.as_ref(),
        )
        .unwrap()
    }

    async fn nonce(&self, app: &TestApp) -> String {
        let reply = app
            .call(
                Method::GET,
                &format!("/clients/{}/nonce", self.cid),
                Some(&self.token),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        reply.header("replay-nonce").unwrap().to_owned()
    }

    async fn post_proof(&self, app: &TestApp, proof: &str) -> Reply {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/clients/{}/access-token", self.cid))
            .header("authorization", format!("Bearer {}", self.token))
            .header("dpop", proof)
            .body(Body::empty())
            .unwrap();
        app.send(request).await
    }
}

async fn issues_dpop_access_tokens_that_the_acme_side_accepts(app: TestApp) {
    let app = &app;
    for alg in KeyAlgorithm::ALL {
        sqlx::query("DELETE FROM users")
            .execute(app.state.db.pool())
            .await
            .unwrap();
        sqlx::query("DELETE FROM teams")
            .execute(app.state.db.pool())
            .await
            .unwrap();
        let e = enroll(app, alg).await;
        let nonce = e.nonce(app).await;
        let reply = e.post_proof(app, &e.proof(app, &nonce)).await;
        assert_eq!(reply.status, StatusCode::OK, "{alg}: {reply:?}");
        assert_eq!(reply.body["type"], "DPoP");
        assert_eq!(reply.body["expires_in"], 360);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let token = reply.body["token"].as_str().unwrap();

        // The ACME server, configured with the keys `/dpop-keys` publishes, accepts it.
        let keys = app.call(Method::GET, "/dpop-keys", None, None).await;
        let public: Vec<PublicKey> = keys.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| PublicKey::from_pem(k["pem"].as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(public.len(), 4);
        let account = Jwk::from_public_key(e.account.public_key().clone());
        let (client_uri, handle_uri, htu) = (e.client_id.to_uri(), e.handle.to_uri(), e.htu());
        let expect = ChallengeExpectations {
            challenge_url: CHALLENGE_URL,
            challenge_token: CHALLENGE_TOKEN,
            target: &htu,
            client_id: &client_uri,
            handle: &handle_uri,
            display_name: e.name.as_str(),
            account_key: &account,
        };
        let clock = FixedClock(e2ei_core::clock::Clock::now(app.clock.as_ref()));
        AccessTokenVerifier::new(&BackendPublicKeys::new(public), &AcmePolicy::strict())
            .verify(token, &expect, &clock)
            .unwrap_or_else(|err| panic!("{alg}: {err}"));
    }
}

async fn nonce_is_single_use_and_per_client(app: TestApp) {
    let e = enroll(&app, KeyAlgorithm::P256).await;
    let nonce = e.nonce(&app).await;
    assert_eq!(nonce.len(), 22);
    let proof = e.proof(&app, &nonce);
    assert_eq!(e.post_proof(&app, &proof).await.status, StatusCode::OK);
    let again = e.post_proof(&app, &proof).await;
    assert_eq!(
        (again.status, again.label()),
        (StatusCode::BAD_REQUEST, "client-token-bad-nonce")
    );

    // A nonce fetched for another client of the same user does not work for this one.
    let other = app.new_client(&e.token).await;
    let reply = app
        .call(
            Method::GET,
            &format!("/clients/{other}/nonce"),
            Some(&e.token),
            None,
        )
        .await;
    let foreign = reply.header("replay-nonce").unwrap().to_owned();
    let reply = e.post_proof(&app, &e.proof(&app, &foreign)).await;
    assert_eq!(reply.label(), "client-token-bad-nonce");

    // Expired after 300 s.
    let nonce = e.nonce(&app).await;
    app.clock.advance(301);
    let reply = e.post_proof(&app, &e.proof(&app, &nonce)).await;
    assert_eq!(reply.label(), "client-token-bad-nonce");

    // HEAD works too and exposes the header to browsers.
    let head = Request::builder()
        .method(Method::HEAD)
        .uri(format!("/clients/{}/nonce", e.cid))
        .header("authorization", format!("Bearer {}", e.token))
        .body(Body::empty())
        .unwrap();
    let reply = app.send(head).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("replay-nonce").is_some());
    assert_eq!(
        reply.header("access-control-expose-headers"),
        Some("Replay-Nonce")
    );
}

async fn access_token_preconditions_have_wire_labels(app: TestApp) {
    let e = enroll(&app, KeyAlgorithm::Ed25519).await;
    let missing = Request::builder()
        .method(Method::POST)
        .uri(format!("/clients/{}/access-token", e.cid))
        .header("authorization", format!("Bearer {}", e.token))
        .body(Body::empty())
        .unwrap();
    let reply = app.send(missing).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let reply = app
        .call(
            Method::POST,
            "/clients/123456/access-token",
            Some(&e.token),
            None,
        )
        .await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::NOT_FOUND, "client-not-found")
    );

    let nonce = e.nonce(&app).await;
    let tampered = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let proof = e.proof(&app, &nonce);
        let parts: Vec<&str> = proof.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        claims["name"] = json!("Mallory");
        format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(claims.to_string()),
            parts[2]
        )
    };
    let reply = e.post_proof(&app, &tampered).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::BAD_REQUEST, "client-token-bad-signature")
    );
    // The failed attempt left the nonce usable.
    assert_eq!(
        e.post_proof(&app, &e.proof(&app, &nonce)).await.status,
        StatusCode::OK
    );

    // A user outside any team gets `not-a-team-user`.
    let solo = app
        .call(
            Method::POST,
            "/register",
            None,
            Some(json!({ "name": "Bob", "email": "bob@example.com", "password": PASSWORD, "handle": "bob" })),
        )
        .await;
    assert_eq!(solo.status, StatusCode::CREATED);
    let (token, _) = app.login("bob").await;
    let cid = app.new_client(&token).await;
    let reply = app
        .call(
            Method::GET,
            &format!("/clients/{cid}/nonce"),
            Some(&token),
            None,
        )
        .await;
    let nonce = reply.header("replay-nonce").unwrap().to_owned();
    let bob = Enrollment {
        token,
        cid,
        ..enroll_for_other(&e)
    };
    let reply = bob.post_proof(&app, &bob.proof(&app, &nonce)).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::BAD_REQUEST, "not-a-team-user")
    );
}

fn enroll_for_other(e: &Enrollment) -> Enrollment {
    Enrollment {
        token: String::new(),
        cid: String::new(),
        client_id: e.client_id.clone(),
        handle: e.handle.clone(),
        name: e.name.clone(),
        team: e.team,
        account: Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap(),
    }
}

async fn concurrent_requests_consume_a_nonce_once(app: TestApp) {
    let e = enroll(&app, KeyAlgorithm::P256).await;
    let nonce = e.nonce(&app).await;
    let proof = e.proof(&app, &nonce);
    let mut tasks = Vec::new();
    let app = std::sync::Arc::new(app);
    let e = std::sync::Arc::new(e);
    for _ in 0..16 {
        let (app, e, proof) = (app.clone(), e.clone(), proof.clone());
        tasks.push(tokio::spawn(
            async move { e.post_proof(&app, &proof).await },
        ));
    }
    let mut ok = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::OK => ok += 1,
            _ => assert_eq!(reply.label(), "client-token-bad-nonce", "{reply:?}"),
        }
    }
    assert_eq!(ok, 1);
}

async fn feature_config_is_read_by_members_and_set_by_admins(app: TestApp) {
    let (_, team) = app.register_owner("alice_wire").await;
    let (owner, _) = app.login("alice_wire").await;
    let path = format!("/teams/{team}/features/mlsE2EId");
    let default = app.call(Method::GET, &path, Some(&owner), None).await;
    assert_eq!(default.status, StatusCode::OK);
    assert_eq!(default.body["status"], "disabled");
    assert_eq!(default.body["config"]["verificationExpiration"], 86400);
    // No CRL proxy configured and none stored: nothing to advertise.
    assert!(default.body["config"]["crlProxy"].is_null());

    let member = app
        .call(
            Method::POST,
            &format!("/teams/{team}/members"),
            Some(&owner),
            Some(json!({ "name": "Bob", "handle": "bob", "password": PASSWORD })),
        )
        .await;
    assert_eq!(member.status, StatusCode::CREATED, "{member:?}");
    assert_eq!(member.body["role"], "member");
    let (bob, _) = app.login("bob").await;
    let enabled = json!({
        "status": "enabled",
        "lockStatus": "unlocked",
        "config": {
            "verificationExpiration": 3600,
            "acmeDiscoveryUrl": "https://acme.wire.example.com/acme/wire/directory",
            "crlProxy": "https://wire.example.com/proxyCrl",
            "useProxyOnMobile": true
        }
    });
    let denied = app
        .call(Method::PUT, &path, Some(&bob), Some(enabled.clone()))
        .await;
    assert_eq!(
        (denied.status, denied.label()),
        (StatusCode::FORBIDDEN, "operation-denied")
    );
    let set = app
        .call(Method::PUT, &path, Some(&owner), Some(enabled.clone()))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    assert_eq!(
        app.call(Method::GET, &path, Some(&bob), None).await.body,
        enabled
    );
    let mine = app
        .call(Method::GET, "/feature-configs", Some(&bob), None)
        .await;
    assert_eq!(mine.body["mlsE2EId"], enabled);

    let mut bad = enabled.clone();
    bad["config"]["acmeDiscoveryUrl"] = json!("http://insecure.example.com");
    let reply = app.call(Method::PUT, &path, Some(&owner), Some(bad)).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::BAD_REQUEST, "invalid-feature-config")
    );
    assert_eq!(
        app.call(Method::GET, &path, Some(&bob), None).await.body,
        enabled
    );

    let mut locking = enabled.clone();
    locking["lockStatus"] = json!("locked");
    let reply = app
        .call(Method::PUT, &path, Some(&owner), Some(locking))
        .await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::FORBIDDEN, "operation-denied")
    );
    // Once the operator has locked it, admins cannot change it.
    let mut stored = enabled.clone();
    stored["lockStatus"] = json!("locked");
    sqlx::query("UPDATE team_features SET value = $1")
        .bind(stored.to_string())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let reply = app
        .call(Method::PUT, &path, Some(&owner), Some(enabled.clone()))
        .await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::CONFLICT, "feature-locked")
    );

    // Another team's member cannot read it.
    let other = app
        .call(
            Method::POST,
            "/register",
            None,
            Some(json!({ "name": "Eve", "email": "eve@example.com", "password": PASSWORD, "handle": "eve", "team": { "name": "Other" } })),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let (eve, _) = app.login("eve").await;
    let reply = app.call(Method::GET, &path, Some(&eve), None).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::FORBIDDEN, "no-team-member")
    );
}

async fn bad_input_gets_clear_errors_and_writes_nothing(app: TestApp) {
    let malformed = Request::builder()
        .method(Method::POST)
        .uri("/register")
        .header("content-type", "application/json")
        .body(Body::from("{\"name\": "))
        .unwrap();
    let reply = app.send(malformed).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::BAD_REQUEST, "bad-request")
    );
    assert_eq!(reply.body["code"], 400);

    let wrong_type = Request::builder()
        .method(Method::POST)
        .uri("/register")
        .header("content-type", "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let reply = app.send(wrong_type).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type")
    );

    let huge =
        json!({ "name": "x".repeat(70 * 1024), "email": "a@example.com", "password": PASSWORD });
    let reply = app.call(Method::POST, "/register", None, Some(huge)).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::PAYLOAD_TOO_LARGE, "request-too-large")
    );

    let unknown_field =
        json!({ "name": "A", "email": "a@example.com", "password": PASSWORD, "admin": true });
    assert_eq!(
        app.call(Method::POST, "/register", None, Some(unknown_field))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let short_password = json!({ "name": "A", "email": "a@example.com", "password": "short" });
    let reply = app
        .call(Method::POST, "/register", None, Some(short_password))
        .await;
    assert_eq!(reply.label(), "invalid-password");

    let bad_email = json!({ "name": "A", "email": "not-an-email", "password": PASSWORD });
    assert_eq!(
        app.call(Method::POST, "/register", None, Some(bad_email))
            .await
            .label(),
        "invalid-email"
    );

    // A team whose owner is invalid is not created either.
    let bad_owner = json!({ "name": "A", "email": "a@example.com", "password": PASSWORD, "handle": "Not Valid!", "team": { "name": "T" } });
    assert_eq!(
        app.call(Method::POST, "/register", None, Some(bad_owner))
            .await
            .label(),
        "invalid-handle"
    );

    for table in ["users", "teams", "cookies"] {
        let (count,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        assert_eq!(count, 0, "{table}");
    }
    let reply = app.call(Method::GET, "/no/such/endpoint", None, None).await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::NOT_FOUND, "no-endpoint")
    );
}

async fn handles_are_unique_and_validated(app: TestApp) {
    app.register_owner("alice_wire").await;
    let again = app
        .call(
            Method::POST,
            "/register",
            None,
            Some(json!({ "name": "Other Alice", "email": "other@example.com", "password": PASSWORD, "handle": "alice_wire" })),
        )
        .await;
    assert_eq!(
        (again.status, again.label()),
        (StatusCode::CONFLICT, "handle-exists")
    );
    let same_email = app
        .call(
            Method::POST,
            "/register",
            None,
            Some(json!({ "name": "Other Alice", "email": "ALICE_WIRE@example.com", "password": PASSWORD })),
        )
        .await;
    assert_eq!(
        (same_email.status, same_email.label()),
        (StatusCode::CONFLICT, "key-exists")
    );
    for handle in ["a", "UPPER", "with space", &"x".repeat(257)] {
        let reply = app
            .call(
                Method::POST,
                "/register",
                None,
                Some(json!({ "name": "X", "email": format!("x{}@example.com", handle.len()), "password": PASSWORD, "handle": handle })),
            )
            .await;
        assert_eq!(reply.label(), "invalid-handle", "{handle}");
    }
}

async fn new_clients_are_announced_to_the_users_other_clients(app: TestApp) {
    app.register_owner("alice_wire").await;
    let (token, _) = app.login("alice_wire").await;
    let first = app.new_client(&token).await;
    let second = app.new_client(&token).await;
    let queue = |cid: String| {
        let token = token.clone();
        let app = &app;
        async move {
            app.call(
                Method::GET,
                &format!("/notifications?client={cid}"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let first_queue = queue(first.clone()).await;
    assert_eq!(first_queue.status, StatusCode::OK);
    let events = first_queue.body["notifications"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["payload"][0]["type"], "user.client-add");
    assert_eq!(events[0]["payload"][0]["client"]["id"], second.as_str());
    assert_eq!(
        queue(second.clone()).await.body["notifications"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    app.call(
        Method::DELETE,
        &format!("/clients/{second}"),
        Some(&token),
        Some(json!({ "password": PASSWORD })),
    )
    .await;
    let events = queue(first).await.body["notifications"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["payload"][0]["type"], "user.client-remove");
    assert_eq!(events[1]["payload"][0]["client"]["id"], second.as_str());
}

async fn notifications_page_and_report_gaps_and_expire(app: TestApp) {
    app.register_owner("alice_wire").await;
    let (token, _) = app.login("alice_wire").await;
    let first = app.new_client(&token).await;
    for _ in 0..6 {
        app.new_client(&token).await;
    }
    let get = |query: String| {
        let token = token.clone();
        let app = &app;
        async move {
            app.call(
                Method::GET,
                &format!("/notifications?{query}"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let all = get(format!("client={first}")).await.body["notifications"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(all.len(), 6);
    let ids: Vec<&str> = all.iter().map(|n| n["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ids are time-ordered");

    let page = get(format!("client={first}&size=2")).await;
    assert_eq!(page.body["has_more"], true);
    assert_eq!(page.body["notifications"].as_array().unwrap().len(), 2);
    let next = get(format!("client={first}&size=2&since={}", ids[1])).await;
    assert_eq!(next.status, StatusCode::OK);
    assert_eq!(next.body["notifications"][0]["id"], ids[2]);
    let tail = get(format!("client={first}&since={}", ids[5])).await;
    assert_eq!(
        (tail.status, tail.body["has_more"].clone()),
        (StatusCode::OK, json!(false))
    );
    assert!(tail.body["notifications"].as_array().unwrap().is_empty());

    let gap = get(format!("client={first}&since={}", uuid::Uuid::now_v7())).await;
    assert_eq!(gap.status, StatusCode::NOT_FOUND);
    assert_eq!(gap.body["notifications"].as_array().unwrap().len(), 6);

    let bad = get(format!("client={first}&size=0")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = get(format!("client={first}&since=nope")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let other = get("client=1234".into()).await;
    assert_eq!(other.label(), "client-not-found");

    app.clock.advance(28 * 24 * 3600 + 1);
    let (token, _) = app.login("alice_wire").await;
    let expired = app
        .call(
            Method::GET,
            &format!("/notifications?client={first}"),
            Some(&token),
            None,
        )
        .await;
    assert!(expired.body["notifications"].as_array().unwrap().is_empty());
    // Client n heard of the 7 - n clients registered after it: 6 + 5 + … + 1.
    assert_eq!(
        e2ei_backend::notifications::prune(&app.state)
            .await
            .unwrap(),
        21
    );
}
