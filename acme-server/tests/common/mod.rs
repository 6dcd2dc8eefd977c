//! An authority in-process over SQLite or PostgreSQL, and a signing ACME client for it.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

pub mod idp;
pub mod responders;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use e2ei_acme::jws::{KeyRef, sign_flattened};
use e2ei_acme_server::app::{DEFAULT_NONCE_TTL, EabSettings, WireSettings};
use e2ei_acme_server::oidc::Idp;
use e2ei_acme_server::standard::{LeafValidity, StandardSettings};
use e2ei_acme_server::store::Store;
use e2ei_acme_server::validation::{Validator, ValidatorConfig};
use e2ei_acme_server::{AppState, Provisioner, ProvisionerKind, Settings, api};
use e2ei_core::clock::SystemClock;
use e2ei_core::jwk::Jwk;
use e2ei_dpop::BackendPublicKeys;
use e2ei_signer::Signer;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use zeroize::Zeroizing;

pub const BASE: &str = "https://acme.wire.example.com";
pub const EAB_KEY: &[u8] = b"an external account binding key!";

/// The admin API token of test authorities.
pub const ADMIN_TOKEN: &str = "an admin token for the tests";

pub fn admin_token_sha256() -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, ADMIN_TOKEN.as_bytes());
    digest.as_ref().try_into().unwrap()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The raw body (PEM chains are not JSON).
    pub text: String,
    /// The body's bytes (CRLs are not text).
    pub raw: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn problem(&self) -> &str {
        self.body["type"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("urn:ietf:params:acme:error:")
    }
}

/// How a test authority is configured.
pub struct Options {
    pub backend_keys: BackendPublicKeys,
    pub issuer: Option<e2ei_acme_server::issuer::Issuer>,
    pub idp: Idp,
    pub clock: Arc<dyn e2ei_core::clock::Clock>,
    pub rate_limits: e2ei_acme_server::app::RateLimits,
    pub client_ip_header: Option<String>,
    pub federation: Vec<x509_cert::Certificate>,
    /// The standard provisioners' settings (default: validating against nothing).
    pub standard: Option<StandardSettings>,
    /// The Wire provisioner's leaf validity bounds.
    pub wire_validity: LeafValidity,
    /// Publish CRLs in this many shards at `https://acme.wire.example.com/crl`.
    pub crl_shards: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            backend_keys: BackendPublicKeys::default(),
            issuer: None,
            idp: idp(NO_IDP),
            clock: Arc::new(SystemClock),
            rate_limits: e2ei_acme_server::app::RateLimits::OFF,
            client_ip_header: None,
            federation: Vec::new(),
            standard: None,
            wire_validity: LeafValidity::wire(),
            crl_shards: None,
        }
    }
}

pub struct Authority {
    pub router: Router,
    pub state: Arc<AppState>,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Clone, Copy)]
pub enum Database {
    Sqlite,
    Postgres,
}

impl Authority {
    pub async fn new(database: Database) -> Option<Self> {
        Self::with(database, BackendPublicKeys::default(), None, idp(NO_IDP)).await
    }

    /// An authority whose Wire provisioner trusts `backend_keys` and `idp`.
    pub async fn with(
        database: Database,
        backend_keys: BackendPublicKeys,
        issuer: Option<e2ei_acme_server::issuer::Issuer>,
        idp: Idp,
    ) -> Option<Self> {
        Self::with_options(
            database,
            Options {
                backend_keys,
                issuer,
                idp,
                ..Options::default()
            },
        )
        .await
    }

    /// An authority whose standard provisioners (`std` with external account binding, `open`
    /// without) use `standard`.
    pub async fn with_standard(
        database: Database,
        issuer: Option<e2ei_acme_server::issuer::Issuer>,
        standard: StandardSettings,
    ) -> Option<Self> {
        Self::with_options(
            database,
            Options {
                issuer,
                standard: Some(standard),
                ..Options::default()
            },
        )
        .await
    }

