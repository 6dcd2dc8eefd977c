//! The Wire order flow (protocol doc §4, §6.1, §6.3, §7.4, §15): a real backend key mints the
//! access token through e2ei-dpop, a real IdP (oidc-provider, `tests/idp`) issues the ID token;
//! on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use std::sync::Arc;

use common::idp::TestIdp;
use common::{Authority, BASE, Database, Reply};
use e2ei_acme::jws::KeyRef;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::{Clock, SystemClock};
use e2ei_core::id::{ClientId, DisplayName, Handle, TeamId};
use e2ei_core::identifier::WireIdentifiers;
use e2ei_dpop::{
    BackendExpectations, BackendKeys, BackendPolicy, BackendPublicKeys, MemoryNonceStore,
    ProofOptions, ProofRequest, build_proof, mint_access_token,
};
use e2ei_signer::Signer;
use serde_json::{Value, json};

/// The authority, the backend's keys, and a Wire device with its ACME account.
struct World {
    authority: Authority,
    root: x509_cert::Certificate,
    backend: BackendKeys,
    nonces: MemoryNonceStore,
    account: Signer,
    account_url: String,
    client_id: ClientId,
    ids: WireIdentifiers,
    team: TeamId,
}

impl World {
    /// A world whose authority trusts the shared test IdP.
    async fn new(database: Database) -> Option<Self> {
        let idp = common::idp::shared()?;
        Self::with_idp(database, common::idp(&idp.issuer), Arc::new(SystemClock)).await
    }

    async fn with_idp(
        database: Database,
        idp: e2ei_acme_server::oidc::Idp,
        clock: Arc<dyn Clock>,
    ) -> Option<Self> {
        Self::with_options(database, common::TestPki::new(), |o| {
            o.idp = idp;
            o.clock = clock;
        })
        .await
    }

    /// A world over `pki`, with the authority's options edited by `edit`.
    async fn with_options(
        database: Database,
        pki: common::TestPki,
        edit: impl FnOnce(&mut common::Options),
    ) -> Option<Self> {
        let (issuer, root) = pki.issuer();
        let backend: BackendKeys = KeyAlgorithm::ALL
            .into_iter()
            .map(|a| Signer::ephemeral(a).unwrap())
            .collect();
        let mut options = common::Options {
            backend_keys: BackendPublicKeys::new(backend.public_keys()),
            issuer: Some(issuer),
            ..common::Options::default()
        };
        if let Some(idp) = common::idp::shared() {
            options.idp = common::idp(&idp.issuer);
        }
        edit(&mut options);
        let authority = Authority::with_options(database, options).await?;
        let account = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let account_url = authority.account(&account).await;
        let client_id: ClientId =
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.example.com"
                .parse()
                .unwrap();
        let ids = WireIdentifiers::for_client(
            client_id.clone(),
            Handle::new("alice_wire").unwrap(),
            DisplayName::new("Alice Smith").unwrap(),
        );
        Some(Self {
            authority,
            root,
            backend,
            nonces: MemoryNonceStore::default(),
            account,
            account_url,
            client_id,
            ids,
            team: "6e85e053-536f-4585-8fc8-cada876e5ec7".parse().unwrap(),
        })
    }

    fn kid(&self) -> KeyRef {
        KeyRef::Kid(self.account_url.clone())
    }

    fn identifiers(&self) -> Value {
        json!([
            { "type": "wireapp-device", "value": self.ids.device().to_value_string() },
            { "type": "wireapp-user", "value": self.ids.user().to_value_string() },
        ])
    }

    async fn post(&self, url: &str, payload: Option<Value>) -> Reply {
        let path = url.trim_start_matches(BASE).to_owned();
        self.authority
            .post("wire", &self.account, &self.kid(), &path, payload)
            .await
    }

    /// A new order; returns (order reply, dpop challenge, oidc challenge).
    async fn order(&self) -> (Reply, Value, Value) {
        let order = self
            .post(
                &format!("{BASE}/acme/wire/new-order"),
                Some(json!({ "identifiers": self.identifiers() })),
            )
            .await;
        assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
        let mut dpop = Value::Null;
        let mut oidc = Value::Null;
        for authz in order.body["authorizations"].as_array().unwrap() {
            let reply = self.post(authz.as_str().unwrap(), None).await;
            assert_eq!(reply.status, StatusCode::OK);
            let challenges = reply.body["challenges"].as_array().unwrap();
            assert_eq!(
                challenges.len(),
                1,
                "exactly one challenge per authorization (§15.3)"
            );
            match challenges[0]["type"].as_str().unwrap() {
                "wire-dpop-01" => dpop = challenges[0].clone(),
                "wire-oidc-01" => oidc = challenges[0].clone(),
                other => panic!("unexpected challenge {other}"),
            }
        }
        (order, dpop, oidc)
    }

    /// What a Wire client does for `wire-dpop-01`: backend nonce, proof, access token.
    fn access_token(&self, challenge: &Value) -> String {
        let target = challenge["target"].as_str().unwrap();
        let nonce = self
            .nonces
            .issue(&self.client_id, time::OffsetDateTime::now_utc());
        let handle = self.ids.handle().clone();
        let name = self.ids.name().clone();
        let request = ProofRequest {
            client_id: &self.client_id,
            handle: &handle,
            display_name: &name,
            team: Some(&self.team),
            backend_nonce: &nonce,
            htu: target,
            challenge_url: challenge["url"].as_str().unwrap(),
            challenge_token: challenge["token"].as_str().unwrap(),
        };
        let proof = build_proof(
            &self.account,
            &request,
            &ProofOptions::default(),
            &SystemClock,
        )
        .unwrap();
        let expect = BackendExpectations {
            client_id: &self.client_id,
            handle: &handle,
            display_name: &name,
            team: Some(&self.team),
            htu: target,
        };
        mint_access_token(
            &proof,
            expect,
            BackendPolicy::default(),
            &self.nonces,
            &self.backend,
            &SystemClock,
        )
        .unwrap()
        .token()
        .to_owned()
    }
}

impl World {
    /// The key authorization for `challenge` (RFC 8555 §8.1): token and account thumbprint.
    fn keyauth(&self, challenge: &Value) -> String {
        let jwk = e2ei_core::jwk::Jwk::from_public_key(self.account.public_key().clone());
        format!(
            "{}.{}",
            challenge["token"].as_str().unwrap(),
            jwk.thumbprint_sha256()
        )
    }

    /// What a Wire client does for `wire-oidc-01` (§4 step 10): log in at `idp` as `login`
    /// asking for `keyauth` and `acme_aud` to be echoed.
    async fn id_token(&self, idp: &TestIdp, login: &str, challenge: &Value) -> String {
        idp.id_token(
            login,
            &self.keyauth(challenge),
            challenge["url"].as_str().unwrap(),
        )
        .await
    }

    async fn post_id_token(&self, challenge: &Value, id_token: &str) -> Reply {
        self.post(
            challenge["url"].as_str().unwrap(),
            Some(json!({ "id_token": id_token })),
        )
        .await
    }

    /// `wire-oidc-01` with Alice's login at the shared IdP.
    async fn pass_oidc(&self, oidc: &Value) {
        let idp = common::idp::shared().unwrap();
        let token = self.id_token(idp, "alice_wire", oidc).await;
        let reply = self.post_id_token(oidc, &token).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.body["status"], "valid", "{:?}", reply.body);
    }

    /// Asserts a `wire-oidc-01` answer is the terminal rejection of §6.3 (200, challenge
    /// `invalid`, `rejectedIdentifier` whose detail names `detail`) and that the order is dead.
    async fn assert_oidc_rejected(&self, order: &Reply, reply: &Reply, detail: &str) {
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.body["status"], "invalid", "{:?}", reply.body);
        assert_eq!(
            reply.body["error"]["type"],
            "urn:ietf:params:acme:error:rejectedIdentifier"
        );
        let got = reply.body["error"]["detail"].as_str().unwrap();
        assert!(got.contains(detail), "{got:?} should say {detail:?}");
        let order = self.post(order.header("location").unwrap(), None).await;
        assert_eq!(order.body["status"], "invalid");
    }

    /// An order whose two challenges have passed.
    async fn ready_order(&self) -> Reply {
        let (order, dpop, oidc) = self.order().await;
        let token = self.access_token(&dpop);
        let reply = self
            .post(
                dpop["url"].as_str().unwrap(),
                Some(json!({ "access_token": token })),
            )
            .await;
        assert_eq!(reply.body["status"], "valid", "{:?}", reply.body);
        self.pass_oidc(&oidc).await;
        let order = self.post(order.header("location").unwrap(), None).await;
        assert_eq!(order.body["status"], "ready");
        order
    }

    /// A CSR as Wire clients build it (§7.1), editable.
    fn csr(
        &self,
        key: &Signer,
        edit: impl FnOnce(&mut Vec<e2ei_core::x509::NameAttribute>, &mut Vec<String>),
    ) -> String {
        use e2ei_core::oid;
        use e2ei_core::x509::{CsrToBeSigned, NameAttribute, build_name, subject_alt_name_uris};
        let mut subject = vec![
            NameAttribute {
                oid: oid::ORGANIZATION,
                value: "wire.example.com".into(),
            },
            NameAttribute {
                oid: oid::DISPLAY_NAME,
                value: "Alice Smith".into(),
            },
        ];
        let mut uris = vec![self.client_id.to_uri(), self.ids.handle().to_uri()];
        edit(&mut subject, &mut uris);
        let san = subject_alt_name_uris(&uris).unwrap();
        let tbs = CsrToBeSigned::with_extensions(
            build_name(&subject).unwrap(),
            key.public_key(),
            vec![san],
        )
        .unwrap();
        let signature = key.sign(tbs.der()).unwrap().to_x509().unwrap();
        let csr = tbs.into_csr(&signature).unwrap();
        use base64::Engine;
        use der::Encode;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(csr.to_der().unwrap())
    }

    /// A CSR as Wire clients build it, with `extra` names in its subjectAltName.
    fn csr_with_extra_names(
        &self,
        key: &Signer,
        extra: Vec<x509_cert::ext::pkix::name::GeneralName>,
    ) -> String {
        use der::Encode;
        use e2ei_core::oid;
        use e2ei_core::x509::{CsrToBeSigned, NameAttribute, build_name};
        use x509_cert::ext::pkix::SubjectAltName;
        use x509_cert::ext::pkix::name::GeneralName;
        let subject = build_name(&[
            NameAttribute {
                oid: oid::ORGANIZATION,
                value: "wire.example.com".into(),
            },
            NameAttribute {
                oid: oid::DISPLAY_NAME,
                value: "Alice Smith".into(),
            },
        ])
        .unwrap();
        let mut names: Vec<GeneralName> = [self.client_id.to_uri(), self.ids.handle().to_uri()]
            .into_iter()
            .map(|u| GeneralName::UniformResourceIdentifier(der::asn1::Ia5String::new(&u).unwrap()))
            .collect();
        names.extend(extra);
        let san = x509_cert::ext::Extension {
            extn_id: oid::SUBJECT_ALT_NAME,
            critical: false,
            extn_value: der::asn1::OctetString::new(SubjectAltName(names).to_der().unwrap())
                .unwrap(),
        };
        let tbs = CsrToBeSigned::with_extensions(subject, key.public_key(), vec![san]).unwrap();
        let signature = key.sign(tbs.der()).unwrap().to_x509().unwrap();
        let csr = tbs.into_csr(&signature).unwrap();
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(csr.to_der().unwrap())
    }

    async fn finalize(&self, order: &Reply, csr: String) -> Reply {
        self.post(
            order.body["finalize"].as_str().unwrap(),
            Some(json!({ "csr": csr })),
        )
        .await
    }
}

