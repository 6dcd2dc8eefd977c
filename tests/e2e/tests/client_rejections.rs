//! Every client-side rejection of protocol doc §8.1 and §9.3, provoked by tampering with the
//! LIVE authority's answers: the client enrolls against the real `e2ei-backend` and
//! `e2ei-acme-server` binaries and the real test IdP, through an HTTPS reverse proxy that
//! relays every request to the authority untouched and edits exactly one response — a
//! challenge left `processing` or turned `invalid`, a wrong challenge pair, an order that is
//! `invalid`, not yet valid, expired or for other identifiers, a missing `Replay-Nonce`, an
//! empty certificate download, and issued chains whose leaf the REAL intermediate re-signed
//! with one thing wrong (key, algorithm, client id, handle, display name, domain, Subject Key
//! Identifier), or that end at a foreign root. Each test asserts the exact error variant.
//!
//! The proxy takes over the authority's public origin: the authority is restarted with its
//! `base_url` set to the proxy's origin, so the URLs it hands out (directory, `Location`,
//! `Link`, challenge URLs, the JWS `url` it checks) all name the proxy and nothing needs
//! rewriting. The proxy serves the stack's own TLS server certificate (`tls/server.pem`, for
//! 127.0.0.1), which the client trusts through `Stack::http_config`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use common::idp::{self, REDIRECT_URI};
use common::{DOMAIN, Stack};
use e2ei_client::acme::{AcmeError, ResponseError};
use e2ei_client::verify::CertificateError;
use e2ei_client::{
    BackendAuth, Credentials, EnrollError, Enrollment, EnrollmentSettings, LoginHintLogin, enroll,
};
use e2ei_core::ciphersuite::{Ciphersuite, KeyAlgorithm};
use e2ei_core::id::{ClientId, DeviceId};
use e2ei_core::key::PublicKey;
use e2ei_core::oid;
use e2ei_core::path::{PathError, certificate_uris};
use e2ei_core::x509::{
    CertificateParts, NameAttribute, ToBeSigned, authority_key_identifier, build_name,
    certificate_public_key, certificate_to_pem, certificates_from_pem_or_der, name_attribute,
    random_serial, subject_alt_name_uris, subject_key_id, subject_key_identifier,
};
use e2ei_signer::{KeyUri, Signer};
use serde_json::{Value, json};
use x509_cert::Certificate;

/// The suite of most tests: Ed25519 keys are the cheapest to make.
const SUITE: Ciphersuite = Ciphersuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519;

// ---------------------------------------------------------------------------------------------
// The tampering proxy
// ---------------------------------------------------------------------------------------------

/// The authority's resources, told apart by request path (`acme-server/src/api/mod.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resource {
    Directory,
    NewNonce,
    NewAccount,
    NewOrder,
    Order,
    Finalize,
    Authorization,
    Challenge,
    Certificate,
    Roots,
    Other,
}

impl Resource {
    fn of(path: &str) -> Self {
        if path == "/roots.pem" {
            return Self::Roots;
        }
        let Some(rest) = path.strip_prefix("/acme/wire/") else {
            return Self::Other;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["directory"] => Self::Directory,
            ["new-nonce"] => Self::NewNonce,
            ["new-account"] => Self::NewAccount,
            ["new-order"] => Self::NewOrder,
            ["order", _] => Self::Order,
            ["order", _, "finalize"] => Self::Finalize,
            ["authz", _] => Self::Authorization,
            ["challenge", _, _] => Self::Challenge,
            ["certificate", _] => Self::Certificate,
            _ => Self::Other,
        }
    }
}

