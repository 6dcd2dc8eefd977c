//! The standard provisioner in-process (RFC 8555 §7.4, §8.3, §8.4, RFC 8737): DNS orders under
//! a domain policy, `http-01` / `dns-01` / `tls-alpn-01` validated against real responders on
//! loopback (a web server, a TLS server, a DNS responder that the validator's resolver asks),
//! finalize into a TLS server leaf, download and revocation; on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use common::responders::{
    DnsResponder, HttpReply, HttpResponder, TlsAlpnResponder, validation_certificate,
};
use common::{Authority, BASE, Database, Reply};
use der::Encode;
use e2ei_acme::challenge::{dns01_txt_value, tls_alpn01_extension_value};
use e2ei_acme::jws::KeyRef;
use e2ei_acme_server::validation::ValidatorConfig;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::jwk::Jwk;
use e2ei_core::oid;
use e2ei_core::path::{ValidationOptions, validate_path};
use e2ei_core::x509::{
    CsrToBeSigned, NameAttribute, build_name, certificates_from_pem_or_der, subject_alt_name_dns,
};
use e2ei_signer::Signer;
use serde_json::{Value, json};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};

/// The provisioner the tests order from (standard, no external account binding).
const P: &str = "open";

/// An authority with a standard provisioner whose validator asks this world's DNS responder
/// and connects to this world's web and TLS servers.
struct World {
    authority: Authority,
    root: Certificate,
    dns: DnsResponder,
    http: HttpResponder,
    /// The `tls-alpn-01` port, reserved until a test serves on it.
    tls: Mutex<Option<std::net::TcpListener>>,
    account: Signer,
    account_url: String,
}

impl World {
    async fn new(database: Database) -> Option<Self> {
        Self::with(database, |_| {}).await
    }