impl World {
    /// An issued leaf: its DER (base64url) and its key.
    async fn issued(&self) -> (String, Signer) {
        use base64::Engine;
        use der::Encode;
        let order = self.ready_order().await;
        let mls_key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let done = self.finalize(&order, self.csr(&mls_key, |_, _| {})).await;
        let chain = self
            .post(done.body["certificate"].as_str().unwrap(), None)
            .await;
        let leaf = e2ei_core::x509::certificates_from_pem_or_der(chain.text.as_bytes())
            .unwrap()
            .remove(0);
        (
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(leaf.to_der().unwrap()),
            mls_key,
        )
    }

    async fn revoke(
        &self,
        signer: &Signer,
        key: &KeyRef,
        certificate: &str,
        reason: Option<u8>,
    ) -> Reply {
        let mut payload = json!({ "certificate": certificate });
        if let Some(reason) = reason {
            payload["reason"] = json!(reason);
        }
        self.authority
            .post("wire", signer, key, "/acme/wire/revoke-cert", Some(payload))
            .await
    }
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { if let Some(w) = super::World::new(super::Database::Sqlite).await { super::$name(w).await; } } )* }
        mod postgres { $( #[tokio::test] async fn $name() { if let Some(w) = super::World::new(super::Database::Postgres).await { super::$name(w).await; } } )* }
    };
}

on_both_databases!(
    new_order_has_one_wire_challenge_per_authorization_with_targets,
    wire_dpop_01_validates_synchronously,
    failed_wire_dpop_01_is_terminal_and_invalidates_the_order,
    wire_dpop_01_rejects_a_token_for_another_challenge,
    wire_dpop_01_rejects_each_failed_section_6_1_check,
    new_order_rejects_bad_identifier_sets,
    orders_belong_to_their_account,
    deactivating_an_authorization_invalidates_the_order,
    wire_oidc_01_validates_synchronously_and_stores_the_claims,
    wire_oidc_01_rejects_a_malformed_payload,
    wire_oidc_01_rejects_a_tampered_id_token,
    wire_oidc_01_rejects_an_id_token_for_another_client,
    wire_oidc_01_rejects_an_id_token_from_another_issuer,
    wire_oidc_01_rejects_a_keyauth_for_another_challenge,
    wire_oidc_01_rejects_a_keyauth_for_another_account,
    wire_oidc_01_rejects_an_acme_aud_of_another_challenge,
    wire_oidc_01_rejects_claims_of_another_user,
    finalize_issues_a_wire_leaf_that_validates_to_the_root,
    finalize_refuses_orders_that_are_not_ready,
    finalize_rejects_csrs_that_do_not_match_the_order,
    certificates_belong_to_their_account,
    revocation_by_the_owning_account_or_the_certificate_key,
    revocation_refusals_change_nothing,
    renewal_info_suggests_a_window_inside_the_validity,
    renewal_info_rejects_malformed_and_unknown_cert_ids,
    replaces_names_an_own_certificate_at_most_once,
    finalize_recovers_an_order_left_processing_by_a_stopped_process,
    metrics_count_issued_certificates,
);

async fn new_order_has_one_wire_challenge_per_authorization_with_targets(w: World) {
    let (order, dpop, oidc) = w.order().await;
    assert_eq!(order.body["status"], "pending");
    assert_eq!(order.body["identifiers"].as_array().unwrap().len(), 2);
    assert_eq!(order.body["authorizations"].as_array().unwrap().len(), 2);
    let location = order.header("location").unwrap();
    assert_eq!(order.body["finalize"], format!("{location}/finalize"));
    assert_eq!(
        dpop["target"],
        "https://wire.example.com/clients/9ff0457928ebe5f4/access-token"
    );
    assert_eq!(oidc["target"], common::idp::shared().unwrap().issuer);
    for c in [&dpop, &oidc] {
        assert_eq!(c["status"], "pending");
        // base64url without padding, at least 16 bytes (§15.3).
        let token = c["token"].as_str().unwrap();
        use base64::Engine;
        assert!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .unwrap()
                .len()
                >= 16
        );
    }
    assert_ne!(dpop["token"], oidc["token"]);
    let fetched = w.post(location, None).await;
    assert_eq!(fetched.body, order.body);
}