/// One relayed exchange: the request's method and path, and the authority's response, which a
/// tamper may edit before the client sees it.
struct Exchange {
    resource: Resource,
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Exchange {
    /// The body as JSON (`Null` when it is not).
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Edits the JSON body.
    fn edit_json(&mut self, edit: impl FnOnce(&mut Value)) {
        let mut value = self.json();
        assert!(!value.is_null(), "not a JSON body");
        edit(&mut value);
        self.body = serde_json::to_vec(&value).unwrap();
    }
}

/// Looks at every exchange; returns whether it tampered with this one.
type Tamper = Box<dyn FnMut(&mut Exchange) -> bool + Send>;

/// Edits the `nth` (0-based) exchange that `matches`, and no other.
fn nth(
    index: usize,
    matches: impl Fn(&Exchange) -> bool + Send + 'static,
    mut edit: impl FnMut(&mut Exchange) + Send + 'static,
) -> Tamper {
    let mut seen = 0;
    Box::new(move |exchange| {
        if !matches(exchange) {
            return false;
        }
        seen += 1;
        if seen - 1 != index {
            return false;
        }
        edit(exchange);
        true
    })
}

/// Edits the first exchange with `resource` (any method).
fn first(resource: Resource, edit: impl FnMut(&mut Exchange) + Send + 'static) -> Tamper {
    nth(0, move |e| e.resource == resource, edit)
}

/// Edits the JSON body of the first exchange with `resource` whose body `matches`.
fn first_json(
    resource: Resource,
    matches: impl Fn(&Value) -> bool + Send + 'static,
    edit: impl Fn(&mut Value) + Send + 'static,
) -> Tamper {
    nth(
        0,
        move |e| e.resource == resource && matches(&e.json()),
        move |e| e.edit_json(&edit),
    )
}

#[derive(Default)]
struct ProxyState {
    tamper: Option<Tamper>,
    applied: usize,
    /// Every request relayed, as `METHOD path`.
    seen: Vec<String>,
}

struct Relay {
    upstream: String,
    http: reqwest::Client,
    state: Mutex<ProxyState>,
}

/// The proxy in front of the authority.
struct Proxy {
    relay: Arc<Relay>,
    origin: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Sets the tamper for the next exchanges.
    fn set(&self, tamper: Tamper) {
        self.relay.state.lock().unwrap().tamper = Some(tamper);
    }

    /// How many responses were edited.
    fn applied(&self) -> usize {
        self.relay.state.lock().unwrap().applied
    }

