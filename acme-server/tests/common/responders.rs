//! What a standard challenge talks to, in-process: a DNS responder (UDP, A records for every
//! name, TXT records, SERVFAIL and NXDOMAIN on demand), an `http-01` web server and a
//! `tls-alpn-01` TLS server, each on a loopback port of its own.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use der::Encode;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::key::PublicKey;
use e2ei_core::oid;
use e2ei_core::x509::{
    CertificateParts, NameAttribute, ToBeSigned, build_name, random_serial, subject_alt_name_dns,
    validity,
};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, TXT};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

#[derive(Default)]
struct Zone {
    txt: HashMap<String, Vec<String>>,
    servfail: HashSet<String>,
    nxdomain: HashSet<String>,
}

/// A DNS responder: every name has `A 127.0.0.1` and no AAAA, unless told otherwise.
pub struct DnsResponder {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    task: JoinHandle<()>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsResponder {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone = Arc::new(Mutex::new(Zone::default()));
        let shared = zone.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let reply = answer(&query, &shared.lock().unwrap());
                if let Ok(bytes) = reply.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        Self { addr, zone, task }
    }

    /// Sets the TXT values of `name` (replacing earlier ones).
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        self.zone
            .lock()
            .unwrap()
            .txt
            .insert(key(name), values.iter().map(|v| (*v).to_owned()).collect());
    }

    /// Answers SERVFAIL for `name`.
    pub fn servfail(&self, name: &str) {
        self.zone.lock().unwrap().servfail.insert(key(name));
    }

    /// Answers NXDOMAIN for `name`.
    pub fn nxdomain(&self, name: &str) {
        self.zone.lock().unwrap().nxdomain.insert(key(name));
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(query: &Message, zone: &Zone) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    for q in query.queries() {
        reply.add_query(q.clone());
        let name = key(&q.name().to_ascii());
        if zone.servfail.contains(&name) {
            reply.set_response_code(ResponseCode::ServFail);
            continue;
        }
        if zone.nxdomain.contains(&name) {
            reply.set_response_code(ResponseCode::NXDomain);
            continue;
        }
        match q.query_type() {
            RecordType::A => {
                reply.add_answer(Record::from_rdata(
                    q.name().clone(),
                    60,
                    RData::A(A(Ipv4Addr::LOCALHOST)),
                ));
            }
            RecordType::TXT => {
                for value in zone.txt.get(&name).into_iter().flatten() {
                    reply.add_answer(Record::from_rdata(
                        q.name().clone(),
                        60,
                        RData::TXT(TXT::new(vec![value.clone()])),
                    ));
                }
            }
            _ => {}
        }
    }
    reply
}

/// What the web server answers for a path.
#[derive(Clone)]
pub enum HttpReply {
    /// A status and a body.
    Body(u16, String),
    /// A 302 to this location.
    Redirect(String),
}

/// A web server answering configured paths (404 for the rest).
pub struct HttpResponder {
    /// Its port.
    pub port: u16,
    replies: Arc<Mutex<HashMap<String, HttpReply>>>,
    task: JoinHandle<()>,
}

impl HttpResponder {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    /// Serves on `listener`.
    pub fn serve(listener: tokio::net::TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let replies: Arc<Mutex<HashMap<String, HttpReply>>> = Arc::default();
        let shared = replies.clone();
        let app = Router::new().fallback(move |uri: Uri| {
            let shared = shared.clone();
            async move {
                let found = shared.lock().unwrap().get(uri.path()).cloned();
                match found {
                    Some(HttpReply::Body(status, body)) => {
                        (StatusCode::from_u16(status).unwrap(), body).into_response()
                    }
                    Some(HttpReply::Redirect(location)) => Response::builder()
                        .status(StatusCode::FOUND)
                        .header(header::LOCATION, location)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            port,
            replies,
            task,
        }
    }

    /// Answers `path` with `reply`.
    pub fn set(&self, path: &str, reply: HttpReply) {
        self.replies.lock().unwrap().insert(path.to_owned(), reply);
    }

    /// Serves `body` as the `http-01` resource of `token`.
    pub fn challenge(&self, token: &str, body: &str) {
        self.set(
            &format!("/.well-known/acme-challenge/{token}"),
            HttpReply::Body(200, body.to_owned()),
        );
    }

    /// Stops listening.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for HttpResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `tls-alpn-01` validation certificate and its key (PKCS#8).
pub struct ValidationCertificate {
    pub der: Vec<u8>,
    pub key_pkcs8: Vec<u8>,
}

/// A self-signed P-256 certificate with `names` as dNSName SANs and, when `acme_identifier`
/// is given, an `id-pe-acmeIdentifier` extension with that value and criticality.
pub fn validation_certificate(
    names: &[&str],
    acme_identifier: Option<(Vec<u8>, bool)>,
) -> ValidationCertificate {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    let public = PublicKey::from_raw(KeyAlgorithm::P256, pair.public_key().as_ref()).unwrap();
    let name = build_name(&[NameAttribute {
        oid: oid::COMMON_NAME,
        value: "acme tls-alpn-01".into(),
    }])
    .unwrap();
    let mut extensions = vec![
        subject_alt_name_dns(
            &names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
            false,
        )
        .unwrap(),
    ];
    if let Some((value, critical)) = acme_identifier {
        extensions.push(x509_cert::ext::Extension {
            extn_id: oid::ACME_IDENTIFIER,
            critical,
            extn_value: der::asn1::OctetString::new(value).unwrap(),
        });
    }
    let now = time::OffsetDateTime::now_utc();
    let tbs = ToBeSigned::new(CertificateParts {
        serial: random_serial().unwrap(),
        issuer: name.clone(),
        subject: name,
        validity: validity(
            now - time::Duration::hours(1),
            now + time::Duration::days(1),
        )
        .unwrap(),
        subject_public_key: public,
        issuer_algorithm: KeyAlgorithm::P256,
        extensions,
    })
    .unwrap();
    let signature = pair.sign(&rng, tbs.der()).unwrap();
    let cert = tbs.into_certificate(signature.as_ref()).unwrap();
    ValidationCertificate {
        der: cert.to_der().unwrap(),
        key_pkcs8: pkcs8.as_ref().to_vec(),
    }
}

#[derive(Debug)]
struct OneCertificate(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneCertificate {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A TLS server presenting one certificate and negotiating `alpn` (empty: ignores ALPN).
pub struct TlsAlpnResponder {
    task: JoinHandle<()>,
}

impl TlsAlpnResponder {
    /// Serves on `listener` (bound beforehand, so the port was known in advance).
    pub fn serve(
        listener: std::net::TcpListener,
        cert: &ValidationCertificate,
        alpn: &[&[u8]],
    ) -> Self {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // Not `with_single_cert`: it checks the certificate with webpki, which refuses the
        // critical id-pe-acmeIdentifier extension that this certificate exists to carry.
        let key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                cert.key_pkcs8.clone(),
            )))
            .unwrap();
        let certified = Arc::new(rustls::sign::CertifiedKey::new(
            vec![CertificateDer::from(cert.der.clone())],
            key,
        ));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(OneCertificate(certified)));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // The handshake is the whole exchange.
                    let _ = acceptor.accept(tcp).await;
                });
            }
        });
        Self { task }
    }
}

impl Drop for TlsAlpnResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
