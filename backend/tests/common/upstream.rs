//! An upstream for the CRL proxy: an HTTPS server on 127.0.0.1 whose certificate comes from a
//! private test CA (built with e2ei-core, signed through e2ei-signer), serving real CRLs made
//! with e2ei-crl, scripted per path, counting every request it receives.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use der::Encode;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::key::PublicKey;
use e2ei_core::oid;
use e2ei_core::x509::{
    CertificateParts, NameAttribute, ToBeSigned, basic_constraints, build_name, certificate_to_pem,
    ext_key_usage, key_usage, random_serial, subject_key_identifier, validity,
};
use e2ei_crl::{CrlParts, CrlScope, RevokedEntry, sign_crl};
use e2ei_signer::Signer;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::KeyUsages;
use x509_cert::ext::pkix::name::GeneralName;

/// A CA: a key and its self-signed certificate (keyCertSign + cRLSign), valid from an hour
/// ago for a year of real time (TLS checks use the real clock).
pub struct TestCa {
    pub key: Signer,
    pub cert: Certificate,
}

fn name(cn: &str) -> x509_cert::name::Name {
    build_name(&[NameAttribute {
        oid: oid::COMMON_NAME,
        value: cn.into(),
    }])
    .unwrap()
}

fn real_validity() -> x509_cert::time::Validity {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    validity(
        now - time::Duration::hours(1),
        now + time::Duration::days(365),
    )
    .unwrap()
}

impl TestCa {
    pub fn new(cn: &str) -> Self {
        let key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let tbs = ToBeSigned::new(CertificateParts {
            serial: random_serial().unwrap(),
            issuer: name(cn),
            subject: name(cn),
            validity: real_validity(),
            subject_public_key: key.public_key().clone(),
            issuer_algorithm: KeyAlgorithm::P256,
            extensions: vec![
                basic_constraints(true, Some(0)).unwrap(),
                key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign).unwrap(),
                subject_key_identifier(key.public_key()).unwrap(),
            ],
        })
        .unwrap();
        let signature = key.sign(tbs.der()).unwrap().to_x509().unwrap();
        let cert = tbs.into_certificate(&signature).unwrap();
        Self { key, cert }
    }

    pub fn pem(&self) -> String {
        certificate_to_pem(&self.cert).unwrap()
    }

    /// A TLS server certificate for 127.0.0.1 and its PKCS#8 key (aws-lc-rs makes the key,
    /// since rustls needs the private half, which a `Signer` never hands out).
    pub fn server_certificate(&self) -> (Vec<u8>, Vec<u8>) {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let public = PublicKey::from_raw(KeyAlgorithm::P256, pair.public_key().as_ref()).unwrap();
        let san = x509_cert::ext::pkix::SubjectAltName(vec![GeneralName::IpAddress(
            der::asn1::OctetString::new(vec![127, 0, 0, 1]).unwrap(),
        )]);
        let tbs = ToBeSigned::new(CertificateParts {
            serial: random_serial().unwrap(),
            issuer: self.cert.tbs_certificate().subject().clone(),
            subject: name("crl upstream"),
            validity: real_validity(),
            subject_public_key: public,
            issuer_algorithm: KeyAlgorithm::P256,
            extensions: vec![
                basic_constraints(false, None).unwrap(),
                key_usage(KeyUsages::DigitalSignature.into()).unwrap(),
                ext_key_usage(&[oid::KP_SERVER_AUTH]).unwrap(),
                Extension {
                    extn_id: oid::SUBJECT_ALT_NAME,
                    critical: false,
                    extn_value: der::asn1::OctetString::new(san.to_der().unwrap()).unwrap(),
                },
            ],
        })
        .unwrap();
        let signature = self.key.sign(tbs.der()).unwrap().to_x509().unwrap();
        let cert = tbs.into_certificate(&signature).unwrap();
        (cert.to_der().unwrap(), pkcs8.as_ref().to_vec())
    }

    /// A signed CRL of this CA, current from `this_update` until `next_update`, listing
    /// `revoked` random serials.
    pub fn crl(
        &self,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        revoked: usize,
    ) -> Vec<u8> {
        let entries = (0..revoked)
            .map(|_| RevokedEntry {
                serial: random_serial().unwrap(),
                revocation_date: this_update - time::Duration::minutes(5),
                reason: None,
            })
            .collect();
        let parts = CrlParts {
            issuer: self.cert.clone(),
            this_update,
            next_update,
            crl_number: 1,
            revoked: entries,
            distribution_point: None,
            scope: CrlScope::All,
        };
        sign_crl(parts, &self.key).unwrap().into_der()
    }
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
    /// Sent in pieces without a Content-Length.
    pub chunked: bool,
}

impl Scripted {
    /// 200 with `body` as `application/pkix-crl`.
    pub fn crl(body: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "application/pkix-crl".into())],
            body,
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: b"upstream says no".to_vec(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }
}

#[derive(Default)]
struct Script {
    answers: Mutex<HashMap<String, Scripted>>,
    hits: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
}

/// The upstream server; stops when dropped.
pub struct Upstream {
    /// `127.0.0.1:port`, as the proxy's allowlist names it.
    pub host: String,
    /// The CA that issued its TLS certificate, as PEM: the proxy's extra trust anchor.
    pub tls_ca_pem: String,
    script: Arc<Script>,
    handle: axum_server::Handle<SocketAddr>,
}

impl Upstream {
    /// Starts serving HTTPS on a free loopback port.
    pub async fn start() -> Self {
        let tls_ca = TestCa::new("Test TLS CA");
        let (cert, key) = tls_ca.server_certificate();
        let config = axum_server::tls_rustls::RustlsConfig::from_der(vec![cert], key)
            .await
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Script::default());
        let app = Router::new().fallback(answer).with_state(script.clone());
        let handle = axum_server::Handle::new();
        let server = axum_server::tls_rustls::from_tcp_rustls(listener, config)
            .unwrap()
            .handle(handle.clone());
        tokio::spawn(async move {
            server.serve(app.into_make_service()).await.unwrap();
        });
        Self {
            host: addr.to_string(),
            tls_ca_pem: tls_ca.pem(),
            script,
            handle,
        }
    }

    /// Answers `path` with `answer` from now on.
    pub fn set(&self, path: &str, answer: Scripted) {
        self.script
            .answers
            .lock()
            .unwrap()
            .insert(path.into(), answer);
    }

    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.script
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests received in all.
    pub fn total_hits(&self) -> usize {
        self.script.total.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

async fn answer(State(script): State<Arc<Script>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    script.total.fetch_add(1, Ordering::SeqCst);
    *script.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let scripted = script.answers.lock().unwrap().get(&path).cloned();
    let Some(scripted) = scripted else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("no such CRL"))
            .unwrap();
    };
    tokio::time::sleep(scripted.delay).await;
    let body = if scripted.chunked {
        let pieces: Vec<Result<Vec<u8>, std::convert::Infallible>> =
            scripted.body.chunks(512).map(|c| Ok(c.to_vec())).collect();
        Body::from_stream(futures_util::stream::iter(pieces))
    } else {
        Body::from(scripted.body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(scripted.status).unwrap();
    for (name, value) in scripted.headers {
        response.headers_mut().append(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}