    /// An authority configured by `options`.
    pub async fn with_options(database: Database, options: Options) -> Option<Self> {
        let Options {
            backend_keys,
            issuer,
            idp,
            clock,
            rate_limits,
            client_ip_header,
            federation,
            standard,
            wire_validity,
            crl_shards,
        } = options;
        // Unless a test validates, the standard provisioners ask a resolver nobody runs.
        let standard = standard.unwrap_or_else(|| {
            standard_settings(ValidatorConfig {
                dns_resolver: Some("127.0.0.1:9".parse().unwrap()),
                ..ValidatorConfig::default()
            })
        });
        let (url, dir) = match database {
            Database::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                (
                    format!("sqlite://{}?mode=rwc", dir.path().join("acme.db").display()),
                    Some(dir),
                )
            }
            Database::Postgres => (postgres_schema().await?, None),
        };
        let mut eab_keys = HashMap::new();
        eab_keys.insert("kid-1".to_owned(), Zeroizing::new(EAB_KEY.to_vec()));
        let settings = Settings {
            base_url: BASE.into(),
            provisioners: vec![
                Provisioner {
                    name: "wire".into(),
                    kind: ProvisionerKind::Wire(Box::new(WireSettings {
                        validity: wire_validity,
                        ..wire_settings(backend_keys, idp)
                    })),
                    terms_of_service: None,
                    website: None,
                    eab: EabSettings::default(),
                },
                Provisioner {
                    name: "std".into(),
                    kind: ProvisionerKind::Standard(Box::new(standard.clone())),
                    terms_of_service: Some("https://acme.wire.example.com/terms".into()),
                    website: Some("https://wire.example.com".into()),
                    eab: EabSettings {
                        required: true,
                        keys: eab_keys,
                    },
                },
                Provisioner {
                    name: "open".into(),
                    kind: ProvisionerKind::Standard(Box::new(standard)),
                    terms_of_service: None,
                    website: None,
                    eab: EabSettings::default(),
                },
            ],
            nonce_ttl: DEFAULT_NONCE_TTL,
            rate_limits,
            stale_processing_secs: e2ei_acme_server::app::DEFAULT_STALE_PROCESSING_SECS,
            client_ip_header,
        };
        let issuer = match crl_shards {
            Some(shards) => issuer.map(|i| {
                i.with_crl(
                    e2ei_acme_server::issuer::CrlPolicy::new(
                        &format!("{BASE}/crl"),
                        std::num::NonZeroU32::new(shards).unwrap(),
                        std::time::Duration::from_secs(24 * 3600),
                        std::time::Duration::from_secs(24 * 3600),
                    )
                    .unwrap(),
                )
            }),
            None => issuer,
        };
        let state = Arc::new(AppState {
            store: Store::connect(&url, DEFAULT_NONCE_TTL).await.unwrap(),
            settings,
            clock,
            issuer,
            roots_pem: None,
            federation,
            metrics: e2ei_acme_server::app::new_metrics(),
            crl_wake: Default::default(),
            admin_token_sha256: Some(admin_token_sha256()),
        });
        Some(Self {
            router: api::router(state.clone()),
            state,
            _dir: dir,
        })
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            raw: bytes.to_vec(),
            text: String::from_utf8_lossy(&bytes).into_owned(),
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, method: Method) -> Reply {
        self.send(
            Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn nonce(&self, provisioner: &str) -> String {
        let reply = self
            .get(&format!("/acme/{provisioner}/new-nonce"), Method::HEAD)
            .await;
        reply.header("replay-nonce").unwrap().to_owned()
    }

    pub async fn post_jws(&self, path: &str, jws: &Value) -> Reply {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/jose+json")
            .body(Body::from(jws.to_string()))
            .unwrap();
        self.send(request).await
    }

    /// Signs and posts `payload` (None: POST-as-GET) to `path` with `key_ref`.
    pub async fn post(
        &self,
        provisioner: &str,
        signer: &Signer,
        key_ref: &KeyRef,
        path: &str,
        payload: Option<Value>,
    ) -> Reply {
        let nonce = self.nonce(provisioner).await;
        let jws = sign_flattened(
            signer,
            key_ref,
            Some(&nonce),
            &format!("{BASE}{path}"),
            payload.as_ref(),
        )
        .unwrap();
        self.post_jws(path, &jws).await
    }

    /// Creates an account on `wire`; returns its URL.
    pub async fn account(&self, signer: &Signer) -> String {
        let jwk = KeyRef::Jwk(Jwk::from_public_key(signer.public_key().clone()));
        let reply = self
            .post("wire", signer, &jwk, "/acme/wire/new-account", Some(json!({ "termsOfServiceAgreed": true, "contact": ["mailto:alice@wire.example.com"] })))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.header("location").unwrap().to_owned()
    }
}

/// A standard provisioner for names below `wire.example.com` (the test PKI's name constraint),
/// every challenge type, default validity, validating as `validator` says.
pub fn standard_settings(validator: ValidatorConfig) -> StandardSettings {
    StandardSettings {
        policy: e2ei_acme::order::DnsPolicy::parse(&["*.wire.example.com"]).unwrap(),
        challenges: e2ei_acme::challenge::StandardChallenge::ALL.to_vec(),
        validator: Validator::new(&validator).unwrap(),
        validity: LeafValidity::default(),
    }
}

/// An external tool, or `None` after saying loudly that its test is skipped; under `CI` a
/// missing tool fails the test.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is required under CI (scripts/test.sh installs it)"
        );
        eprintln!("SKIPPED: {name} is not installed");
    }
    found
}