    async fn with(
        database: Database,
        edit: impl FnOnce(&mut e2ei_acme_server::standard::StandardSettings),
    ) -> Option<Self> {
        let dns = DnsResponder::start().await;
        let http = HttpResponder::start().await;
        let tls = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut settings = common::standard_settings(ValidatorConfig {
            dns_resolver: Some(dns.addr),
            http01_port: http.port,
            tlsalpn01_port: tls.local_addr().unwrap().port(),
            timeout: Duration::from_secs(10),
        });
        edit(&mut settings);
        let (issuer, root) = common::TestPki::new().issuer();
        let authority = Authority::with_standard(database, Some(issuer), settings).await?;
        let account = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let jwk = KeyRef::Jwk(Jwk::from_public_key(account.public_key().clone()));
        let created = authority
            .post(
                P,
                &account,
                &jwk,
                &format!("/acme/{P}/new-account"),
                Some(json!({ "termsOfServiceAgreed": true })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let account_url = created.header("location").unwrap().to_owned();
        Some(Self {
            authority,
            root,
            dns,
            http,
            tls: Mutex::new(Some(tls)),
            account,
            account_url,
        })
    }

    async fn post(&self, url: &str, payload: Option<Value>) -> Reply {
        self.post_as(&self.account, url, payload).await
    }

    async fn post_as(&self, key: &Signer, url: &str, payload: Option<Value>) -> Reply {
        let path = url.trim_start_matches(BASE).to_owned();
        let kid = KeyRef::Kid(self.account_url.clone());
        self.authority.post(P, key, &kid, &path, payload).await
    }

    async fn new_order(&self, body: Value) -> Reply {
        self.post(&format!("{BASE}/acme/{P}/new-order"), Some(body))
            .await
    }

    /// A new order for `names`, which must be created.
    async fn order(&self, names: &[&str]) -> Reply {
        let identifiers: Vec<Value> = names
            .iter()
            .map(|n| json!({ "type": "dns", "value": n }))
            .collect();
        let order = self.new_order(json!({ "identifiers": identifiers })).await;
        assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
        order
    }

    async fn refresh(&self, order: &Reply) -> Value {
        let url = order.header("location").unwrap();
        let reply = self.post(url, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.body
    }

    async fn authzs(&self, order: &Reply) -> Vec<Value> {
        let mut out = Vec::new();
        for url in order.body["authorizations"].as_array().unwrap() {
            let reply = self.post(url.as_str().unwrap(), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            out.push(reply.body);
        }
        out
    }

    fn challenge(authz: &Value, kind: &str) -> Value {
        authz["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {authz}"))
            .clone()
    }

    /// The order's one authorization and its challenge of `kind`.
    async fn only_challenge(&self, order: &Reply, kind: &str) -> Value {
        let authzs = self.authzs(order).await;
        assert_eq!(authzs.len(), 1);
        Self::challenge(&authzs[0], kind)
    }

    fn keyauth(&self, challenge: &Value) -> String {
        let jwk = Jwk::from_public_key(self.account.public_key().clone());
        format!(
            "{}.{}",
            challenge["token"].as_str().unwrap(),
            jwk.thumbprint_sha256()
        )
    }

    /// Tells the authority the challenge is ready (RFC 8555 §7.5.1: `{}`).
    async fn respond(&self, challenge: &Value) -> Reply {
        let reply = self
            .post(challenge["url"].as_str().unwrap(), Some(json!({})))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply
    }

    /// Serves the key authorization of an `http-01` challenge.
    fn serve_http01(&self, challenge: &Value) {
        self.http.challenge(
            challenge["token"].as_str().unwrap(),
            &format!("{}\n", self.keyauth(challenge)),
        );
    }

    /// Serves `cert` on the reserved `tls-alpn-01` port, negotiating `alpn`.
    fn serve_tls(
        &self,
        cert: &common::responders::ValidationCertificate,
        alpn: &[&[u8]],
    ) -> TlsAlpnResponder {
        let listener = self.tls.lock().unwrap().take().unwrap();
        TlsAlpnResponder::serve(listener, cert, alpn)
    }

    /// A failed challenge: the answer is `invalid` with error `problem`, the authorization and
    /// the order are invalid, and posting again changes nothing.
    async fn assert_invalid(&self, order: &Reply, challenge: &Value, problem: &str) -> String {
        let reply = self.respond(challenge).await;
        assert_eq!(reply.body["status"], "invalid", "{:?}", reply.body);
        assert_eq!(
            reply.body["error"]["type"],
            format!("urn:ietf:params:acme:error:{problem}"),
            "{:?}",
            reply.body
        );
        let authz = self.authzs(order).await.remove(0);
        assert_eq!(authz["status"], "invalid");
        let refreshed = self.refresh(order).await;
        assert_eq!(refreshed["status"], "invalid");
        assert_eq!(
            refreshed["error"]["type"],
            format!("urn:ietf:params:acme:error:{problem}")
        );
        let again = self.respond(challenge).await;
        assert_eq!(again.body, reply.body, "a failed challenge is terminal");
        reply.body["error"]["detail"].as_str().unwrap().to_owned()
    }

    /// A CSR for `sans` signed by `key`, with `cn` as subject CN if given.
    fn csr(&self, key: &Signer, cn: Option<&str>, sans: Vec<GeneralName>) -> String {
        let subject = build_name(
            &cn.iter()
                .map(|cn| NameAttribute {
                    oid: oid::COMMON_NAME,
                    value: (*cn).to_owned(),
                })
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let san = x509_cert::ext::Extension {
            extn_id: oid::SUBJECT_ALT_NAME,
            critical: cn.is_none(),
            extn_value: der::asn1::OctetString::new(SubjectAltName(sans).to_der().unwrap())
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

    /// Proves every authorization of `order` with `http-01` and returns the order, ready.
    async fn ready_order(&self, names: &[&str]) -> Reply {
        let order = self.order(names).await;
        for authz in self.authzs(&order).await {
            let challenge = Self::challenge(&authz, "http-01");
            self.serve_http01(&challenge);
            assert_eq!(self.respond(&challenge).await.body["status"], "valid");
        }
        assert_eq!(self.refresh(&order).await["status"], "ready");
        order
    }

    /// Finalizes `order` with a fresh key and returns the downloaded chain.
    async fn issue(&self, order: &Reply, cn: Option<&str>, names: &[&str]) -> (String, Signer) {
        let key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let csr = self.csr(&key, cn, dns_names(names));
        let done = self.finalize(order, csr).await;
        assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
        assert_eq!(done.body["status"], "valid");
        let cert = self
            .post(done.body["certificate"].as_str().unwrap(), None)
            .await;
        assert_eq!(cert.status, StatusCode::OK);
        assert_eq!(
            cert.header("content-type"),
            Some("application/pem-certificate-chain")
        );
        (cert.text, key)
    }
}

fn dns_names(names: &[&str]) -> Vec<GeneralName> {
    names
        .iter()
        .map(|n| GeneralName::DnsName(der::asn1::Ia5String::new(n).unwrap()))
        .collect()
}

/// The leaf of `chain_pem` after checking that it validates from `root` for serverAuth.
fn validated_leaf(chain_pem: &str, root: &Certificate) -> Certificate {
    let chain = certificates_from_pem_or_der(chain_pem.as_bytes()).unwrap();
    assert_eq!(chain.len(), 2, "leaf and intermediate, no root");
    validate_path(
        std::slice::from_ref(root),
        &chain[1..],
        &chain[0],
        time::OffsetDateTime::now_utc(),
        &ValidationOptions::default().with_required_eku(oid::KP_SERVER_AUTH),
    )
    .unwrap();
    chain[0].clone()
}

fn san_names(leaf: &Certificate) -> (bool, Vec<String>) {
    let (critical, san) = leaf
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .unwrap()
        .unwrap();
    let mut names: Vec<String> = san
        .0
        .iter()
        .map(|n| match n {
            GeneralName::DnsName(d) => d.as_str().to_owned(),
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect();
    names.sort();
    (critical, names)
}

// ---- http-01 -------------------------------------------------------------------------------

async fn issues_a_tls_leaf_after_http01_with_an_empty_subject(w: World) {
    let order = w.order(&["a.wire.example.com"]).await;
    assert_eq!(order.body["status"], "pending");
    let authzs = w.authzs(&order).await;
    assert_eq!(authzs.len(), 1);
    assert_eq!(authzs[0]["identifier"]["value"], "a.wire.example.com");
    assert!(authzs[0].get("wildcard").is_none());
    let mut kinds: Vec<&str> = authzs[0]["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["dns-01", "http-01", "tls-alpn-01"]);
    let challenge = World::challenge(&authzs[0], "http-01");
    w.serve_http01(&challenge);
    let reply = w.respond(&challenge).await;
    assert_eq!(reply.body["status"], "valid", "{:?}", reply.body);
    assert!(reply.body["validated"].is_string());
    assert!(
        reply
            .header("link")
            .is_some_and(|l| l.contains("rel=\"up\""))
    );
    assert_eq!(w.authzs(&order).await[0]["status"], "valid");
    assert_eq!(w.refresh(&order).await["status"], "ready");

    let (chain, _) = w.issue(&order, None, &["a.wire.example.com"]).await;
    let leaf = validated_leaf(&chain, &w.root);
    assert!(leaf.tbs_certificate().subject().is_empty());
    assert_eq!(
        san_names(&leaf),
        (true, vec!["a.wire.example.com".to_owned()]),
        "an empty subject makes the SAN critical"
    );
    let (_, eku) = leaf
        .tbs_certificate()
        .get_extension::<ExtendedKeyUsage>()
        .unwrap()
        .unwrap();
    assert_eq!(eku.0, [oid::KP_SERVER_AUTH]);
    let v = leaf.tbs_certificate().validity();
    let days = (e2ei_core::x509::time_to_offset(&v.not_after)
        - e2ei_core::x509::time_to_offset(&v.not_before))
    .whole_days();
    assert_eq!(days, 90, "the provisioner's default validity");
    common::check_with_openssl_and_pkilint(&chain, &w.root, "sslserver", &[]);
}

async fn rejects_http01_with_wrong_key_authorization(w: World) {
    let order = w.order(&["b.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "http-01").await;
    w.http.challenge(
        challenge["token"].as_str().unwrap(),
        &format!(
            "{}.not-the-account-thumbprint",
            challenge["token"].as_str().unwrap()
        ),
    );
    let detail = w
        .assert_invalid(&order, &challenge, "incorrectResponse")
        .await;
    assert!(detail.contains("not the key authorization"), "{detail}");
}

async fn rejects_http01_answered_with_404(w: World) {
    let order = w.order(&["c.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "http-01").await;
    let detail = w.assert_invalid(&order, &challenge, "unauthorized").await;
    assert!(detail.contains("404"), "{detail}");
}

async fn rejects_http01_when_nothing_listens(w: World) {
    let order = w.order(&["d.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "http-01").await;
    w.http.stop();
    let detail = w.assert_invalid(&order, &challenge, "connection").await;
    assert!(detail.contains("d.wire.example.com"), "{detail}");
}

async fn rejects_http01_for_a_name_that_does_not_resolve(w: World) {
    let order = w.order(&["gone.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "http-01").await;
    w.dns.nxdomain("gone.wire.example.com");
    let detail = w.assert_invalid(&order, &challenge, "dns").await;
    assert!(detail.contains("gone.wire.example.com"), "{detail}");
}

async fn follows_http01_redirects_on_the_challenge_port(w: World) {
    let order = w.order(&["e.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "http-01").await;
    let token = challenge["token"].as_str().unwrap();
    // Another name on the same port, through the same resolver.
    w.http.set(
        &format!("/.well-known/acme-challenge/{token}"),
        HttpReply::Redirect(format!(
            "http://other.wire.example.com:{}/moved/{token}",
            w.http.port
        )),
    );
    w.http.set(
        &format!("/moved/{token}"),
        HttpReply::Body(200, w.keyauth(&challenge)),
    );
    assert_eq!(w.respond(&challenge).await.body["status"], "valid");
}

async fn refuses_http01_redirects_to_another_port_or_too_many(w: World) {
    let order = w.order(&["f.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "http-01").await;
    let token = challenge["token"].as_str().unwrap();
    w.http.set(
        &format!("/.well-known/acme-challenge/{token}"),
        HttpReply::Redirect("http://f.wire.example.com:1/elsewhere".into()),
    );
    let detail = w.assert_invalid(&order, &challenge, "connection").await;
    assert!(detail.contains("redirect"), "{detail}");

    let order = w.order(&["g.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "http-01").await;
    let token = challenge["token"].as_str().unwrap();
    w.http.set(
        &format!("/.well-known/acme-challenge/{token}"),
        HttpReply::Redirect(format!("/loop/{token}")),
    );
    w.http.set(
        &format!("/loop/{token}"),
        HttpReply::Redirect(format!("/loop/{token}")),
    );
    let detail = w.assert_invalid(&order, &challenge, "connection").await;
    assert!(detail.contains("redirects"), "{detail}");
}

async fn rejects_http01_with_an_oversized_body(w: World) {
    let order = w.order(&["h.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "http-01").await;
    let padded = format!("{}{}", w.keyauth(&challenge), "x".repeat(4096));
    w.http
        .challenge(challenge["token"].as_str().unwrap(), &padded);
    let detail = w
        .assert_invalid(&order, &challenge, "incorrectResponse")
        .await;
    assert!(detail.contains("bytes"), "{detail}");
}

// ---- dns-01 --------------------------------------------------------------------------------

async fn issues_for_a_wildcard_and_its_base_through_dns01(w: World) {
    let order = w
        .order(&["*.w.wire.example.com", "W.Wire.Example.com"])
        .await;
    assert_eq!(
        order.body["identifiers"],
        json!([
            { "type": "dns", "value": "*.w.wire.example.com" },
            { "type": "dns", "value": "w.wire.example.com" },
        ]),
        "names are lower-cased"
    );
    let authzs = w.authzs(&order).await;
    let wildcard = authzs.iter().find(|a| a["wildcard"] == true).unwrap();
    assert_eq!(wildcard["identifier"]["value"], "w.wire.example.com");
    let kinds: Vec<&str> = wildcard["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["dns-01"], "a wildcard is proven with dns-01 only");
    let values: Vec<String> = authzs
        .iter()
        .map(|a| dns01_txt_value(&w.keyauth(&World::challenge(a, "dns-01"))))
        .collect();
    w.dns.set_txt(
        "_acme-challenge.w.wire.example.com",
        &values.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for authz in &authzs {
        let reply = w.respond(&World::challenge(authz, "dns-01")).await;
        assert_eq!(reply.body["status"], "valid", "{:?}", reply.body);
    }
    assert_eq!(w.refresh(&order).await["status"], "ready");
    let (chain, _) = w
        .issue(
            &order,
            Some("w.wire.example.com"),
            &["w.wire.example.com", "*.w.wire.example.com"],
        )
        .await;
    let leaf = validated_leaf(&chain, &w.root);
    assert_eq!(
        e2ei_core::x509::name_to_string(leaf.tbs_certificate().subject()),
        "CN=w.wire.example.com"
    );
    assert_eq!(
        san_names(&leaf),
        (
            false,
            vec![
                "*.w.wire.example.com".to_owned(),
                "w.wire.example.com".to_owned()
            ]
        )
    );
    common::check_with_openssl_and_pkilint(
        &chain,
        &w.root,
        "sslserver",
        &["pkix.invalid_domain_name_syntax"],
    );
}

async fn rejects_dns01_with_wrong_txt_value(w: World) {
    let order = w.order(&["i.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "dns-01").await;
    w.dns.set_txt(
        "_acme-challenge.i.wire.example.com",
        &[&dns01_txt_value("someone.else")],
    );
    let detail = w
        .assert_invalid(&order, &challenge, "incorrectResponse")
        .await;
    assert!(
        detail.contains("_acme-challenge.i.wire.example.com"),
        "{detail}"
    );
}

async fn rejects_dns01_without_a_txt_record(w: World) {
    let order = w.order(&["j.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "dns-01").await;
    let detail = w.assert_invalid(&order, &challenge, "unauthorized").await;
    assert!(detail.contains("no TXT record"), "{detail}");
}

async fn rejects_dns01_when_the_resolver_fails(w: World) {
    let order = w.order(&["k.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "dns-01").await;
    w.dns.servfail("_acme-challenge.k.wire.example.com");
    let detail = w.assert_invalid(&order, &challenge, "dns").await;
    assert!(
        detail.contains("_acme-challenge.k.wire.example.com"),
        "{detail}"
    );
}

// ---- tls-alpn-01 ---------------------------------------------------------------------------

async fn validates_tls_alpn01(w: World) {
    let order = w.order(&["l.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "tls-alpn-01").await;
    let cert = validation_certificate(
        &["l.wire.example.com"],
        Some((tls_alpn01_extension_value(&w.keyauth(&challenge)), true)),
    );
    let _server = w.serve_tls(&cert, &[b"acme-tls/1"]);
    let reply = w.respond(&challenge).await;
    assert_eq!(reply.body["status"], "valid", "{:?}", reply.body);
    assert_eq!(w.refresh(&order).await["status"], "ready");
}

async fn rejects_tls_alpn01_with_wrong_digest(w: World) {
    let order = w.order(&["m.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "tls-alpn-01").await;
    let cert = validation_certificate(
        &["m.wire.example.com"],
        Some((tls_alpn01_extension_value("other.keyauth"), true)),
    );
    let _server = w.serve_tls(&cert, &[b"acme-tls/1"]);
    let detail = w
        .assert_invalid(&order, &challenge, "incorrectResponse")
        .await;
    assert!(
        detail.contains("SHA-256 of the key authorization"),
        "{detail}"
    );
}

async fn rejects_tls_alpn01_with_a_non_critical_extension(w: World) {
    let order = w.order(&["n.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "tls-alpn-01").await;
    let cert = validation_certificate(
        &["n.wire.example.com"],
        Some((tls_alpn01_extension_value(&w.keyauth(&challenge)), false)),
    );
    let _server = w.serve_tls(&cert, &[b"acme-tls/1"]);
    let detail = w
        .assert_invalid(&order, &challenge, "incorrectResponse")
        .await;
    assert!(detail.contains("critical"), "{detail}");
}

async fn rejects_tls_alpn01_certificate_naming_more_than_the_name(w: World) {
    let order = w.order(&["o.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "tls-alpn-01").await;
    let cert = validation_certificate(
        &["o.wire.example.com", "extra.wire.example.com"],
        Some((tls_alpn01_extension_value(&w.keyauth(&challenge)), true)),
    );
    let _server = w.serve_tls(&cert, &[b"acme-tls/1"]);
    let detail = w
        .assert_invalid(&order, &challenge, "incorrectResponse")
        .await;
    assert!(
        detail.contains("exactly DNS:o.wire.example.com"),
        "{detail}"
    );
}

async fn rejects_tls_alpn01_without_the_acme_tls_protocol(w: World) {
    let order = w.order(&["p.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "tls-alpn-01").await;
    let cert = validation_certificate(
        &["p.wire.example.com"],
        Some((tls_alpn01_extension_value(&w.keyauth(&challenge)), true)),
    );
    // A TLS server that ignores ALPN completes the handshake without acme-tls/1.
    let _server = w.serve_tls(&cert, &[]);
    let detail = w.assert_invalid(&order, &challenge, "tls").await;
    assert!(detail.contains("acme-tls/1"), "{detail}");
}

async fn rejects_tls_alpn01_when_nothing_listens(w: World) {
    let order = w.order(&["q.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "tls-alpn-01").await;
    drop(w.tls.lock().unwrap().take());
    w.assert_invalid(&order, &challenge, "connection").await;
}

// ---- orders and policy ---------------------------------------------------------------------

async fn rejects_names_outside_the_domain_policy(w: World) {
    let reply = w
        .new_order(json!({ "identifiers": [
            { "type": "dns", "value": "a.wire.example.com" },
            { "type": "dns", "value": "evil.example.org" },
            { "type": "dns", "value": "wire.example.com" },
        ]}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.problem(), "rejectedIdentifier");
    let refused: Vec<&str> = reply.body["subproblems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["identifier"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(refused, ["evil.example.org", "wire.example.com"]);
}

async fn rejects_malformed_names_and_too_many(w: World) {
    for bad in [
        "ab--cd.wire.example.com",
        "xn--zz-zzzzzzzz.wire.example.com",
        "a.*.wire.example.com",
        "under_score.wire.example.com",
        "127.0.0.1",
        "b\u{fc}cher.wire.example.com",
    ] {
        let reply = w
            .new_order(json!({ "identifiers": [{ "type": "dns", "value": bad }] }))
            .await;
        assert_eq!(
            reply.problem(),
            "rejectedIdentifier",
            "{bad}: {:?}",
            reply.body
        );
    }
    let many: Vec<Value> = (0..101)
        .map(|i| json!({ "type": "dns", "value": format!("n{i}.wire.example.com") }))
        .collect();
    let reply = w.new_order(json!({ "identifiers": many })).await;
    assert_eq!(reply.problem(), "rejectedIdentifier");
    assert!(reply.body["detail"].as_str().unwrap().contains("100"));
}

async fn rejects_mixed_and_foreign_identifier_types(w: World) {
    let wire_device = json!({ "type": "wireapp-device", "value": "{}" });
    let mixed = w
        .new_order(json!({ "identifiers": [
            wire_device,
            { "type": "dns", "value": "a.wire.example.com" },
        ]}))
        .await;
    assert_eq!(mixed.problem(), "malformed", "{:?}", mixed.body);
    assert!(
        mixed.body["detail"]
            .as_str()
            .unwrap()
            .contains("cannot be mixed")
    );
    let ip = w
        .new_order(json!({ "identifiers": [{ "type": "ip", "value": "192.0.2.1" }] }))
        .await;
    assert_eq!(ip.problem(), "unsupportedIdentifier");

    // DNS names at the Wire provisioner.
    let account = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let url = w.authority.account(&account).await;
    let reply = w
        .authority
        .post(
            "wire",
            &account,
            &KeyRef::Kid(url),
            "/acme/wire/new-order",
            Some(json!({ "identifiers": [{ "type": "dns", "value": "a.wire.example.com" }] })),
        )
        .await;
    assert_eq!(reply.problem(), "unsupportedIdentifier");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("Wire identifiers only")
    );
}

async fn rejects_a_requested_validity_outside_the_bounds_and_honours_one_within(w: World) {
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    for not_after in [
        now + time::Duration::days(91),
        now + time::Duration::minutes(30),
    ] {
        let reply = w
            .new_order(json!({
                "identifiers": [{ "type": "dns", "value": "v.wire.example.com" }],
                "notAfter": rfc(not_after),
            }))
            .await;
        assert_eq!(reply.problem(), "malformed", "{:?}", reply.body);
        assert!(reply.body["detail"].as_str().unwrap().contains("validity"));
    }
    let not_after = (now + time::Duration::days(2))
        .replace_nanosecond(0)
        .unwrap();
    let order = w
        .new_order(json!({
            "identifiers": [{ "type": "dns", "value": "v.wire.example.com" }],
            "notAfter": rfc(not_after),
        }))
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
    let challenge = w.only_challenge(&order, "http-01").await;
    w.serve_http01(&challenge);
    assert_eq!(w.respond(&challenge).await.body["status"], "valid");
    let (chain, _) = w.issue(&order, None, &["v.wire.example.com"]).await;
    let leaf = validated_leaf(&chain, &w.root);
    assert_eq!(
        e2ei_core::x509::time_to_offset(&leaf.tbs_certificate().validity().not_after),
        not_after
    );
}

async fn records_one_outcome_for_concurrent_challenge_posts(w: World) {
    let order = w.order(&["r.wire.example.com"]).await;
    let challenge = w.only_challenge(&order, "http-01").await;
    w.serve_http01(&challenge);
    let (a, b) = tokio::join!(w.respond(&challenge), w.respond(&challenge));
    assert_eq!(a.body["status"], "valid");
    assert_eq!(b.body["status"], "valid");
    assert_eq!(a.body["validated"], b.body["validated"]);
}

// ---- finalize, download, revocation --------------------------------------------------------

async fn rejects_each_csr_mismatch_and_keeps_the_order_ready(w: World) {
    let names = ["s.wire.example.com", "t.wire.example.com"];
    let order = w.ready_order(&names).await;
    let key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let ip = GeneralName::IpAddress(der::asn1::OctetString::new([127, 0, 0, 1]).unwrap());
    let mut with_ip = dns_names(&names);
    with_ip.push(ip);
    let mut with_uri = dns_names(&names);
    with_uri.push(GeneralName::UniformResourceIdentifier(
        der::asn1::Ia5String::new("https://wire.example.com").unwrap(),
    ));
    let cases = [
        (
            "a name missing",
            w.csr(&key, None, dns_names(&names[..1])),
            "missing",
        ),
        (
            "a name too many",
            w.csr(
                &key,
                None,
                dns_names(&[
                    "s.wire.example.com",
                    "t.wire.example.com",
                    "u.wire.example.com",
                ]),
            ),
            "not in the order",
        ),
        ("an IP SAN", w.csr(&key, None, with_ip), "IP address"),
        ("a URI SAN", w.csr(&key, None, with_uri), "URI"),
        (
            "a CN outside the names",
            w.csr(&key, Some("u.wire.example.com"), dns_names(&names)),
            "CN",
        ),
        (
            "the account key",
            w.csr(&w.account, None, dns_names(&names)),
            "account key",
        ),
        ("not base64url", "@@@".to_owned(), "base64url"),
    ];
    for (what, csr, detail) in cases {
        let reply = w.finalize(&order, csr).await;
        assert_eq!(reply.problem(), "badCSR", "{what}: {:?}", reply.body);
        assert!(
            reply.body["detail"].as_str().unwrap().contains(detail),
            "{what}: {:?}",
            reply.body
        );
    }
    // A CSR signed by another key than the one it names.
    let other = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let tbs = CsrToBeSigned::with_extensions(
        build_name(&[]).unwrap(),
        key.public_key(),
        vec![
            subject_alt_name_dns(
                &names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
                true,
            )
            .unwrap(),
        ],
    )
    .unwrap();
    let signature = other.sign(tbs.der()).unwrap().to_x509().unwrap();
    let forged = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(tbs.into_csr(&signature).unwrap().to_der().unwrap())
    };
    let reply = w.finalize(&order, forged).await;
    assert_eq!(reply.problem(), "badCSR");
    if let Some(rsa) = rsa_csr(&names) {
        let reply = w.finalize(&order, rsa).await;
        assert_eq!(reply.problem(), "badCSR");
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap()
                .contains("RSA keys are not supported")
        );
    }
    assert_eq!(w.refresh(&order).await["status"], "ready");
    // The right CSR still works, with the names in another order and case.
    let (chain, _) = w
        .issue(
            &order,
            Some("T.wire.example.com"),
            &["T.Wire.Example.Com", "s.wire.example.com"],
        )
        .await;
    let leaf = validated_leaf(&chain, &w.root);
    assert_eq!(
        san_names(&leaf).1,
        ["s.wire.example.com", "t.wire.example.com"]
    );
}

/// An RSA CSR from openssl (what certbot sends with `--key-type rsa`), if openssl is there.
fn rsa_csr(names: &[&str]) -> Option<String> {
    let openssl = common::tool("openssl")?;
    let dir = tempfile::tempdir().unwrap();
    let sans: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    let out = std::process::Command::new(openssl)
        .args(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(dir.path().join("key.pem"))
        .args(["-subj", "/", "-addext"])
        .arg(format!("subjectAltName={}", sans.join(",")))
        .args(["-outform", "DER"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use base64::Engine;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out.stdout))
}

async fn revokes_a_tls_leaf_with_its_own_key_once(w: World) {
    let order = w.ready_order(&["x.wire.example.com"]).await;
    let (chain, key) = w.issue(&order, None, &["x.wire.example.com"]).await;
    let leaf = validated_leaf(&chain, &w.root);
    let der = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(leaf.to_der().unwrap())
    };
    let jwk = KeyRef::Jwk(Jwk::from_public_key(key.public_key().clone()));
    let path = format!("/acme/{P}/revoke-cert");
    let body = json!({ "certificate": der, "reason": 1 });
    let reply = w
        .authority
        .post(P, &key, &jwk, &path, Some(body.clone()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let again = w.post(&format!("{BASE}{path}"), Some(body)).await;
    assert_eq!(again.problem(), "alreadyRevoked");
    let serial = e2ei_core::x509::serial_to_hex(leaf.tbs_certificate().serial_number());
    let (_, revoked) = w
        .authority
        .state
        .store
        .certificate_by_serial(P, &serial)
        .await
        .unwrap()
        .unwrap();
    assert!(revoked);
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { if let Some(w) = super::World::new(super::Database::Sqlite).await { super::$name(w).await; } } )* }
        mod postgres { $( #[tokio::test] async fn $name() { if let Some(w) = super::World::new(super::Database::Postgres).await { super::$name(w).await; } } )* }
    };
}

on_both_databases!(
    issues_a_tls_leaf_after_http01_with_an_empty_subject,
    rejects_http01_with_wrong_key_authorization,
    rejects_http01_answered_with_404,
    rejects_http01_when_nothing_listens,
    rejects_http01_for_a_name_that_does_not_resolve,
    follows_http01_redirects_on_the_challenge_port,
    refuses_http01_redirects_to_another_port_or_too_many,
    rejects_http01_with_an_oversized_body,
    issues_for_a_wildcard_and_its_base_through_dns01,
    rejects_dns01_with_wrong_txt_value,
    rejects_dns01_without_a_txt_record,
    rejects_dns01_when_the_resolver_fails,
    validates_tls_alpn01,
    rejects_tls_alpn01_with_wrong_digest,
    rejects_tls_alpn01_with_a_non_critical_extension,
    rejects_tls_alpn01_certificate_naming_more_than_the_name,
    rejects_tls_alpn01_without_the_acme_tls_protocol,
    rejects_tls_alpn01_when_nothing_listens,
    rejects_names_outside_the_domain_policy,
    rejects_malformed_names_and_too_many,
    rejects_mixed_and_foreign_identifier_types,
    rejects_a_requested_validity_outside_the_bounds_and_honours_one_within,
    records_one_outcome_for_concurrent_challenge_posts,
    rejects_each_csr_mismatch_and_keeps_the_order_ready,
    revokes_a_tls_leaf_with_its_own_key_once,
);

#[tokio::test]
async fn rejects_wildcards_where_dns01_is_not_offered() {
    use e2ei_acme::challenge::StandardChallenge;
    let w = World::with(Database::Sqlite, |s| {
        s.challenges = vec![StandardChallenge::Http01, StandardChallenge::TlsAlpn01];
    })
    .await
    .unwrap();
    let reply = w
        .new_order(json!({ "identifiers": [
            { "type": "dns", "value": "*.y.wire.example.com" },
            { "type": "dns", "value": "y.wire.example.com" },
        ]}))
        .await;
    assert_eq!(reply.problem(), "rejectedIdentifier", "{:?}", reply.body);
    assert_eq!(reply.body["subproblems"].as_array().unwrap().len(), 1);
    // Without wildcards the order is taken, with only the offered challenges.
    let order = w.order(&["y.wire.example.com"]).await;
    let authz = w.authzs(&order).await.remove(0);
    let mut kinds: Vec<&str> = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["http-01", "tls-alpn-01"]);
}

#[tokio::test]
async fn the_eab_provisioner_still_requires_a_binding() {
    let w = World::new(Database::Sqlite).await.unwrap();
    let key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let jwk = KeyRef::Jwk(Jwk::from_public_key(key.public_key().clone()));
    let reply = w
        .authority
        .post(
            "std",
            &key,
            &jwk,
            "/acme/std/new-account",
            Some(json!({ "termsOfServiceAgreed": true })),
        )
        .await;
    assert_eq!(reply.problem(), "externalAccountRequired");
}

/// A policy that allows more than the issuing intermediate may certify: the name constraints
/// win at new-order, before anything is validated or signed.
#[tokio::test]
async fn rejects_names_the_issuers_name_constraints_do_not_permit() {
    let Some(w) = World::with(Database::Sqlite, |s| {
        s.policy =
            e2ei_acme::order::DnsPolicy::parse(&["*.wire.example.com", "*.example.org"]).unwrap();
    })
    .await
    else {
        return;
    };
    let reply = w
        .new_order(json!({ "identifiers": [
            { "type": "dns", "value": "a.wire.example.com" },
            { "type": "dns", "value": "b.example.org" },
        ]}))
        .await;
    assert_eq!(
        (reply.status, reply.problem()),
        (StatusCode::BAD_REQUEST, "rejectedIdentifier"),
        "{:?}",
        reply.body
    );
    let refused: Vec<&str> = reply.body["subproblems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["identifier"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(refused, ["b.example.org"]);
    // Inside the constraints, the same policy orders fine.
    let ok = w
        .new_order(json!({ "identifiers": [{ "type": "dns", "value": "a.wire.example.com" }] }))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
}