async fn wire_dpop_01_validates_synchronously(w: World) {
    let (order, dpop, _) = w.order().await;
    let token = w.access_token(&dpop);
    let reply = w
        .post(
            dpop["url"].as_str().unwrap(),
            Some(json!({ "access_token": token })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "valid", "{:?}", reply.body);
    assert!(reply.body["validated"].is_string());
    assert!(
        reply
            .header("link")
            .is_some_and(|l| l.contains("rel=\"up\""))
            || reply
                .headers
                .get_all("link")
                .iter()
                .any(|l| l.to_str().unwrap().contains("rel=\"up\""))
    );
    let order = w.post(order.header("location").unwrap(), None).await;
    assert_eq!(
        order.body["status"], "pending",
        "the OIDC authorization is still pending"
    );
    // Posting again shows the finished challenge.
    let again = w
        .post(
            dpop["url"].as_str().unwrap(),
            Some(json!({ "access_token": "x" })),
        )
        .await;
    assert_eq!(again.body["status"], "valid");
}

async fn failed_wire_dpop_01_is_terminal_and_invalidates_the_order(w: World) {
    let (order, dpop, _) = w.order().await;
    let reply = w
        .post(
            dpop["url"].as_str().unwrap(),
            Some(json!({ "access_token": "not.a.token" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "invalid");
    assert_eq!(
        reply.body["error"]["type"],
        "urn:ietf:params:acme:error:rejectedIdentifier"
    );
    assert!(
        reply.body["error"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("failed validating Wire access token")
    );
    // Terminal: a good token afterwards does not revive it.
    let token = w.access_token(&dpop);
    let again = w
        .post(
            dpop["url"].as_str().unwrap(),
            Some(json!({ "access_token": token })),
        )
        .await;
    assert_eq!(again.body["status"], "invalid");
    let order = w.post(order.header("location").unwrap(), None).await;
    assert_eq!(order.body["status"], "invalid");
}

async fn wire_dpop_01_rejects_a_token_for_another_challenge(w: World) {
    let (_, first, _) = w.order().await;
    let (_, second, _) = w.order().await;
    // A valid access token, but bound to the first order's challenge.
    let token = w.access_token(&first);
    let reply = w
        .post(
            second["url"].as_str().unwrap(),
            Some(json!({ "access_token": token })),
        )
        .await;
    assert_eq!(reply.body["status"], "invalid");
    assert!(
        reply.body["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("aud"),
        "{:?}",
        reply.body
    );
    // Malformed payload: a request error, the challenge stays pending.
    let reply = w
        .post(
            first["url"].as_str().unwrap(),
            Some(json!({ "id_token": "x" })),
        )
        .await;
    assert_eq!(reply.problem(), "malformed");
    let still = w.post(first["url"].as_str().unwrap(), None).await;
    assert_eq!(still.body["status"], "pending");
}

async fn new_order_rejects_bad_identifier_sets(w: World) {
    let ids = w.identifiers();
    let url = format!("{BASE}/acme/wire/new-order");
    for identifiers in [
        json!([ids[0]]),
        json!([ids[1]]),
        json!([ids[0], ids[1], { "type": "dns", "value": "wire.example.com" }]),
        json!([{ "type": "wireapp-id", "value": "x" }]),
    ] {
        let reply = w
            .post(&url, Some(json!({ "identifiers": identifiers })))
            .await;
        assert!(reply.status.is_client_error(), "{identifiers}");
        assert!(
            ["malformed", "unsupportedIdentifier"].contains(&reply.problem()),
            "{}",
            reply.problem()
        );
    }
    let dns = w
        .post(
            &url,
            Some(json!({ "identifiers": [{ "type": "dns", "value": "wire.example.com" }] })),
        )
        .await;
    assert_eq!(dns.problem(), "unsupportedIdentifier");
    let times = w.post(&url, Some(json!({ "identifiers": ids, "notBefore": "2030-01-02T00:00:00Z", "notAfter": "2030-01-01T00:00:00Z" }))).await;
    assert_eq!(times.problem(), "malformed");
    let list = w.post(&format!("{}/orders", w.account_url), None).await;
    assert_eq!(list.body["orders"], json!([]), "nothing was created");
}

async fn orders_belong_to_their_account(w: World) {
    let (order, dpop, _) = w.order().await;
    let location = order.header("location").unwrap().to_owned();
    let list = w.post(&format!("{}/orders", w.account_url), None).await;
    assert_eq!(list.body["orders"], json!([location]));
    let mallory = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let mallory_url = w.authority.account(&mallory).await;
    let kid = KeyRef::Kid(mallory_url.clone());
    for url in [location.as_str(), dpop["url"].as_str().unwrap()] {
        let reply = w
            .authority
            .post("wire", &mallory, &kid, url.trim_start_matches(BASE), None)
            .await;
        assert_eq!(reply.problem(), "unauthorized", "{url}");
    }
    let other_list = w
        .authority
        .post(
            "wire",
            &mallory,
            &kid,
            &format!("{}/orders", w.account_url).replace(BASE, ""),
            None,
        )
        .await;
    assert_eq!(other_list.problem(), "unauthorized");
}

async fn deactivating_an_authorization_invalidates_the_order(w: World) {
    let (order, _, _) = w.order().await;
    let authz = order.body["authorizations"][0].as_str().unwrap();
    let reply = w
        .post(authz, Some(json!({ "status": "deactivated" })))
        .await;
    assert_eq!(reply.body["status"], "deactivated");
    let bad = w.post(authz, Some(json!({ "status": "valid" }))).await;
    assert_eq!(bad.problem(), "malformed");
    let order = w.post(order.header("location").unwrap(), None).await;
    assert_eq!(order.body["status"], "invalid");
}

async fn wire_oidc_01_validates_synchronously_and_stores_the_claims(w: World) {
    let (order, _, oidc) = w.order().await;
    let idp = common::idp::shared().unwrap();
    assert_eq!(oidc["target"], idp.issuer);
    let token = w.id_token(idp, "alice_wire", &oidc).await;
    let reply = w.post_id_token(&oidc, &token).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "valid");
    assert!(reply.body["validated"].is_string());
    // The transformed claims are stored on the order that owns the authorization (§6.3 step 6).
    let order_id = order
        .header("location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let stored = w
        .authority
        .state
        .store
        .order("wire", order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.oidc_claims,
        Some(
            json!({ "name": "Alice Smith", "preferred_username": "wireapp://%40alice_wire@wire.example.com" })
        )
    );
}

async fn wire_oidc_01_rejects_a_malformed_payload(w: World) {
    let (_, _, oidc) = w.order().await;
    for payload in [json!({ "access_token": "x" }), json!({ "id_token": 7 })] {
        let reply = w.post(oidc["url"].as_str().unwrap(), Some(payload)).await;
        assert_eq!(
            (reply.status, reply.problem()),
            (StatusCode::BAD_REQUEST, "malformed")
        );
    }
    let still = w.post(oidc["url"].as_str().unwrap(), None).await;
    assert_eq!(still.body["status"], "pending");
}

async fn wire_oidc_01_rejects_a_tampered_id_token(w: World) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (order, _, oidc) = w.order().await;
    let token = w
        .id_token(common::idp::shared().unwrap(), "alice_wire", &oidc)
        .await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["name"] = json!("Mallory");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let reply = w.post_id_token(&oidc, &forged).await;
    w.assert_oidc_rejected(&order, &reply, "error verifying ID token signature")
        .await;
    // Terminal: the genuine token no longer helps.
    assert_eq!(
        w.post_id_token(&oidc, &token).await.body["status"],
        "invalid"
    );
}

async fn wire_oidc_01_rejects_an_id_token_for_another_client(w: World) {
    let (order, _, oidc) = w.order().await;
    let token = common::idp::shared()
        .unwrap()
        .id_token_for(
            "other-app",
            "alice_wire",
            &w.keyauth(&oidc),
            oidc["url"].as_str().unwrap(),
        )
        .await;
    let reply = w.post_id_token(&oidc, &token).await;
    w.assert_oidc_rejected(&order, &reply, "audience").await;
}

async fn wire_oidc_01_rejects_an_id_token_from_another_issuer(w: World) {
    // Another IdP signing with the very same keys: only `iss` tells them apart.
    let impostor = TestIdp::start_with(&["--keys", common::idp::shared_keys_file()]).unwrap();
    let (order, _, oidc) = w.order().await;
    let token = w.id_token(&impostor, "alice_wire", &oidc).await;
    let reply = w.post_id_token(&oidc, &token).await;
    w.assert_oidc_rejected(&order, &reply, "issuer").await;
}

async fn wire_oidc_01_rejects_a_keyauth_for_another_challenge(w: World) {
    let (order, dpop, oidc) = w.order().await;
    // The DPoP challenge's token (§10.7: the two tokens differ and must not be mixed).
    let token = common::idp::shared()
        .unwrap()
        .id_token(
            "alice_wire",
            &w.keyauth(&dpop),
            oidc["url"].as_str().unwrap(),
        )
        .await;
    let reply = w.post_id_token(&oidc, &token).await;
    w.assert_oidc_rejected(&order, &reply, "keyAuthorization does not match")
        .await;
}

async fn wire_oidc_01_rejects_a_keyauth_for_another_account(w: World) {
    let (order, _, oidc) = w.order().await;
    let other = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let thumbprint =
        e2ei_core::jwk::Jwk::from_public_key(other.public_key().clone()).thumbprint_sha256();
    let keyauth = format!("{}.{thumbprint}", oidc["token"].as_str().unwrap());
    let token = common::idp::shared()
        .unwrap()
        .id_token("alice_wire", &keyauth, oidc["url"].as_str().unwrap())
        .await;
    let reply = w.post_id_token(&oidc, &token).await;
    w.assert_oidc_rejected(&order, &reply, "keyAuthorization does not match")
        .await;
}

async fn wire_oidc_01_rejects_an_acme_aud_of_another_challenge(w: World) {
    let (order, dpop, oidc) = w.order().await;
    let token = common::idp::shared()
        .unwrap()
        .id_token(
            "alice_wire",
            &w.keyauth(&oidc),
            dpop["url"].as_str().unwrap(),
        )
        .await;
    let reply = w.post_id_token(&oidc, &token).await;
    w.assert_oidc_rejected(&order, &reply, "invalid 'acme_aud'")
        .await;
}

async fn wire_oidc_01_rejects_claims_of_another_user(w: World) {
    let (order, _, oidc) = w.order().await;
    // Bob logs in at the IdP for Alice's order: his `name` and handle are not hers.
    let token = w
        .id_token(common::idp::shared().unwrap(), "bob_wire", &oidc)
        .await;
    let reply = w.post_id_token(&oidc, &token).await;
    w.assert_oidc_rejected(&order, &reply, "claims in OIDC ID token don't match")
        .await;
}

async fn finalize_issues_a_wire_leaf_that_validates_to_the_root(w: World) {
    use e2ei_core::x509::{certificate_public_key, certificates_from_pem_or_der, name_attribute};
    let order = w.ready_order().await;
    let mls_key = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
    let done = w.finalize(&order, w.csr(&mls_key, |_, _| {})).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["status"], "valid");
    let cert_url = done.body["certificate"].as_str().unwrap();
    // Finalizing again is a no-op that shows the valid order.
    let again = w.finalize(&order, w.csr(&mls_key, |_, _| {})).await;
    assert_eq!(again.body["certificate"], cert_url);

    let download = w.post(cert_url, None).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(
        download.header("content-type"),
        Some("application/pem-certificate-chain")
    );
    assert!(download.text.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        download.text.matches("BEGIN").count(),
        2,
        "only CERTIFICATE blocks: leaf and intermediate, no root"
    );
    let chain = certificates_from_pem_or_der(download.text.as_bytes()).unwrap();
    assert_eq!(chain.len(), 2);
    let leaf = &chain[0];
    let tbs = leaf.tbs_certificate();
    assert_eq!(
        name_attribute(tbs.subject(), e2ei_core::oid::COMMON_NAME).as_deref(),
        Some("Alice Smith")
    );
    assert_eq!(
        name_attribute(tbs.subject(), e2ei_core::oid::ORGANIZATION).as_deref(),
        Some("wire.example.com")
    );
    assert_eq!(&certificate_public_key(leaf).unwrap(), mls_key.public_key());
    let uris = san_uris(leaf);
    assert!(uris.contains(&w.client_id.to_certificate_uri()), "{uris:?}");
    assert!(uris.contains(&w.ids.handle().to_uri()), "{uris:?}");
    let options = e2ei_core::path::ValidationOptions::default()
        .with_required_eku(e2ei_core::oid::KP_CLIENT_AUTH);
    e2ei_core::path::validate_path(
        std::slice::from_ref(&w.root),
        &chain[1..],
        leaf,
        time::OffsetDateTime::now_utc(),
        &options,
    )
    .unwrap();
}

async fn finalize_refuses_orders_that_are_not_ready(w: World) {
    let (order, dpop, _) = w.order().await;
    let mls_key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let reply = w.finalize(&order, w.csr(&mls_key, |_, _| {})).await;
    assert_eq!(
        (reply.status, reply.problem()),
        (StatusCode::FORBIDDEN, "orderNotReady")
    );
    assert!(reply.body["detail"].as_str().unwrap().contains("not ready"));
    // §7.4 step 1: an invalid order is "abandoned".
    w.post(
        dpop["url"].as_str().unwrap(),
        Some(json!({ "access_token": "not.a.token" })),
    )
    .await;
    let reply = w.finalize(&order, w.csr(&mls_key, |_, _| {})).await;
    assert_eq!(
        (reply.status, reply.problem()),
        (StatusCode::FORBIDDEN, "orderNotReady")
    );
    assert!(reply.body["detail"].as_str().unwrap().contains("abandoned"));
}

async fn finalize_rejects_csrs_that_do_not_match_the_order(w: World) {
    use e2ei_core::oid;
    use e2ei_core::x509::NameAttribute;
    let order = w.ready_order().await;
    let mls_key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let cases: Vec<(&str, String)> = vec![
        (
            "other client id",
            w.csr(&mls_key, |_, uris| {
                uris[0] = "wireapp://yRbSiljXSnCl77-QkM634g!1@wire.example.com".into()
            }),
        ),
        (
            "other handle",
            w.csr(&mls_key, |_, uris| {
                uris[1] = "wireapp://%40mallory@wire.example.com".into()
            }),
        ),
        (
            "one URI",
            w.csr(&mls_key, |_, uris| {
                uris.pop();
            }),
        ),
        (
            "CN present",
            w.csr(&mls_key, |subject, _| {
                subject.push(NameAttribute {
                    oid: oid::COMMON_NAME,
                    value: "Alice Smith".into(),
                })
            }),
        ),
        (
            "wrong O",
            w.csr(&mls_key, |subject, _| {
                subject[0].value = "evil.example.com".into()
            }),
        ),
        (
            "wrong display name",
            w.csr(&mls_key, |subject, _| subject[1].value = "Mallory".into()),
        ),
        ("account key", w.csr(&w.account, |_, _| {})),
        ("not base64url", "!!!".into()),
        ("not a CSR", "AAAA".into()),
        ("signature does not verify", {
            use base64::Engine;
            use base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let mut der = URL_SAFE_NO_PAD.decode(w.csr(&mls_key, |_, _| {})).unwrap();
            let last = der.len() - 1;
            der[last] ^= 0x01;
            URL_SAFE_NO_PAD.encode(der)
        }),
        (
            "an e-mail SAN",
            w.csr_with_extra_names(&mls_key, vec![email_name("alice@wire.example.com")]),
        ),
        (
            "a DNS SAN",
            w.csr_with_extra_names(&mls_key, vec![dns_name("wire.example.com")]),
        ),
        (
            "an IP SAN",
            w.csr_with_extra_names(&mls_key, vec![ip_name([127, 0, 0, 1])]),
        ),
    ];
    for (what, csr) in cases {
        let reply = w.finalize(&order, csr).await;
        assert_eq!(
            (reply.status, reply.problem()),
            (StatusCode::BAD_REQUEST, "badCSR"),
            "{what}: {:?}",
            reply.body
        );
    }
    // Nothing changed: the order is still ready, and a good CSR still works.
    let still = w.post(order.header("location").unwrap(), None).await;
    assert_eq!(still.body["status"], "ready");
    assert_eq!(
        w.finalize(&order, w.csr(&mls_key, |_, _| {})).await.body["status"],
        "valid"
    );
}

async fn certificates_belong_to_their_account(w: World) {
    let order = w.ready_order().await;
    let mls_key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let done = w.finalize(&order, w.csr(&mls_key, |_, _| {})).await;
    let cert_url = done.body["certificate"].as_str().unwrap();
    let mallory = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let mallory_url = w.authority.account(&mallory).await;
    let reply = w
        .authority
        .post(
            "wire",
            &mallory,
            &KeyRef::Kid(mallory_url),
            cert_url.trim_start_matches(BASE),
            None,
        )
        .await;
    assert_eq!(reply.problem(), "unauthorized");
}

fn san_uris(cert: &x509_cert::Certificate) -> Vec<String> {
    use der::Decode;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    let mut out = Vec::new();
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        if ext.extn_id == e2ei_core::oid::SUBJECT_ALT_NAME {
            for name in SubjectAltName::from_der(ext.extn_value.as_bytes())
                .unwrap()
                .0
            {
                if let GeneralName::UniformResourceIdentifier(uri) = name {
                    out.push(uri.to_string());
                }
            }
        }
    }
    out
}

async fn revocation_by_the_owning_account_or_the_certificate_key(w: World) {
    let (first, _) = w.issued().await;
    let reply = w.revoke(&w.account, &w.kid(), &first, Some(1)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let again = w.revoke(&w.account, &w.kid(), &first, Some(1)).await;
    assert_eq!(again.problem(), "alreadyRevoked");

    let (second, mls_key) = w.issued().await;
    let own_key = KeyRef::Jwk(e2ei_core::jwk::Jwk::from_public_key(
        mls_key.public_key().clone(),
    ));
    let reply = w.revoke(&mls_key, &own_key, &second, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

async fn revocation_refusals_change_nothing(w: World) {
    let (cert, _) = w.issued().await;
    let mallory = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let mallory_url = w.authority.account(&mallory).await;
    let reply = w
        .revoke(&mallory, &KeyRef::Kid(mallory_url), &cert, None)
        .await;
    assert_eq!(reply.problem(), "unauthorized");
    let stranger_key = KeyRef::Jwk(e2ei_core::jwk::Jwk::from_public_key(
        mallory.public_key().clone(),
    ));
    let reply = w.revoke(&mallory, &stranger_key, &cert, None).await;
    assert_eq!(reply.problem(), "unauthorized");
    for reason in [2u8, 6, 7, 8, 10, 11] {
        let reply = w.revoke(&w.account, &w.kid(), &cert, Some(reason)).await;
        assert_eq!(reply.problem(), "badRevocationReason", "{reason}");
    }
    // A certificate this authority did not issue.
    let other = common::TestPki::new();
    use base64::Engine;
    use der::Encode;
    let foreign = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(other.intermediate.to_der().unwrap());
    assert_eq!(
        w.revoke(&w.account, &w.kid(), &foreign, None)
            .await
            .problem(),
        "malformed"
    );
    // None of that revoked it.
    assert_eq!(
        w.revoke(&w.account, &w.kid(), &cert, Some(4)).await.status,
        StatusCode::OK
    );
}

/// A clock some seconds ahead of the system's.
struct Ahead(i64);

impl Clock for Ahead {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + time::Duration::seconds(self.0)
    }
}

#[tokio::test]
async fn wire_oidc_01_rejects_an_expired_id_token() {
    let Some(idp) = common::idp::shared() else {
        return;
    };
    // The IdP's ID tokens live 300 s; the authority lives 400 s later (go-oidc: no leeway).
    let Some(w) = World::with_idp(
        Database::Sqlite,
        common::idp(&idp.issuer),
        Arc::new(Ahead(400)),
    )
    .await
    else {
        return;
    };
    let (order, _, oidc) = w.order().await;
    let token = w.id_token(idp, "alice_wire", &oidc).await;
    let reply = w.post_id_token(&oidc, &token).await;
    w.assert_oidc_rejected(&order, &reply, "expired").await;
}

#[tokio::test]
async fn wire_oidc_01_rejects_an_algorithm_the_provisioner_does_not_accept() {
    let Some(idp) = common::idp::shared() else {
        return;
    };
    let only_ec = common::idp(&idp.issuer).with_algorithms(vec!["ES256".into()]);
    let w = World::with_idp(Database::Sqlite, only_ec, Arc::new(SystemClock))
        .await
        .unwrap();
    let (order, _, oidc) = w.order().await;
    let token = w.id_token(idp, "alice_wire", &oidc).await;
    let reply = w.post_id_token(&oidc, &token).await;
    w.assert_oidc_rejected(&order, &reply, "RS256").await;
}

#[tokio::test]
async fn wire_oidc_01_fails_with_server_internal_while_the_idp_is_unreachable() {
    let w = World::with_idp(
        Database::Sqlite,
        common::idp(common::NO_IDP),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let (order, _, oidc) = w.order().await;
    let reply = w.post_id_token(&oidc, "a.b.c").await;
    // §6.3 step 2: 500 and the challenge stays pending, so the client may retry.
    assert_eq!(
        (reply.status, reply.problem()),
        (StatusCode::INTERNAL_SERVER_ERROR, "serverInternal")
    );
    assert!(!reply.text.contains("127.0.0.1:9"), "no internals in a 500");
    let still = w.post(oidc["url"].as_str().unwrap(), None).await;
    assert_eq!(still.body["status"], "pending");
    let order = w.post(order.header("location").unwrap(), None).await;
    assert_eq!(order.body["status"], "pending");
}

#[tokio::test]
async fn wire_oidc_01_refetches_the_jwks_when_the_idp_rotates_its_key() {
    let Some(idp) = TestIdp::start() else {
        return;
    };
    let w = World::with_idp(
        Database::Sqlite,
        common::idp(&idp.issuer),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    // The first validation caches the JWKS.
    let (_, _, oidc) = w.order().await;
    let token = w.id_token(&idp, "alice_wire", &oidc).await;
    assert_eq!(w.post_id_token(&oidc, &token).await.body["status"], "valid");
    // A token under a new `kid` makes the authority look again, once.
    idp.rotate().await;
    let (_, _, oidc) = w.order().await;
    let token = w.id_token(&idp, "alice_wire", &oidc).await;
    let reply = w.post_id_token(&oidc, &token).await;
    assert_eq!(reply.body["status"], "valid", "{:?}", reply.body);
}

/// The ARI certID of a leaf (RFC 9773 §4.1): base64url(AKI keyIdentifier).base64url(serial).
fn cert_id(leaf_b64: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use der::Decode;
    use x509_cert::ext::pkix::AuthorityKeyIdentifier;
    let der = URL_SAFE_NO_PAD.decode(leaf_b64).unwrap();
    let leaf = x509_cert::Certificate::from_der(&der).unwrap();
    let tbs = leaf.tbs_certificate();
    let aki = tbs
        .extensions()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == e2ei_core::oid::AUTHORITY_KEY_IDENTIFIER)
        .map(|e| AuthorityKeyIdentifier::from_der(e.extn_value.as_bytes()).unwrap())
        .unwrap()
        .key_identifier
        .unwrap();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(aki.as_bytes()),
        URL_SAFE_NO_PAD.encode(tbs.serial_number().as_bytes())
    )
}

async fn renewal_info_suggests_a_window_inside_the_validity(w: World) {
    use axum::http::Method;
    let directory = w.authority.get("/acme/wire/directory", Method::GET).await;
    let base = directory.body["renewalInfo"].as_str().unwrap().to_owned();
    assert_eq!(base, format!("{BASE}/acme/wire/renewal-info"));
    let (leaf, _) = w.issued().await;
    let path = format!("{}/{}", base.trim_start_matches(BASE), cert_id(&leaf));
    let reply = w.authority.get(&path, Method::GET).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert!(reply.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let start = parse(&reply.body["suggestedWindow"]["start"]);
    let end = parse(&reply.body["suggestedWindow"]["end"]);
    let now = time::OffsetDateTime::now_utc();
    assert!(now < start && start < end, "{:?}", reply.body);
    // Revoked: renew now (a window in the past).
    w.revoke(&w.account, &w.kid(), &leaf, Some(1)).await;
    let reply = w.authority.get(&path, Method::GET).await;
    assert!(parse(&reply.body["suggestedWindow"]["end"]) < now);
}

async fn renewal_info_rejects_malformed_and_unknown_cert_ids(w: World) {
    use axum::http::Method;
    let (leaf, _) = w.issued().await;
    let good = cert_id(&leaf);
    let (aki, _) = good.split_once('.').unwrap();
    for (id, status, problem) in [
        ("no-dot".to_owned(), StatusCode::BAD_REQUEST, "malformed"),
        ("!!!.AQ".to_owned(), StatusCode::BAD_REQUEST, "malformed"),
        (format!("{aki}.AQID"), StatusCode::NOT_FOUND, "malformed"),
        (
            format!("AQID.{}", good.split_once('.').unwrap().1),
            StatusCode::NOT_FOUND,
            "malformed",
        ),
    ] {
        let reply = w
            .authority
            .get(&format!("/acme/wire/renewal-info/{id}"), Method::GET)
            .await;
        assert_eq!((reply.status, reply.problem()), (status, problem), "{id}");
    }
}

async fn replaces_names_an_own_certificate_at_most_once(w: World) {
    let (leaf, _) = w.issued().await;
    let id = cert_id(&leaf);
    let url = format!("{BASE}/acme/wire/new-order");
    let with_replaces = json!({ "identifiers": w.identifiers(), "replaces": id });
    // Another account may not claim it.
    let mallory = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let mallory_url = w.authority.account(&mallory).await;
    let reply = w
        .authority
        .post(
            "wire",
            &mallory,
            &KeyRef::Kid(mallory_url),
            "/acme/wire/new-order",
            Some(with_replaces.clone()),
        )
        .await;
    assert_eq!(reply.problem(), "unauthorized");
    let first = w.post(&url, Some(with_replaces.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let second = w.post(&url, Some(with_replaces)).await;
    assert_eq!(
        (second.status, second.problem()),
        (StatusCode::CONFLICT, "alreadyReplaced")
    );
    let unknown = w
        .post(
            &url,
            Some(json!({ "identifiers": w.identifiers(), "replaces": "AQID.AQID" })),
        )
        .await;
    assert_eq!(unknown.problem(), "malformed");
}

async fn finalize_recovers_an_order_left_processing_by_a_stopped_process(w: World) {
    let order = w.ready_order().await;
    let id = order
        .header("location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    // A process claimed the order two minutes ago and died before recording a certificate.
    let then = time::OffsetDateTime::now_utc().unix_timestamp() - 120;
    assert!(
        w.authority
            .state
            .store
            .start_processing(&id, then)
            .await
            .unwrap()
    );
    let fetched = w.post(order.header("location").unwrap(), None).await;
    assert_eq!(fetched.body["status"], "ready");
    assert!(fetched.header("retry-after").is_none());
    let mls_key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let done = w.finalize(&order, w.csr(&mls_key, |_, _| {})).await;
    assert_eq!(done.body["status"], "valid", "{:?}", done.body);
    // A fresh claim is left alone: that process is still issuing.
    let order = w.ready_order().await;
    let id = order
        .header("location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        w.authority
            .state
            .store
            .start_processing(&id, now)
            .await
            .unwrap()
    );
    let reply = w.finalize(&order, w.csr(&mls_key, |_, _| {})).await;
    assert_eq!(reply.problem(), "orderNotReady");
    // A client polling the order in processing is told when to look again.
    let polled = w.post(order.header("location").unwrap(), None).await;
    assert_eq!(polled.body["status"], "processing");
    assert_eq!(polled.header("retry-after"), Some("1"));
}

async fn metrics_count_issued_certificates(w: World) {
    use axum::http::Method;
    let before = w.authority.get("/metrics", Method::GET).await.text;
    assert!(
        before.contains("e2ei_acme_certificates_issued_total 0"),
        "{before}"
    );
    w.issued().await;
    let after = w.authority.get("/metrics", Method::GET).await.text;
    assert!(
        after.contains("e2ei_acme_certificates_issued_total{provisioner=\"wire\"} 1"),
        "{after}"
    );
    assert!(
        after.contains("route=\"/acme/{provisioner}/order/{id}/finalize\""),
        "{after}"
    );
    let health = w.authority.get("/healthz", Method::GET).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn certificate_download_offers_the_chain_through_a_cross_signed_intermediate() {
    use axum::http::Method;
    use e2ei_core::x509::certificates_from_pem_or_der;
    let pki = common::TestPki::new();
    let (partner_root, cross) = pki.cross_signed();
    let Some(w) = World::with_options(Database::Sqlite, pki, |o| {
        o.federation = vec![cross.clone()];
    })
    .await
    else {
        return;
    };
    let federation = w.authority.get("/federation", Method::GET).await;
    assert_eq!(
        federation.body["certificates"],
        json!([e2ei_core::x509::certificate_to_pem(&cross).unwrap()])
    );
    let order = w.ready_order().await;
    let mls_key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let done = w.finalize(&order, w.csr(&mls_key, |_, _| {})).await;
    let cert_url = done.body["certificate"].as_str().unwrap();
    let download = w.post(cert_url, None).await;
    let alternate = download
        .headers
        .get_all("link")
        .iter()
        .map(|l| l.to_str().unwrap().to_owned())
        .find(|l| l.ends_with("rel=\"alternate\""))
        .expect("an alternate chain");
    assert_eq!(alternate, format!("<{cert_url}/1>;rel=\"alternate\""));
    let chain = w.post(&format!("{cert_url}/1"), None).await;
    assert_eq!(
        chain.header("content-type"),
        Some("application/pem-certificate-chain")
    );
    let chain = certificates_from_pem_or_der(chain.text.as_bytes()).unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], cross);
    // The alternate chain validates to the partner's root, the main one to ours.
    let options = e2ei_core::path::ValidationOptions::default();
    let now = time::OffsetDateTime::now_utc();
    e2ei_core::path::validate_path(
        std::slice::from_ref(&partner_root),
        &chain[1..],
        &chain[0],
        now,
        &options,
    )
    .unwrap();
    let main = certificates_from_pem_or_der(download.text.as_bytes()).unwrap();
    e2ei_core::path::validate_path(
        std::slice::from_ref(&w.root),
        &main[1..],
        &main[0],
        now,
        &options,
    )
    .unwrap();
    let missing = w.post(&format!("{cert_url}/2"), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

type Claims = serde_json::Map<String, Value>;

fn decode_jws(token: &str) -> (Claims, Claims) {
    use base64::Engine;
    let mut parts = token.split('.');
    let mut next = || {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts.next().unwrap())
            .unwrap();
        match serde_json::from_slice(&bytes).unwrap() {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    };
    (next(), next())
}

/// Which token a §6.1 case tampers with, and how.
enum Tamper {
    /// Edit the access token's claims; re-signed by the backend key.
    AccessToken(fn(&mut Claims)),
    /// Edit the inner proof's claims; re-signed by the account key, then the access token by
    /// the backend key.
    Proof(fn(&mut Claims)),
    /// The access token signed by a key the authority does not trust.
    ForeignBackendKey,
    /// The proof signed by a key other than the account's.
    ForeignProofKey,
}

impl World {
    fn tampered_access_token(&self, challenge: &Value, tamper: &Tamper) -> String {
        use e2ei_dpop::jws::{header_jwk, sign_compact};
        let token = self.access_token(challenge);
        let (mut header, mut claims) = decode_jws(&token);
        let backend = self.backend.get(KeyAlgorithm::P256).unwrap();
        let mut signer = backend;
        let stranger = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        match tamper {
            Tamper::AccessToken(edit) => edit(&mut claims),
            Tamper::ForeignBackendKey => {
                header.insert("jwk".into(), header_jwk(stranger.public_key()));
                signer = &stranger;
            }
            Tamper::Proof(_) | Tamper::ForeignProofKey => {
                let proof = claims["proof"].as_str().unwrap().to_owned();
                let (proof_header, mut proof_claims) = decode_jws(&proof);
                let proof_signer = match tamper {
                    Tamper::Proof(edit) => {
                        edit(&mut proof_claims);
                        &self.account
                    }
                    _ => &stranger,
                };
                let proof = sign_compact(proof_signer, &proof_header, &proof_claims).unwrap();
                claims.insert("proof".into(), json!(proof));
            }
        }
        header.remove("alg");
        sign_compact(signer, &header, &claims).unwrap()
    }
}

/// §6.1 steps 2–9: every failed check makes the challenge `invalid` with `rejectedIdentifier`
/// (answered 200, step 10) and kills the order; one fresh order per check.
async fn wire_dpop_01_rejects_each_failed_section_6_1_check(w: World) {
    fn set(c: &mut Claims, k: &str, v: Value) {
        c.insert(k.into(), v);
    }
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "access token signed by an untrusted backend key (steps 3-4)",
            Tamper::ForeignBackendKey,
        ),
        (
            "iss is not the target (step 5)",
            Tamper::AccessToken(|c| {
                set(
                    c,
                    "iss",
                    json!("https://evil.example.com/clients/1/access-token"),
                )
            }),
        ),
        (
            "aud is not the challenge URL (step 5)",
            Tamper::AccessToken(|c| {
                set(
                    c,
                    "aud",
                    json!("https://acme.wire.example.com/acme/wire/challenge/x/y"),
                )
            }),
        ),
        (
            "expired access token (step 5)",
            Tamper::AccessToken(|c| {
                set(
                    c,
                    "exp",
                    json!(time::OffsetDateTime::now_utc().unix_timestamp() - 600),
                )
            }),
        ),
        (
            "access token not yet valid (step 5)",
            Tamper::AccessToken(|c| {
                set(
                    c,
                    "nbf",
                    json!(time::OffsetDateTime::now_utc().unix_timestamp() + 600),
                )
            }),
        ),
        (
            "empty chal (step 6)",
            Tamper::AccessToken(|c| set(c, "chal", json!(""))),
        ),
        (
            "cnf.kid of another key (step 6)",
            Tamper::AccessToken(|c| {
                set(
                    c,
                    "cnf",
                    json!({ "kid": "StoKb1FuB59XWMLjhsdeU94T95R_AoMP3u2g9HscYog" }),
                )
            }),
        ),
        (
            "client_id of another device (step 6)",
            Tamper::AccessToken(|c| {
                set(
                    c,
                    "client_id",
                    json!("wireapp://yRbSiljXSnCl77-QkM634g!1@wire.example.com"),
                )
            }),
        ),
        (
            "exp more than an hour ahead (step 6)",
            Tamper::AccessToken(|c| {
                set(
                    c,
                    "exp",
                    json!(time::OffsetDateTime::now_utc().unix_timestamp() + 7200),
                )
            }),
        ),
        (
            "scope is not wire_client_id (step 6)",
            Tamper::AccessToken(|c| set(c, "scope", json!("other"))),
        ),
        (
            "proof signed by another key (steps 7-8)",
            Tamper::ForeignProofKey,
        ),
        (
            "proof aud is not the challenge URL (step 9)",
            Tamper::Proof(|c| {
                set(
                    c,
                    "aud",
                    json!("https://acme.wire.example.com/acme/wire/challenge/x/y"),
                )
            }),
        ),
        (
            "proof htu is not the target (step 9)",
            Tamper::Proof(|c| {
                set(
                    c,
                    "htu",
                    json!("https://evil.example.com/clients/1/access-token"),
                )
            }),
        ),
        (
            "proof exp more than an hour ahead (step 9)",
            Tamper::Proof(|c| {
                set(
                    c,
                    "exp",
                    json!(time::OffsetDateTime::now_utc().unix_timestamp() + 7200),
                )
            }),
        ),
        (
            "proof sub is another device (step 9)",
            Tamper::Proof(|c| {
                set(
                    c,
                    "sub",
                    json!("wireapp://yRbSiljXSnCl77-QkM634g!1@wire.example.com"),
                )
            }),
        ),
        (
            "proof nonce differs from the access token's (step 9)",
            Tamper::Proof(|c| set(c, "nonce", json!("another-nonce"))),
        ),
        (
            "proof chal is not the challenge token (step 9)",
            Tamper::Proof(|c| set(c, "chal", json!("another-challenge-token"))),
        ),
        (
            "proof handle differs from the identifier (step 9)",
            Tamper::Proof(|c| set(c, "handle", json!("wireapp://%40mallory@wire.example.com"))),
        ),
        (
            "proof name differs from the identifier (step 9)",
            Tamper::Proof(|c| set(c, "name", json!("Mallory"))),
        ),
    ];
    for (what, tamper) in cases {
        let (order, dpop, _) = w.order().await;
        let token = w.tampered_access_token(&dpop, &tamper);
        let reply = w
            .post(
                dpop["url"].as_str().unwrap(),
                Some(json!({ "access_token": token })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{what}: {:?}", reply.body);
        assert_eq!(reply.body["status"], "invalid", "{what}: {:?}", reply.body);
        assert_eq!(
            reply.body["error"]["type"], "urn:ietf:params:acme:error:rejectedIdentifier",
            "{what}"
        );
        assert!(
            reply.body["error"]["detail"]
                .as_str()
                .unwrap()
                .starts_with("failed validating Wire access token"),
            "{what}: {:?}",
            reply.body
        );
        let order = w.post(order.header("location").unwrap(), None).await;
        assert_eq!(order.body["status"], "invalid", "{what}");
    }
    // And untampered, the same construction passes (the cases fail for their edit alone).
    let (_, dpop, _) = w.order().await;
    let token = w.tampered_access_token(&dpop, &Tamper::AccessToken(|_| {}));
    let reply = w
        .post(
            dpop["url"].as_str().unwrap(),
            Some(json!({ "access_token": token })),
        )
        .await;
    assert_eq!(reply.body["status"], "valid", "{:?}", reply.body);
}

fn email_name(address: &str) -> x509_cert::ext::pkix::name::GeneralName {
    x509_cert::ext::pkix::name::GeneralName::Rfc822Name(der::asn1::Ia5String::new(address).unwrap())
}

fn dns_name(name: &str) -> x509_cert::ext::pkix::name::GeneralName {
    x509_cert::ext::pkix::name::GeneralName::DnsName(der::asn1::Ia5String::new(name).unwrap())
}

fn ip_name(octets: [u8; 4]) -> x509_cert::ext::pkix::name::GeneralName {
    x509_cert::ext::pkix::name::GeneralName::IpAddress(
        der::asn1::OctetString::new(octets.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn wire_oidc_01_takes_keys_from_a_configured_jwks_url_without_discovery() {
    let Some(idp) = common::idp::shared() else {
        return;
    };
    // Discovery would fail (nothing listens there); the configured JWKS URL is used instead.
    let configured = common::idp(&idp.issuer).with_discovery(
        Some(common::NO_IDP.into()),
        Some(format!("{}/jwks", idp.issuer)),
    );
    let w = World::with_idp(Database::Sqlite, configured, Arc::new(SystemClock))
        .await
        .unwrap();
    let (_, _, oidc) = w.order().await;
    let token = w.id_token(idp, "alice_wire", &oidc).await;
    let reply = w.post_id_token(&oidc, &token).await;
    assert_eq!(reply.body["status"], "valid", "{:?}", reply.body);
}

/// The leaf's validity window in Unix seconds.
fn leaf_validity(chain_pem: &str) -> (i64, i64) {
    let chain = e2ei_core::x509::certificates_from_pem_or_der(chain_pem.as_bytes()).unwrap();
    let v = chain[0].tbs_certificate().validity();
    (
        v.not_before.to_unix_duration().as_secs() as i64,
        v.not_after.to_unix_duration().as_secs() as i64,
    )
}

impl World {
    /// Issues a leaf for an order asking for `not_after` (RFC 3339); its chain PEM.
    async fn issue_with_not_after(&self, not_after: &str) -> String {
        let order = self
            .post(
                &format!("{BASE}/acme/wire/new-order"),
                Some(json!({ "identifiers": self.identifiers(), "notAfter": not_after })),
            )
            .await;
        assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
        let mut dpop = Value::Null;
        let mut oidc = Value::Null;
        for authz in order.body["authorizations"].as_array().unwrap() {
            let reply = self.post(authz.as_str().unwrap(), None).await;
            let challenge = reply.body["challenges"][0].clone();
            match challenge["type"].as_str().unwrap() {
                "wire-dpop-01" => dpop = challenge,
                _ => oidc = challenge,
            }
        }
        let token = self.access_token(&dpop);
        self.post(
            dpop["url"].as_str().unwrap(),
            Some(json!({ "access_token": token })),
        )
        .await;
        self.pass_oidc(&oidc).await;
        let mls_key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let done = self.finalize(&order, self.csr(&mls_key, |_, _| {})).await;
        assert_eq!(done.body["status"], "valid", "{:?}", done.body);
        self.post(done.body["certificate"].as_str().unwrap(), None)
            .await
            .text
    }
}

fn rfc3339_in(seconds: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn new_order_refuses_a_validity_below_the_wire_minimum() {
    let Some(w) = World::new(Database::Sqlite).await else {
        return;
    };
    let reply = w
        .post(
            &format!("{BASE}/acme/wire/new-order"),
            Some(json!({ "identifiers": w.identifiers(), "notAfter": rfc3339_in(30) })),
        )
        .await;
    assert_eq!(
        (reply.status, reply.problem()),
        (StatusCode::BAD_REQUEST, "malformed")
    );
}

#[tokio::test]
async fn a_ten_year_request_is_capped_at_the_wire_maximum() {
    let Some(w) = World::new(Database::Sqlite).await else {
        return;
    };
    // The reference Wire client asks for ten years (protocol doc §4 step 4).
    let chain = w.issue_with_not_after(&rfc3339_in(10 * 365 * 86_400)).await;
    let (not_before, not_after) = leaf_validity(&chain);
    assert_eq!(not_after - not_before, 90 * 86_400);
    // A request within the bounds is honoured.
    let chain = w.issue_with_not_after(&rfc3339_in(7 * 86_400)).await;
    let (not_before, not_after) = leaf_validity(&chain);
    assert!((not_after - not_before - 7 * 86_400).abs() <= 2);
}

#[tokio::test]
async fn a_leaf_never_outlives_its_issuer() {
    // The intermediate has 30 days left; the provisioner would grant 90.
    let Some(w) = World::with_options(
        Database::Sqlite,
        common::TestPki::with_intermediate_days(30),
        |_| {},
    )
    .await
    else {
        return;
    };
    let chain = w.issue_with_not_after(&rfc3339_in(90 * 86_400)).await;
    let (_, leaf_end) = leaf_validity(&chain);
    let certs = e2ei_core::x509::certificates_from_pem_or_der(chain.as_bytes()).unwrap();
    let issuer_end = certs[1]
        .tbs_certificate()
        .validity()
        .not_after
        .to_unix_duration()
        .as_secs() as i64;
    assert_eq!(leaf_end, issuer_end);
}

// ---- CRL publishing and the admin API (revocation issue) ----

/// A world whose authority publishes CRLs in `shards` shards at `{BASE}/crl`.
async fn crl_world(database: Database, shards: u32) -> Option<World> {
    World::with_options(database, common::TestPki::new(), |o| {
        o.crl_shards = Some(shards);
    })
    .await
}

impl World {
    /// An issued leaf (base64url DER), with its serial bytes and its issuing intermediate.
    async fn issued_with_issuer(&self) -> (String, Vec<u8>, x509_cert::Certificate) {
        use base64::Engine;
        use der::{Decode, Encode};
        let order = self.ready_order().await;
        let mls_key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let done = self.finalize(&order, self.csr(&mls_key, |_, _| {})).await;
        let chain = self
            .post(done.body["certificate"].as_str().unwrap(), None)
            .await;
        let chain = e2ei_core::x509::certificates_from_pem_or_der(chain.text.as_bytes()).unwrap();
        let der = chain[0].to_der().unwrap();
        let leaf = x509_cert::Certificate::from_der(&der).unwrap();
        (
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(der),
            leaf.tbs_certificate().serial_number().as_bytes().to_vec(),
            chain[1].clone(),
        )
    }

    /// `GET path` for a CRL: the reply and, when 200, the CRL verified against `issuer`.
    async fn fetch_crl(
        &self,
        path: &str,
        issuer: &x509_cert::Certificate,
    ) -> (Reply, Option<e2ei_crl::VerifiedCrl>) {
        use axum::http::Method;
        let reply = self.authority.get(path, Method::GET).await;
        let verified = (reply.status == StatusCode::OK).then(|| {
            let bytes = reply_bytes(&reply);
            e2ei_crl::verify_crl(&bytes, issuer, time::OffsetDateTime::now_utc()).unwrap()
        });
        (reply, verified)
    }

    async fn admin(&self, token: Option<&str>, body: Value) -> Reply {
        use axum::body::Body;
        use axum::http::{Method, Request};
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/admin/revocations")
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.authority
            .send(request.body(Body::from(body.to_string())).unwrap())
            .await
    }
}

/// The raw body of a reply (a CRL is not text).
fn reply_bytes(reply: &Reply) -> Vec<u8> {
    reply.raw.clone()
}

async fn crl_lists_revoked_certificates_and_verifies_against_its_issuer(w: World) {
    let (first, first_serial, intermediate) = w.issued_with_issuer().await;
    let (_, second_serial, _) = w.issued_with_issuer().await;
    let (reply, crl) = w.fetch_crl("/crl", &intermediate).await;
    assert_eq!(reply.header("content-type"), Some("application/pkix-crl"));
    let crl = crl.unwrap();
    assert!(crl.index().is_empty());
    let before = crl.crl_number().to_u64().unwrap();
    assert_eq!(crl.distribution_points(), [format!("{BASE}/crl")]);

    assert_eq!(
        w.revoke(&w.account, &w.kid(), &first, Some(1)).await.status,
        StatusCode::OK
    );
    let (reply, crl) = w.fetch_crl("/crl", &intermediate).await;
    let crl = crl.unwrap();
    assert!(
        crl.crl_number().to_u64().unwrap() > before,
        "the number grows"
    );
    let listed = crl
        .index()
        .is_revoked(&first_serial)
        .expect("the revoked leaf is listed");
    assert_eq!(
        listed.reason(),
        Some(e2ei_core::x509::CrlReason::KeyCompromise)
    );
    assert!(crl.index().is_revoked(&second_serial).is_none());
    // Caching: bounded by nextUpdate, revalidated by ETag.
    let max_age: i64 = reply
        .header("cache-control")
        .unwrap()
        .rsplit("max-age=")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let left =
        crl.next_update().unix_timestamp() - time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(max_age > 0 && max_age <= left + 1, "{max_age} vs {left}");
    assert!(
        max_age <= 300,
        "short, so that caches see a revocation soon: {max_age}"
    );
    assert!(reply.header("last-modified").unwrap().ends_with(" GMT"));
    let etag = reply.header("etag").unwrap().to_owned();
    let again = {
        use axum::body::Body;
        use axum::http::Request;
        w.authority
            .send(
                Request::builder()
                    .uri("/crl")
                    .header("if-none-match", &etag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
    };
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    // Nothing new: the same bytes (no regeneration on every request).
    let (same, _) = w.fetch_crl("/crl", &intermediate).await;
    assert_eq!(same.header("etag"), Some(etag.as_str()));
    assert_eq!(
        w.authority
            .get("/crl/1", axum::http::Method::GET)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn admin_api_revokes_by_serial_client_and_handle(w: World) {
    use common::ADMIN_TOKEN;
    let (leaf, serial, intermediate) = w.issued_with_issuer().await;
    let serial_hex = hex::encode(&serial);
    // Authorisation first.
    let body = json!({ "serial": serial_hex });
    for token in [None, Some("wrong token wrong token")] {
        let reply = w.admin(token, body.clone()).await;
        assert_eq!(
            (reply.status, reply.problem()),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
    // Bad requests change nothing.
    for (bad, status, problem) in [
        (json!({}), StatusCode::BAD_REQUEST, "malformed"),
        (
            json!({ "serial": serial_hex, "handle": "wireapp://%40alice_wire@wire.example.com" }),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            json!({ "serial": "not hex" }),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            json!({ "serial": serial_hex, "reason": 2 }),
            StatusCode::BAD_REQUEST,
            "badRevocationReason",
        ),
        (
            json!({ "serial": serial_hex, "reason": "cACompromise" }),
            StatusCode::BAD_REQUEST,
            "badRevocationReason",
        ),
        (
            json!({ "serial": "0badc0de" }),
            StatusCode::NOT_FOUND,
            "malformed",
        ),
        (
            json!({ "client_id": "not a client id" }),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
    ] {
        let reply = w.admin(Some(ADMIN_TOKEN), bad.clone()).await;
        assert_eq!((reply.status, reply.problem()), (status, problem), "{bad}");
    }
    let (_, crl) = w.fetch_crl("/crl", &intermediate).await;
    assert!(
        crl.unwrap().index().is_empty(),
        "the refused requests revoked nothing"
    );

    let reply = w
        .admin(
            Some(ADMIN_TOKEN),
            json!({ "serial": serial_hex, "reason": "keyCompromise" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["revoked"][0]["serial"], serial_hex);
    let again = w
        .admin(Some(ADMIN_TOKEN), json!({ "serial": serial_hex }))
        .await;
    assert_eq!(again.problem(), "alreadyRevoked");

    // By device and by user: every certificate of the client / of the handle.
    let (_, second, _) = w.issued_with_issuer().await;
    let (_, third, _) = w.issued_with_issuer().await;
    let reply = w
        .admin(
            Some(ADMIN_TOKEN),
            json!({ "client_id": w.client_id.to_uri(), "reason": 4 }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["revoked"].as_array().unwrap().len(), 2);
    assert_eq!(reply.body["already_revoked"].as_array().unwrap().len(), 1);
    let (_, fourth, _) = w.issued_with_issuer().await;
    let reply = w
        .admin(
            Some(ADMIN_TOKEN),
            json!({ "handle": w.ids.handle().to_uri() }),
        )
        .await;
    assert_eq!(
        reply.body["revoked"].as_array().unwrap().len(),
        1,
        "{:?}",
        reply.body
    );
    let (_, crl) = w.fetch_crl("/crl", &intermediate).await;
    let crl = crl.unwrap();
    for s in [&serial, &second, &third, &fourth] {
        assert!(crl.index().is_revoked(s).is_some());
    }
    // Both sources share one record: ACME revokeCert now finds it revoked.
    let reply = w.revoke(&w.account, &w.kid(), &leaf, None).await;
    assert_eq!(reply.problem(), "alreadyRevoked");
}

async fn crl_shards_partition_revocations(w: World) {
    let mut issued = Vec::new();
    for _ in 0..6 {
        issued.push(w.issued_with_issuer().await);
    }
    let intermediate = issued[0].2.clone();
    for (leaf, _, _) in &issued {
        assert_eq!(
            w.revoke(&w.account, &w.kid(), leaf, None).await.status,
            StatusCode::OK
        );
    }
    let mut seen = 0;
    for (path, shard) in [("/crl", 0u32), ("/crl/1", 1), ("/crl/2", 2)] {
        let (_, crl) = w.fetch_crl(path, &intermediate).await;
        let crl = crl.unwrap();
        assert_eq!(crl.distribution_points(), [format!("{BASE}{path}")]);
        for (leaf, serial, _) in &issued {
            use base64::Engine;
            use der::Decode;
            let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(leaf)
                .unwrap();
            let cert = x509_cert::Certificate::from_der(&der).unwrap();
            let dp = distribution_points(&cert);
            let in_this_shard = dp == [format!("{BASE}{path}")];
            assert_eq!(
                crl.index().is_revoked(serial).is_some(),
                in_this_shard,
                "shard {shard}"
            );
            if in_this_shard {
                seen += 1;
            }
        }
    }
    assert_eq!(
        seen,
        issued.len(),
        "every revoked serial is in exactly one shard's CRL"
    );
    for bad in ["/crl/3", "/crl/01", "/crl/x", "/crl/0"] {
        assert_eq!(
            w.authority.get(bad, axum::http::Method::GET).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
}

async fn a_failed_regeneration_keeps_the_last_crl_and_its_number(w: World) {
    let (leaf, serial, intermediate) = w.issued_with_issuer().await;
    let (good, crl) = w.fetch_crl("/crl", &intermediate).await;
    let number = crl.unwrap().crl_number().to_u64().unwrap();
    w.revoke(&w.account, &w.kid(), &leaf, None).await;
    // Signing fails part-way (the HSM went away): nothing is stored.
    let failed = e2ei_acme_server::publisher::publish_with(&w.authority.state, |_, _| {
        Err("the token is gone".to_owned())
    })
    .await;
    assert!(failed.is_err());
    let stored = w.authority.state.store.crl(0).await.unwrap().unwrap();
    assert_eq!(stored.crl_number, number);
    assert_eq!(Some(stored.etag.as_str()), good.header("etag"));
    // The next attempt publishes, with a higher number.
    let (_, crl) = w.fetch_crl("/crl", &intermediate).await;
    let crl = crl.unwrap();
    assert!(crl.crl_number().to_u64().unwrap() > number);
    assert!(crl.index().is_revoked(&serial).is_some());
}

macro_rules! crl_on_both_databases {
    ($shards:expr; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    if let Some(w) = super::crl_world(super::Database::Sqlite, $shards).await {
                        super::$name(w).await;
                    }
                }
                #[tokio::test]
                async fn postgres() {
                    if let Some(w) = super::crl_world(super::Database::Postgres, $shards).await {
                        super::$name(w).await;
                    }
                }
            }
        )*
    };
}

crl_on_both_databases!(1;
    crl_lists_revoked_certificates_and_verifies_against_its_issuer,
    admin_api_revokes_by_serial_client_and_handle,
    a_failed_regeneration_keeps_the_last_crl_and_its_number,
);
crl_on_both_databases!(3; crl_shards_partition_revocations);

/// The fullName URIs of a certificate's cRLDistributionPoints.
fn distribution_points(cert: &x509_cert::Certificate) -> Vec<String> {
    use der::Decode;
    use x509_cert::ext::pkix::CrlDistributionPoints;
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    let mut out = Vec::new();
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        if ext.extn_id == e2ei_core::oid::CRL_DISTRIBUTION_POINTS {
            for dp in CrlDistributionPoints::from_der(ext.extn_value.as_bytes())
                .unwrap()
                .0
            {
                if let Some(DistributionPointName::FullName(names)) = dp.distribution_point {
                    for name in names {
                        if let GeneralName::UniformResourceIdentifier(uri) = name {
                            out.push(uri.to_string());
                        }
                    }
                }
            }
        }
    }
    out
}

/// A clock the test moves forward.
#[derive(Default)]
struct MovableClock(std::sync::atomic::AtomicI64);

impl MovableClock {
    fn advance(&self, seconds: i64) {
        self.0
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for MovableClock {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
            + time::Duration::seconds(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// A CRL world on SQLite whose authority runs on `clock`.
async fn crl_world_with_clock(clock: Arc<MovableClock>) -> Option<World> {
    World::with_options(Database::Sqlite, common::TestPki::new(), |o| {
        o.crl_shards = Some(1);
        o.clock = clock;
    })
    .await
}

fn crl_number_of(reply: &Reply) -> u64 {
    use der::Decode;
    let crl: x509_cert::crl::CertificateList = Decode::from_der(&reply.raw).unwrap();
    let number = crl
        .tbs_cert_list
        .crl_extensions
        .unwrap()
        .into_iter()
        .find(|e| e.extn_id.to_string() == "2.5.29.20")
        .unwrap();
    let n = der::asn1::Uint::from_der(number.extn_value.as_bytes()).unwrap();
    n.as_bytes()
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

#[tokio::test]
async fn crl_is_made_anew_at_two_thirds_of_its_validity() {
    use axum::http::Method;
    let clock = Arc::new(MovableClock::default());
    let Some(w) = crl_world_with_clock(clock.clone()).await else {
        return;
    };
    let first = w.authority.get("/crl", Method::GET).await;
    let number = crl_number_of(&first);
    // Just before two thirds of the 24 h validity: the same CRL.
    clock.advance(16 * 3600 - 60);
    let same = w.authority.get("/crl", Method::GET).await;
    assert_eq!(same.header("etag"), first.header("etag"));
    // At two thirds: a new one.
    clock.advance(60);
    let fresh = w.authority.get("/crl", Method::GET).await;
    assert!(crl_number_of(&fresh) > number);
    assert_ne!(fresh.header("etag"), first.header("etag"));
}

#[tokio::test]
async fn a_revoked_certificate_leaves_the_crl_a_while_after_it_expires() {
    use axum::http::Method;
    let clock = Arc::new(MovableClock::default());
    let Some(w) = crl_world_with_clock(clock.clone()).await else {
        return;
    };
    // A two-minute leaf, revoked at once.
    let chain = w.issue_with_not_after(&rfc3339_in(120)).await;
    let leaf = e2ei_core::x509::certificates_from_pem_or_der(chain.as_bytes()).unwrap()[0].clone();
    let serial = leaf.tbs_certificate().serial_number().as_bytes().to_vec();
    use base64::Engine;
    use der::Encode;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(leaf.to_der().unwrap());
    assert_eq!(
        w.revoke(&w.account, &w.kid(), &b64, None).await.status,
        StatusCode::OK
    );
    let listed = |reply: &Reply| {
        let crl = e2ei_crl::CrlIn::from_der(&reply.raw).unwrap();
        crl.revoked_entries()
            .any(|e| e.unwrap().serial == serial.as_slice())
    };
    assert!(listed(&w.authority.get("/crl", Method::GET).await));
    // Expired, but within the day of grace: still listed (a regeneration happens at 16 h).
    clock.advance(17 * 3600);
    assert!(listed(&w.authority.get("/crl", Method::GET).await));
    // A day after its notAfter, the next CRL drops it.
    clock.advance(16 * 3600);
    assert!(!listed(&w.authority.get("/crl", Method::GET).await));
}

#[tokio::test]
async fn new_order_refuses_a_domain_outside_the_issuers_name_constraints() {
    let Some(w) = World::new(Database::Sqlite).await else {
        return;
    };
    use e2ei_core::id::{ClientId, DisplayName, Handle};
    use e2ei_core::identifier::WireIdentifiers;
    // The test intermediate may certify wire.example.com only.
    let client: ClientId = "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@evil.example.org"
        .parse()
        .unwrap();
    let ids = WireIdentifiers::for_client(
        client,
        Handle::new("alice_wire").unwrap(),
        DisplayName::new("Alice Smith").unwrap(),
    );
    let reply = w
        .post(
            &format!("{BASE}/acme/wire/new-order"),
            Some(json!({ "identifiers": [
                { "type": "wireapp-device", "value": ids.device().to_value_string() },
                { "type": "wireapp-user", "value": ids.user().to_value_string() },
            ]})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.problem()),
        (StatusCode::BAD_REQUEST, "rejectedIdentifier"),
        "{:?}",
        reply.body
    );
}