/// pkilint's `lint_pkix_cert` from the checks venv (`$E2EI_CHECKS_VENV`, default
/// `~/.cache/e2ei-checks-venv`), if present.
pub fn pkilint() -> Option<std::path::PathBuf> {
    let venv = std::env::var_os("E2EI_CHECKS_VENV")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".cache/e2ei-checks-venv"))
        })?;
    let lint = venv.join("bin/lint_pkix_cert");
    if lint.is_file() {
        Some(lint)
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "pkilint is required under CI ({} missing)",
            lint.display()
        );
        eprintln!("SKIPPED: pkilint not found at {}", lint.display());
        None
    }
}

/// Checks an issued chain (PEM, leaf first) with `openssl verify -x509_strict` against `root`
/// for `purpose` (`sslserver`, `sslclient`), and lints the leaf with pkilint at WARNING, which
/// must report exactly the finding codes in `expected_findings` (each listed with its reason in
/// `tests/pkilint-expected.txt`); each check runs when its tool is installed.
pub fn check_with_openssl_and_pkilint(
    chain_pem: &str,
    root: &x509_cert::Certificate,
    purpose: &str,
    expected_findings: &[&str],
) {
    use e2ei_core::x509::{certificate_to_pem, certificates_from_pem_or_der};
    let dir = tempfile::tempdir().unwrap();
    let chain = certificates_from_pem_or_der(chain_pem.as_bytes()).unwrap();
    let leaf = dir.path().join("leaf.pem");
    let untrusted = dir.path().join("untrusted.pem");
    let root_file = dir.path().join("root.pem");
    std::fs::write(&leaf, certificate_to_pem(&chain[0]).unwrap()).unwrap();
    std::fs::write(
        &untrusted,
        chain[1..]
            .iter()
            .map(|c| certificate_to_pem(c).unwrap())
            .collect::<String>(),
    )
    .unwrap();
    std::fs::write(&root_file, certificate_to_pem(root).unwrap()).unwrap();
    if let Some(openssl) = tool("openssl") {
        let out = std::process::Command::new(openssl)
            .args(["verify", "-x509_strict", "-purpose", purpose, "-CAfile"])
            .arg(&root_file)
            .arg("-untrusted")
            .arg(&untrusted)
            .arg(&leaf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    lint_leaf(&leaf, expected_findings);
}

/// pkilint on one PEM leaf: exactly `expected_findings` (codes from the ledger).
pub fn lint_leaf(leaf: &std::path::Path, expected_findings: &[&str]) {
    let ledger = include_str!("../pkilint-expected.txt");
    for code in expected_findings {
        assert!(
            ledger
                .lines()
                .any(|l| !l.starts_with('#') && l.split('|').next().map(str::trim) == Some(*code)),
            "{code} is not in tests/pkilint-expected.txt"
        );
    }
    let Some(lint) = pkilint() else { return };
    let out = std::process::Command::new(lint)
        .args(["lint", "-s", "WARNING"])
        .arg(leaf)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // Finding lines read `    code (SEVERITY): message`.
    let mut found: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().split_once(" (").map(|(code, _)| code.to_owned()))
        .filter(|code| !code.contains(' ') && code.contains('.'))
        .collect();
    found.sort();
    found.dedup();
    let mut expected: Vec<String> = expected_findings.iter().map(|c| (*c).to_owned()).collect();
    expected.sort();
    assert_eq!(
        found,
        expected,
        "pkilint findings differ from the expected ones:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The IdP issuer tests use when they run no IdP: nothing listens there.
pub const NO_IDP: &str = "http://127.0.0.1:9";

/// The test IdP's configuration as a Wire provisioner sees it (client `wireapp`).
pub fn idp(issuer: &str) -> Idp {
    Idp::new(issuer, "wireapp", Default::default())
}

pub fn wire_settings(backend_keys: BackendPublicKeys, idp: Idp) -> WireSettings {
    WireSettings {
        backend_keys,
        dpop_target: "https://{domain}/clients/{device_id}/access-token".into(),
        idp,
        dpop_policy: e2ei_dpop::AcmePolicy::default(),
        validity: e2ei_acme_server::standard::LeafValidity::wire(),
    }
}

async fn postgres_schema() -> Option<String> {
    use sqlx::Connection;
    let base = std::env::var("E2EI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    sqlx::any::install_default_drivers();
    let mut conn = match sqlx::AnyConnection::connect(&base).await {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL at {base} is required under CI: {e}"
            );
            eprintln!("SKIPPED: PostgreSQL at {base} is not reachable ({e})");
            return None;
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let schema = format!("e2ei_t_{now}_{}", rand_suffix());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

fn rand_suffix() -> usize {
    let mut b = [0u8; 4];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    u32::from_be_bytes(b) as usize
}

/// A test PKI for `wire.example.com`: a P-384 root and a P-256 intermediate with URI and DNS
/// name constraints, built with e2ei-core's builders as the ceremonies do.
pub struct TestPki {
    pub root: x509_cert::Certificate,
    pub intermediate: x509_cert::Certificate,
    pub intermediate_key: Signer,
}

impl TestPki {
    pub fn new() -> Self {
        Self::with_intermediate_key(
            Signer::ephemeral(e2ei_core::ciphersuite::KeyAlgorithm::P256).unwrap(),
        )
    }

    /// A PKI whose intermediate holds `intermediate_key` (a file key, for the binary's tests).
    pub fn with_intermediate_key(intermediate_key: Signer) -> Self {
        let root_key = Signer::ephemeral(e2ei_core::ciphersuite::KeyAlgorithm::P384).unwrap();
        let root = test_root("Test Root", &root_key);
        let intermediate = test_intermediate(&root, &root_key, &intermediate_key, 365);
        Self {
            root,
            intermediate,
            intermediate_key,
        }
    }

    /// A PKI whose intermediate expires in `days`.
    pub fn with_intermediate_days(days: i64) -> Self {
        let intermediate_key =
            Signer::ephemeral(e2ei_core::ciphersuite::KeyAlgorithm::P256).unwrap();
        let root_key = Signer::ephemeral(e2ei_core::ciphersuite::KeyAlgorithm::P384).unwrap();
        let root = test_root("Test Root", &root_key);
        let intermediate = test_intermediate(&root, &root_key, &intermediate_key, days);
        Self {
            root,
            intermediate,
            intermediate_key,
        }
    }

    /// A partner's root and its cross-signature of this intermediate (same subject and key),
    /// as a federating domain issues it.
    pub fn cross_signed(&self) -> (x509_cert::Certificate, x509_cert::Certificate) {
        let partner_key = Signer::ephemeral(e2ei_core::ciphersuite::KeyAlgorithm::P256).unwrap();
        let partner = test_root("Partner Root", &partner_key);
        let cross = test_intermediate(&partner, &partner_key, &self.intermediate_key, 365);
        (partner, cross)
    }

    /// The issuer the authority signs with (moves the intermediate key).
    pub fn issuer(self) -> (e2ei_acme_server::issuer::Issuer, x509_cert::Certificate) {
        let issuer = e2ei_acme_server::issuer::Issuer::new(
            self.intermediate_key,
            self.intermediate,
            Vec::new(),
            Some("https://acme.wire.example.com/crl".into()),
            e2ei_acme_server::issuer::DEFAULT_MAX_VALIDITY,
        )
        .unwrap();
        (issuer, self.root)
    }
}

fn test_name(cn: &str) -> x509_cert::name::Name {
    use e2ei_core::oid;
    use e2ei_core::x509::{NameAttribute, build_name};
    build_name(&[
        NameAttribute {
            oid: oid::ORGANIZATION,
            value: "wire.example.com".into(),
        },
        NameAttribute {
            oid: oid::COMMON_NAME,
            value: cn.into(),
        },
    ])
    .unwrap()
}

fn test_sign(tbs: e2ei_core::x509::ToBeSigned, key: &Signer) -> x509_cert::Certificate {
    let signature = key.sign(tbs.der()).unwrap().to_x509().unwrap();
    tbs.into_certificate(&signature).unwrap()
}

/// A self-signed test root named `cn`.
fn test_root(cn: &str, root_key: &Signer) -> x509_cert::Certificate {
    use e2ei_core::x509::{
        CertificateParts, ToBeSigned, basic_constraints, key_usage, random_serial,
        subject_key_identifier, validity,
    };
    use x509_cert::ext::pkix::KeyUsages;
    let now = time::OffsetDateTime::now_utc();
    test_sign(
        ToBeSigned::new(CertificateParts {
            serial: random_serial().unwrap(),
            issuer: test_name(cn),
            subject: test_name(cn),
            validity: validity(
                now - time::Duration::hours(1),
                now + time::Duration::days(3650),
            )
            .unwrap(),
            subject_public_key: root_key.public_key().clone(),
            issuer_algorithm: root_key.public_key().algorithm(),
            extensions: vec![
                basic_constraints(true, Some(1)).unwrap(),
                key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign).unwrap(),
                subject_key_identifier(root_key.public_key()).unwrap(),
            ],
        })
        .unwrap(),
        root_key,
    )
}

/// "Test Intermediate" for `intermediate_key`, issued by `root`, constrained to
/// `wire.example.com`.
fn test_intermediate(
    root: &x509_cert::Certificate,
    root_key: &Signer,
    intermediate_key: &Signer,
    days: i64,
) -> x509_cert::Certificate {
    use e2ei_core::x509::{
        CertificateParts, ToBeSigned, authority_key_identifier, basic_constraints, key_usage,
        name_constraints, random_serial, subject_key_identifier, validity,
    };
    use x509_cert::ext::pkix::KeyUsages;
    let now = time::OffsetDateTime::now_utc();
    test_sign(
        ToBeSigned::new(CertificateParts {
            serial: random_serial().unwrap(),
            issuer: root.tbs_certificate().subject().clone(),
            subject: test_name("Test Intermediate"),
            validity: validity(
                now - time::Duration::hours(1),
                now + time::Duration::days(days),
            )
            .unwrap(),
            subject_public_key: intermediate_key.public_key().clone(),
            issuer_algorithm: root_key.public_key().algorithm(),
            extensions: vec![
                basic_constraints(true, Some(0)).unwrap(),
                key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign).unwrap(),
                subject_key_identifier(intermediate_key.public_key()).unwrap(),
                authority_key_identifier(&root_key.public_key().key_identifier()).unwrap(),
                name_constraints(&["wire.example.com".into()], &["wire.example.com".into()])
                    .unwrap(),
            ],
        })
        .unwrap(),
        root_key,
    )
}