    /// The requests relayed so far.
    fn seen(&self) -> Vec<String> {
        self.relay.state.lock().unwrap().seen.clone()
    }
}

/// Accepts TCP connections and completes the TLS handshake with the stack's server certificate.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn tls_acceptor(stack: &Stack) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls = stack.dir.path().join("tls");
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(tls.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls.join("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Hop-by-hop headers and the length, which the relay recomputes.
fn relayed_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = headers.clone();
    for name in [
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
    ] {
        out.remove(name);
    }
    out
}

async fn relay_exchange(State(relay): State<Arc<Relay>>, request: Request) -> Response {
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let path = request.uri().path().to_owned();
    let headers = relayed_headers(request.headers());
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap();
    let upstream = relay
        .http
        .request(
            method.clone(),
            format!("{}{path_and_query}", relay.upstream),
        )
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = upstream.status().as_u16();
    let headers = relayed_headers(upstream.headers());
    let body = upstream.bytes().await.unwrap().to_vec();
    let mut exchange = Exchange {
        resource: Resource::of(&path),
        status,
        headers,
        body,
    };
    {
        let mut state = relay.state.lock().unwrap();
        state.seen.push(format!("{method} {path}"));
        let applied = state.tamper.as_mut().is_some_and(|t| t(&mut exchange));
        if applied {
            state.applied += 1;
        }
    }
    let mut response = Response::new(Body::from(exchange.body));
    *response.status_mut() = StatusCode::from_u16(exchange.status).unwrap();
    *response.headers_mut() = exchange.headers;
    response
}

// ---------------------------------------------------------------------------------------------
// The stack behind the proxy
// ---------------------------------------------------------------------------------------------

/// A stack whose authority is reached through the proxy, and a team owner `alice_wire`.
struct Tampered {
    stack: Stack,
    proxy: Proxy,
    credentials: Credentials,
}

/// Starts the stack, the proxy in front of its authority, and restarts the authority with the
/// proxy's origin as its `base_url`. `None` when a tool is missing (skipped loudly).
async fn start() -> Option<Tampered> {
    let idp = idp::shared()?;
    let mut stack = Stack::start(&idp.issuer).await?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("https://127.0.0.1:{}", tcp.local_addr().unwrap().port());
    let relay = Arc::new(Relay {
        upstream: stack.acme_url.clone(),
        http: stack.http(),
        state: Mutex::new(ProxyState::default()),
    });
    let app = axum::Router::new()
        .fallback(relay_exchange)
        .with_state(relay.clone());
    let listener = TlsListener {
        tcp,
        acceptor: tls_acceptor(&stack),
    };
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let config = stack.dir.path().join("acme.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let base_url = format!("base_url = \"{}\"", stack.acme_url);
    assert!(text.contains(&base_url), "{text}");
    std::fs::write(
        &config,
        text.replacen(&base_url, &format!("base_url = \"{origin}\""), 1),
    )
    .unwrap();
    stack.kill_acme(0);
    stack.restart_acme(0).await;

    let credentials = stack.register_team_owner("alice_wire", "Alice Smith").await;
    Some(Tampered {
        stack,
        proxy: Proxy {
            relay,
            origin,
            task,
        },
        credentials,
    })
}

impl Tampered {
    /// The directory URL the client is given: the proxy's.
    fn directory_url(&self) -> String {
        format!("{}/acme/wire/directory", self.proxy.origin)
    }

    /// Enrolls alice_wire's new device for `suite` through the proxy.
    async fn enroll(&self, suite: Ciphersuite) -> Result<Enrollment, EnrollError> {
        let mut settings = EnrollmentSettings::new(
            self.directory_url(),
            &self.stack.backend_url,
            BackendAuth::Password(self.credentials.clone()),
            suite,
        );
        settings.http = self.stack.http_config();
        enroll(settings, &LoginHintLogin::new("alice_wire", REDIRECT_URI)).await
    }

    /// Enrolls with `tamper` in place; the enrollment must fail after exactly one edit.
    async fn enroll_tampered(&self, tamper: Tamper) -> EnrollError {
        self.enroll_tampered_for(SUITE, tamper).await
    }

    async fn enroll_tampered_for(&self, suite: Ciphersuite, tamper: Tamper) -> EnrollError {
        self.proxy.set(tamper);
        let error = match self.enroll(suite).await {
            Ok(enrollment) => panic!(
                "the tampered enrollment succeeded: {:?}\nrequests: {:#?}",
                enrollment.leaf().tbs_certificate().subject(),
                self.proxy.seen()
            ),
            Err(e) => e,
        };
        assert_eq!(
            self.proxy.applied(),
            1,
            "the tamper fired {} times before {error}; requests: {:#?}",
            self.proxy.applied(),
            self.proxy.seen()
        );
        error
    }

    /// The failure must be the authority's answer departing from the protocol.
    async fn response_error(&self, tamper: Tamper) -> ResponseError {
        match self.enroll_tampered(tamper).await {
            EnrollError::Acme(AcmeError::Response(e)) => e,
            other => panic!("expected an ACME response error, got {other:?}"),
        }
    }

    /// The failure must be a §8.1 check of the issued chain.
    async fn certificate_error(&self, suite: Ciphersuite, tamper: Tamper) -> CertificateError {
        match self.enroll_tampered_for(suite, tamper).await {
            EnrollError::Certificate(e) => e,
            other => panic!("expected a certificate error, got {other:?}"),
        }
    }

    /// The real intermediate's key (`pki/intermediate.key`) and certificate.
    fn intermediate(&self) -> Issuer {
        Issuer::open(self.stack.dir.path(), self.stack.pki.intermediate.clone())
    }
}

/// A status value as it is spelled on the wire (`"processing"`, `"invalid"`), for comparing the
/// statuses an error carries without naming e2ei-acme's types (not a dependency here).
macro_rules! wire_status {
    ($status:expr) => {
        serde_json::to_value($status).unwrap()
    };
}

// ---------------------------------------------------------------------------------------------
// Forged chains
// ---------------------------------------------------------------------------------------------

/// An issuing CA: its key and certificate.
struct Issuer {
    key: Signer,
    certificate: Certificate,
}

impl Issuer {
    /// The intermediate of the PKI written under `dir` (`common::Pki::create`).
    fn open(dir: &std::path::Path, certificate: Certificate) -> Self {
        let uri: KeyUri = format!("file:{}", dir.join("pki/intermediate.key").display())
            .parse()
            .unwrap();
        Self {
            key: Signer::open(&uri).unwrap(),
            certificate,
        }
    }
}

/// What a forged leaf carries; starts as a copy of the issued leaf.
struct LeafSpec {
    organization: Option<String>,
    common_name: Option<String>,
    uris: Vec<String>,
    key: PublicKey,
    ski: bool,
}

impl LeafSpec {
    fn of(leaf: &Certificate) -> Self {
        let subject = leaf.tbs_certificate().subject();
        Self {
            organization: name_attribute(subject, oid::ORGANIZATION),
            common_name: name_attribute(subject, oid::COMMON_NAME),
            uris: certificate_uris(leaf),
            key: certificate_public_key(leaf).unwrap(),
            ski: true,
        }
    }

    /// Index of the client-id URI.
    fn client_id_index(&self) -> usize {
        self.uris
            .iter()
            .position(|u| ClientId::from_uri(u).is_ok())
            .unwrap()
    }

    /// Index of the handle URI.
    fn handle_index(&self) -> usize {
        self.uris
            .iter()
            .position(|u| u.starts_with("wireapp://%40"))
            .unwrap()
    }
}

/// Re-issues `leaf` from `issuer` with `spec`: same validity and other extensions (key usage,
/// extKeyUsage, CRL distribution point, provisioner …), a new serial, the subject, SANs, key
/// and Subject Key Identifier of `spec`, and the issuer certificate's name and key identifier,
/// signed with the issuer's key.
fn reissue(leaf: &Certificate, issuer: &Issuer, spec: &LeafSpec) -> Certificate {
    let tbs = leaf.tbs_certificate();
    let mut subject = Vec::new();
    if let Some(o) = &spec.organization {
        subject.push(NameAttribute {
            oid: oid::ORGANIZATION,
            value: o.clone(),
        });
    }
    if let Some(cn) = &spec.common_name {
        subject.push(NameAttribute {
            oid: oid::COMMON_NAME,
            value: cn.clone(),
        });
    }
    let replaced = [
        oid::SUBJECT_ALT_NAME,
        oid::SUBJECT_KEY_IDENTIFIER,
        oid::AUTHORITY_KEY_IDENTIFIER,
    ];
    let mut extensions: Vec<_> = tbs
        .extensions()
        .into_iter()
        .flatten()
        .filter(|e| !replaced.contains(&e.extn_id))
        .cloned()
        .collect();
    // The issuer certificate's key identifier, so that a leaf signed by another key still
    // points at the certificate it claims as issuer.
    let issuer_key_id = subject_key_id(issuer.certificate.tbs_certificate()).unwrap();
    extensions.push(authority_key_identifier(&issuer_key_id).unwrap());
    if !spec.uris.is_empty() {
        extensions.push(subject_alt_name_uris(&spec.uris).unwrap());
    }
    if spec.ski {
        extensions.push(subject_key_identifier(&spec.key).unwrap());
    }
    let parts = CertificateParts {
        serial: random_serial().unwrap(),
        issuer: issuer.certificate.tbs_certificate().subject().clone(),
        subject: build_name(&subject).unwrap(),
        validity: *tbs.validity(),
        subject_public_key: spec.key.clone(),
        issuer_algorithm: issuer.key.algorithm(),
        extensions,
    };
    let tbs = ToBeSigned::new(parts).unwrap();
    let signature = issuer.key.sign(tbs.der()).unwrap().to_x509().unwrap();
    tbs.into_certificate(&signature).unwrap()
}

/// Answers the certificate download with the issued leaf re-issued by `issuer` after `edit`,
/// followed by `chain` (`None`: the intermediates the authority served).
fn forge_leaf(
    issuer: Issuer,
    chain: Option<Vec<Certificate>>,
    edit: impl Fn(&mut LeafSpec) + Send + 'static,
) -> Tamper {
    first(Resource::Certificate, move |exchange| {
        let served = certificates_from_pem_or_der(&exchange.body).unwrap();
        let mut spec = LeafSpec::of(&served[0]);
        edit(&mut spec);
        let leaf = reissue(&served[0], &issuer, &spec);
        let rest = chain.clone().unwrap_or_else(|| served[1..].to_vec());
        exchange.body = std::iter::once(&leaf)
            .chain(rest.iter())
            .map(|c| certificate_to_pem(c).unwrap())
            .collect::<String>()
            .into_bytes();
    })
}

// ---------------------------------------------------------------------------------------------
// The proxy is transparent
// ---------------------------------------------------------------------------------------------

/// Without a tamper, enrollment through the proxy succeeds: every rejection below is the
/// edit's doing, not the proxy's.
#[tokio::test]
async fn enrolls_through_the_untampered_proxy() {
    let Some(t) = start().await else { return };
    let enrollment = t
        .enroll(SUITE)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", t.stack.acme_log()));
    assert_eq!(enrollment.trust_anchor(), &t.stack.pki.root);
    assert!(enrollment.certificate_url().starts_with(&t.proxy.origin));
    let seen = t.proxy.seen();
    for expected in [
        "GET /acme/wire/directory",
        "HEAD /acme/wire/new-nonce",
        "POST /acme/wire/new-account",
        "POST /acme/wire/new-order",
        "GET /roots.pem",
    ] {
        assert!(seen.iter().any(|s| s == expected), "{expected}: {seen:#?}");
    }
    assert_eq!(t.proxy.applied(), 0);
}

// ---------------------------------------------------------------------------------------------
// §9.3: challenges
// ---------------------------------------------------------------------------------------------

fn is_challenge(kind: &'static str) -> impl Fn(&Value) -> bool + Send + 'static {
    move |body| body["type"] == kind
}

/// The challenge answer turned `invalid` with an error (`AcmeChallError::Invalid`).
fn challenge_refused(kind: &'static str) -> Tamper {
    first_json(Resource::Challenge, is_challenge(kind), |body| {
        body["status"] = json!("invalid");
        body["error"] = json!({
            "type": "urn:ietf:params:acme:error:unauthorized",
            "detail": "tampered", "status": 403,
        });
    })
}

/// The challenge answer left `processing` (`AcmeChallError::Processing`: no polling, §15.2).
fn challenge_processing(kind: &'static str) -> Tamper {
    first_json(Resource::Challenge, is_challenge(kind), |body| {
        body["status"] = json!("processing");
    })
}

#[tokio::test]
async fn rejects_a_dpop_challenge_answered_invalid() {
    let Some(t) = start().await else { return };
    match t.response_error(challenge_refused("wire-dpop-01")).await {
        ResponseError::ChallengeInvalid {
            challenge,
            error: Some(problem),
        } => {
            assert_eq!(challenge, "wire-dpop-01");
            assert_eq!(problem.detail, "tampered");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_an_oidc_challenge_answered_invalid() {
    let Some(t) = start().await else { return };
    match t.response_error(challenge_refused("wire-oidc-01")).await {
        ResponseError::ChallengeInvalid {
            challenge,
            error: Some(_),
        } => assert_eq!(challenge, "wire-oidc-01"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_a_dpop_challenge_left_processing() {
    let Some(t) = start().await else { return };
    match t.response_error(challenge_processing("wire-dpop-01")).await {
        ResponseError::ChallengeNotValid { challenge, found } => {
            assert_eq!(challenge, "wire-dpop-01");
            assert_eq!(wire_status!(found), "processing");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_an_oidc_challenge_left_processing() {
    let Some(t) = start().await else { return };
    match t.response_error(challenge_processing("wire-oidc-01")).await {
        ResponseError::ChallengeNotValid { challenge, found } => {
            assert_eq!(challenge, "wire-oidc-01");
            assert_eq!(wire_status!(found), "processing");
        }
        other => panic!("{other:?}"),
    }
}

/// An answer describing another challenge than the one posted to.
#[tokio::test]
async fn rejects_a_challenge_answer_about_another_challenge() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::Challenge, is_challenge("wire-dpop-01"), |body| {
        body["url"] = json!(format!("{}-other", body["url"].as_str().unwrap()))
    });
    assert!(matches!(
        t.response_error(tamper).await,
        ResponseError::ChallengeMismatch { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// §9.3: authorizations (`AcmeAuthzError::InvalidChallengeType`)
// ---------------------------------------------------------------------------------------------

fn is_authz_for(identifier: &'static str) -> impl Fn(&Value) -> bool + Send + 'static {
    move |body| body["identifier"]["type"] == identifier
}

/// The device's authorization offers `dns-01` instead of `wire-dpop-01`: the pair is not
/// {wire-dpop-01, wire-oidc-01}.
#[tokio::test]
async fn rejects_an_authorization_offering_another_challenge_type() {
    let Some(t) = start().await else { return };
    let tamper = first_json(
        Resource::Authorization,
        is_authz_for("wireapp-device"),
        |body| body["challenges"][0]["type"] = json!("dns-01"),
    );
    match t.response_error(tamper).await {
        ResponseError::ChallengeTypes { found } => {
            let mut found = found;
            found.sort();
            assert_eq!(found, ["dns-01", "wire-oidc-01"]);
        }
        other => panic!("{other:?}"),
    }
}

/// Both authorizations offer `wire-oidc-01`: `wire-dpop-01` is missing from the pair.
#[tokio::test]
async fn rejects_a_challenge_pair_without_wire_dpop() {
    let Some(t) = start().await else { return };
    let tamper = first_json(
        Resource::Authorization,
        is_authz_for("wireapp-device"),
        |body| body["challenges"][0]["type"] = json!("wire-oidc-01"),
    );
    match t.response_error(tamper).await {
        ResponseError::ChallengeTypes { found } => {
            assert_eq!(found, ["wire-oidc-01", "wire-oidc-01"]);
        }
        other => panic!("{other:?}"),
    }
}

/// The user's authorization lost its only challenge (`wire-oidc-01`): with exactly one challenge
/// per authorization (§15.3) the client stops at that authorization, before pairing.
#[tokio::test]
async fn rejects_an_authorization_without_its_challenge() {
    let Some(t) = start().await else { return };
    let tamper = first_json(
        Resource::Authorization,
        is_authz_for("wireapp-user"),
        |body| body["challenges"] = json!([]),
    );
    assert!(matches!(
        t.response_error(tamper).await,
        ResponseError::ChallengeCount { found: 0, .. }
    ));
}

/// The device's authorization claims the user identifier: `wire-dpop-01` then sits in the
/// authorization of the identifier it does not prove.
#[tokio::test]
async fn rejects_a_dpop_challenge_in_the_user_authorization() {
    let Some(t) = start().await else { return };
    let user_identifier = Arc::new(Mutex::new(None::<Value>));
    let (seen, used) = (user_identifier.clone(), user_identifier);
    // The user identifier is taken from the new order, which comes before the authorizations.
    let tamper: Tamper = Box::new(move |exchange: &mut Exchange| match exchange.resource {
        Resource::NewOrder => {
            let body = exchange.json();
            let user = body["identifiers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["type"] == "wireapp-user")
                .cloned();
            *seen.lock().unwrap() = user;
            false
        }
        Resource::Authorization if is_authz_for("wireapp-device")(&exchange.json()) => {
            let user = used.lock().unwrap().clone().unwrap();
            exchange.edit_json(|body| body["identifier"] = user);
            true
        }
        _ => false,
    });
    match t.response_error(tamper).await {
        ResponseError::ChallengeForWrongIdentifier {
            challenge,
            identifier,
        } => {
            assert_eq!(challenge, "wire-dpop-01");
            assert_eq!(identifier, "wireapp-user");
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// §9.3: orders (`AcmeOrderError::{Invalid, NotYetValid, Expired, WrongIdentifiers}`)
// ---------------------------------------------------------------------------------------------

fn any(_: &Value) -> bool {
    true
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn assert_order_status(error: ResponseError, expected: &str, found: &str) {
    match error {
        ResponseError::OrderStatus {
            expected: e,
            found: f,
            ..
        } => {
            assert_eq!(wire_status!(e), expected);
            assert_eq!(wire_status!(f), found);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_a_new_order_answered_invalid() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::NewOrder, any, |body| {
        body["status"] = json!("invalid");
    });
    assert_order_status(t.response_error(tamper).await, "pending", "invalid");
}

/// The order fetched after both challenges (step 12) is `invalid` instead of `ready`.
#[tokio::test]
async fn rejects_an_order_turned_invalid_before_finalize() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::Order, any, |body| {
        body["status"] = json!("invalid");
    });
    assert_order_status(t.response_error(tamper).await, "ready", "invalid");
}

/// The finalize answer shows the order `invalid` instead of `valid`.
#[tokio::test]
async fn rejects_a_finalized_order_answered_invalid() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::Finalize, any, |body| {
        body["status"] = json!("invalid");
        body["error"] = json!({
            "type": "urn:ietf:params:acme:error:badCSR", "detail": "tampered", "status": 400,
        });
    });
    assert_order_status(t.response_error(tamper).await, "valid", "invalid");
}

#[tokio::test]
async fn rejects_an_order_not_yet_valid() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::NewOrder, any, |body| {
        body["notBefore"] = json!(rfc3339(
            time::OffsetDateTime::now_utc() + time::Duration::hours(1)
        ));
    });
    assert!(matches!(
        t.response_error(tamper).await,
        ResponseError::OrderNotYetValid { .. }
    ));
}

#[tokio::test]
async fn rejects_an_expired_order() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::NewOrder, any, |body| {
        body["expires"] = json!(rfc3339(
            time::OffsetDateTime::now_utc() - time::Duration::minutes(1)
        ));
    });
    assert!(matches!(
        t.response_error(tamper).await,
        ResponseError::OrderExpired { .. }
    ));
}

/// The order fetched before finalize has expired meanwhile.
#[tokio::test]
async fn rejects_an_order_expired_before_finalize() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::Order, any, |body| {
        body["expires"] = json!(rfc3339(
            time::OffsetDateTime::now_utc() - time::Duration::minutes(1)
        ));
    });
    assert!(matches!(
        t.response_error(tamper).await,
        ResponseError::OrderExpired { .. }
    ));
}

#[tokio::test]
async fn rejects_an_order_whose_not_after_has_passed() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::NewOrder, any, |body| {
        body["notAfter"] = json!(rfc3339(
            time::OffsetDateTime::now_utc() - time::Duration::minutes(1)
        ));
    });
    assert!(matches!(
        t.response_error(tamper).await,
        ResponseError::OrderNotAfterPassed { .. }
    ));
}

/// The user identifier's handle is swapped for another user's.
fn other_user_identifier(body: &mut Value) {
    let identifiers = body["identifiers"].as_array_mut().unwrap();
    let user = identifiers
        .iter_mut()
        .find(|i| i["type"] == "wireapp-user")
        .unwrap();
    let value = user["value"]
        .as_str()
        .unwrap()
        .replace("%40alice_wire@", "%40bob_wire@");
    user["value"] = json!(value);
}

#[tokio::test]
async fn rejects_a_new_order_for_other_identifiers() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::NewOrder, any, other_user_identifier);
    match t.response_error(tamper).await {
        ResponseError::WrongIdentifiers { found, .. } => {
            assert!(found.iter().any(|i| i.value.contains("%40bob_wire@")));
        }
        other => panic!("{other:?}"),
    }
}

/// The finalize answer's order names other identifiers than the ones ordered.
#[tokio::test]
async fn rejects_a_finalized_order_for_other_identifiers() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::Finalize, any, other_user_identifier);
    assert!(matches!(
        t.response_error(tamper).await,
        ResponseError::WrongIdentifiers { .. }
    ));
}

/// The two identifiers trade values: the `wireapp-device` one carries the user's document
/// (no client id) and the `wireapp-user` one the device's.
#[tokio::test]
async fn rejects_an_order_with_swapped_identifier_values() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::NewOrder, any, |body| {
        let identifiers = body["identifiers"].as_array_mut().unwrap();
        let first = identifiers[0]["value"].take();
        identifiers[0]["value"] = identifiers[1]["value"].take();
        identifiers[1]["value"] = first;
    });
    assert!(matches!(
        t.response_error(tamper).await,
        ResponseError::WrongIdentifiers { .. }
    ));
}

#[tokio::test]
async fn rejects_an_order_with_a_third_identifier() {
    let Some(t) = start().await else { return };
    let tamper = first_json(Resource::NewOrder, any, |body| {
        body["identifiers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "dns", "value": DOMAIN}));
    });
    assert!(matches!(
        t.response_error(tamper).await,
        ResponseError::IdentifierCount { found: 3, .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// §9.3: Replay-Nonce
// ---------------------------------------------------------------------------------------------

fn strip_replay_nonce(resource: Resource) -> Tamper {
    first(resource, |exchange| {
        exchange.headers.remove("replay-nonce");
    })
}

#[tokio::test]
async fn rejects_a_new_nonce_answer_without_replay_nonce() {
    let Some(t) = start().await else { return };
    match t
        .response_error(strip_replay_nonce(Resource::NewNonce))
        .await
    {
        ResponseError::MissingReplayNonce { url } => assert!(url.ends_with("/new-nonce")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_a_new_order_answer_without_replay_nonce() {
    let Some(t) = start().await else { return };
    match t
        .response_error(strip_replay_nonce(Resource::NewOrder))
        .await
    {
        ResponseError::MissingReplayNonce { url } => assert!(url.ends_with("/new-order")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_a_certificate_download_without_replay_nonce() {
    let Some(t) = start().await else { return };
    match t
        .response_error(strip_replay_nonce(Resource::Certificate))
        .await
    {
        ResponseError::MissingReplayNonce { url } => assert!(url.contains("/certificate/")),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// §9.3 / §8.1 step 1: the certificate download
// ---------------------------------------------------------------------------------------------

/// An empty chain (core-crypto `SmallstepImplementationError`).
#[tokio::test]
async fn rejects_an_empty_certificate_download() {
    let Some(t) = start().await else { return };
    let tamper = first(Resource::Certificate, |exchange| exchange.body.clear());
    assert!(matches!(
        t.response_error(tamper).await,
        ResponseError::EmptyCertificateChain { .. }
    ));
}

/// `/roots.pem` without a certificate: nothing to validate against (§8.1 step 2).
#[tokio::test]
async fn rejects_when_the_authority_serves_no_trust_anchor() {
    let Some(t) = start().await else { return };
    let tamper = first(Resource::Roots, |exchange| exchange.body.clear());
    match t.enroll_tampered(tamper).await {
        EnrollError::TrustAnchors { url, .. } => assert!(url.ends_with("/roots.pem")),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// §8.1 steps 2–5: the issued chain, re-signed by the real intermediate with one thing wrong
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rejects_a_certificate_for_another_key() {
    let Some(t) = start().await else { return };
    let other = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
    let tamper = forge_leaf(t.intermediate(), None, move |spec| {
        spec.key = other.public_key().clone();
    });
    assert_eq!(
        t.certificate_error(SUITE, tamper).await,
        CertificateError::KeyMismatch
    );
}

/// The client asked for an Ed25519 certificate and gets a P-256 key certified.
#[tokio::test]
async fn rejects_a_certificate_for_another_algorithm() {
    let Some(t) = start().await else { return };
    let other = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let tamper = forge_leaf(t.intermediate(), None, move |spec| {
        spec.key = other.public_key().clone();
    });
    assert_eq!(
        t.certificate_error(SUITE, tamper).await,
        CertificateError::AlgorithmMismatch {
            expected: KeyAlgorithm::Ed25519,
            found: KeyAlgorithm::P256,
        }
    );
}

/// Another device of the same user.
#[tokio::test]
async fn rejects_a_certificate_for_another_client_id() {
    let Some(t) = start().await else { return };
    let tamper = forge_leaf(t.intermediate(), None, |spec| {
        let i = spec.client_id_index();
        let ours = ClientId::from_uri(&spec.uris[i]).unwrap();
        let other = ClientId::new(
            *ours.user(),
            DeviceId::new(ours.device().value() ^ 1),
            ours.domain().clone(),
        );
        spec.uris[i] = other.to_certificate_uri();
    });
    match t.certificate_error(SUITE, tamper).await {
        CertificateError::ClientIdMismatch { expected, found } => assert_ne!(expected, found),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_a_certificate_without_client_id() {
    let Some(t) = start().await else { return };
    let tamper = forge_leaf(t.intermediate(), None, |spec| {
        let i = spec.client_id_index();
        spec.uris.remove(i);
    });
    assert_eq!(
        t.certificate_error(SUITE, tamper).await,
        CertificateError::MissingClientId
    );
}

#[tokio::test]
async fn rejects_a_certificate_for_another_handle() {
    let Some(t) = start().await else { return };
    let tamper = forge_leaf(t.intermediate(), None, |spec| {
        let i = spec.handle_index();
        spec.uris[i] = format!("wireapp://%40bob_wire@{DOMAIN}");
    });
    match t.certificate_error(SUITE, tamper).await {
        CertificateError::HandleMismatch { found, .. } => {
            assert_eq!(found, format!("wireapp://%40bob_wire@{DOMAIN}"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rejects_a_certificate_without_handle() {
    let Some(t) = start().await else { return };
    let tamper = forge_leaf(t.intermediate(), None, |spec| {
        let i = spec.handle_index();
        spec.uris.remove(i);
    });
    assert_eq!(
        t.certificate_error(SUITE, tamper).await,
        CertificateError::MissingHandle
    );
}

#[tokio::test]
async fn rejects_a_certificate_for_another_display_name() {
    let Some(t) = start().await else { return };
    let tamper = forge_leaf(t.intermediate(), None, |spec| {
        spec.common_name = Some("Bob Jones".into());
    });
    assert_eq!(
        t.certificate_error(SUITE, tamper).await,
        CertificateError::DisplayNameMismatch {
            expected: "Alice Smith".into(),
            found: "Bob Jones".into(),
        }
    );
}

#[tokio::test]
async fn rejects_a_certificate_without_display_name() {
    let Some(t) = start().await else { return };
    let tamper = forge_leaf(t.intermediate(), None, |spec| spec.common_name = None);
    assert_eq!(
        t.certificate_error(SUITE, tamper).await,
        CertificateError::MissingDisplayName
    );
}

#[tokio::test]
async fn rejects_a_certificate_for_another_domain() {
    let Some(t) = start().await else { return };
    let tamper = forge_leaf(t.intermediate(), None, |spec| {
        spec.organization = Some("other.example.org".into());
    });
    assert_eq!(
        t.certificate_error(SUITE, tamper).await,
        CertificateError::DomainMismatch {
            expected: DOMAIN.into(),
            found: "other.example.org".into(),
        }
    );
}

#[tokio::test]
async fn rejects_a_certificate_without_domain() {
    let Some(t) = start().await else { return };
    let tamper = forge_leaf(t.intermediate(), None, |spec| spec.organization = None);
    assert_eq!(
        t.certificate_error(SUITE, tamper).await,
        CertificateError::MissingDomain
    );
}

#[tokio::test]
async fn rejects_a_certificate_without_subject_key_identifier() {
    let Some(t) = start().await else { return };
    let tamper = forge_leaf(t.intermediate(), None, |spec| spec.ski = false);
    assert!(matches!(
        t.certificate_error(SUITE, tamper).await,
        CertificateError::MissingSubjectKeyIdentifier { .. }
    ));
}

/// The leaf is issued by the intermediate of another, freshly made PKI, which the chain
/// carries: it ends at a root the client does not trust.
#[tokio::test]
async fn rejects_a_chain_to_a_foreign_root() {
    let Some(t) = start().await else { return };
    let dir = t.stack.dir.path().join("foreign");
    let foreign = common::Pki::create(&dir);
    let issuer = Issuer::open(&dir, foreign.intermediate.clone());
    let tamper = forge_leaf(issuer, Some(vec![foreign.intermediate]), |_| {});
    match t.certificate_error(SUITE, tamper).await {
        CertificateError::Path(PathError::NoPathToTrustAnchor { .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// The leaf names the real intermediate as its issuer but another key signed it.
#[tokio::test]
async fn rejects_a_leaf_not_signed_by_the_intermediate() {
    let Some(t) = start().await else { return };
    let impostor = Issuer {
        key: Signer::ephemeral(KeyAlgorithm::P256).unwrap(),
        certificate: t.stack.pki.intermediate.clone(),
    };
    let tamper = forge_leaf(impostor, None, |_| {});
    match t.certificate_error(SUITE, tamper).await {
        CertificateError::Path(PathError::BadSignature { .. }) => {}
        other => panic!("{other:?}"),
    }
}
