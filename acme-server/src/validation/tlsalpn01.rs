//! `tls-alpn-01` (RFC 8737): a TLS handshake with `{name}:{tlsalpn01_port}`, SNI = name, ALPN
//! offering only `acme-tls/1`; the server must negotiate `acme-tls/1` and present a certificate
//! whose subjectAltName is exactly one dNSName equal to the name and which carries a critical
//! `id-pe-acmeIdentifier` extension holding the OCTET STRING SHA-256(key authorization).
//!
//! The certificate is self-signed by design, so no chain is built; the handshake signature is
//! still verified with the certificate's key (through rustls' aws-lc-rs provider), so the
//! responder must hold that key. TLS 1.2 and 1.3 are accepted (RFC 8737 §4).

use std::net::SocketAddr;
use std::sync::Arc;

use der::{Decode, Encode};
use e2ei_acme::challenge::{ACME_TLS_ALPN, tls_alpn01_extension_value};
use e2ei_acme::{Problem, ProblemType};
use e2ei_core::oid;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::{Validator, describe};

/// Accepts any certificate (RFC 8737 validation certificates are self-signed) but verifies
/// the handshake signatures with its public key. The key is read from the certificate here
/// rather than through webpki, which refuses certificates with unknown critical extensions —
/// and `id-pe-acmeIdentifier` is exactly that.
#[derive(Debug)]
struct ValidationCertificate(Arc<CryptoProvider>);

impl ValidationCertificate {
    fn verify(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let unadvertised = || {
            rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            )
        };
        // RFC 8446 §4.2.3: no PKCS#1 v1.5 or SHA-1 schemes in TLS 1.3 CertificateVerify.
        let tls13_scheme = matches!(
            dss.scheme,
            SignatureScheme::ECDSA_NISTP256_SHA256
                | SignatureScheme::ECDSA_NISTP384_SHA384
                | SignatureScheme::ECDSA_NISTP521_SHA512
                | SignatureScheme::RSA_PSS_SHA256
                | SignatureScheme::RSA_PSS_SHA384
                | SignatureScheme::RSA_PSS_SHA512
                | SignatureScheme::ED25519
                | SignatureScheme::ED448
        );
        if tls13 && !tls13_scheme {
            return Err(unadvertised());
        }
        let bad = |e: String| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(std::io::Error::other(e)),
            )))
        };
        let parsed = Certificate::from_der(cert.as_ref()).map_err(|e| bad(e.to_string()))?;
        let spki = parsed.tbs_certificate().subject_public_key_info();
        // webpki compares the AlgorithmIdentifier's contents (without the SEQUENCE header).
        let mut algorithm_id = spki
            .algorithm
            .oid
            .to_der()
            .map_err(|e| bad(e.to_string()))?;
        if let Some(parameters) = &spki.algorithm.parameters {
            algorithm_id.extend(parameters.to_der().map_err(|e| bad(e.to_string()))?);
        }
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| bad("public key BIT STRING has unused bits".into()))?;
        let candidates = self
            .0
            .signature_verification_algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algs)| *algs)
            .ok_or_else(unadvertised)?;
        let alg = candidates
            .iter()
            .find(|alg| alg.public_key_alg_id().as_ref() == algorithm_id.as_slice())
            .ok_or_else(|| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
            })?;
        alg.verify_signature(key, message, dss.signature())
            .map(|()| HandshakeSignatureValid::assertion())
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature))
    }
}

impl ServerCertVerifier for ValidationCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client configuration of `tls-alpn-01`, built once per validator.
pub(super) fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls-alpn-01 client: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ValidationCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    // Each validation is a fresh handshake that must show the current certificate.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

pub(super) async fn validate(
    validator: &Validator,
    name: &str,
    key_authorization: &str,
) -> Result<(), Problem> {
    let addresses = validator.addresses(name).await?;
    let server_name = ServerName::try_from(name.to_owned()).map_err(|e| {
        Problem::new(
            ProblemType::Malformed,
            format!("{name} cannot be sent as SNI: {e}"),
        )
    })?;
    let mut failures = Vec::new();
    let mut stream = None;
    for ip in addresses {
        let address = SocketAddr::new(ip, validator.tlsalpn01_port);
        match TcpStream::connect(address).await {
            Ok(s) => {
                stream = Some((address, s));
                break;
            }
            Err(e) => failures.push(format!("{address}: {e}")),
        }
    }
    let Some((address, tcp)) = stream else {
        return Err(Problem::new(
            ProblemType::Connection,
            format!(
                "cannot connect to {name} for tls-alpn-01: {}",
                failures.join("; ")
            ),
        ));
    };
    let tls = TlsConnector::from(validator.tls.clone())
        .connect(server_name, tcp)
        .await
        .map_err(|e| {
            Problem::new(
                ProblemType::Tls,
                format!(
                    "TLS handshake with {name} at {address} failed: {}",
                    describe(&e)
                ),
            )
        })?;
    let (_, connection) = tls.get_ref();
    if connection.alpn_protocol() != Some(ACME_TLS_ALPN) {
        return Err(Problem::new(
            ProblemType::Tls,
            format!("{name} at {address} did not negotiate the acme-tls/1 protocol"),
        ));
    }
    let certificate = connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or_else(|| {
            Problem::new(
                ProblemType::Tls,
                format!("{name} at {address} presented no certificate"),
            )
        })?;
    check_certificate(certificate.as_ref(), name, key_authorization).map_err(|detail| {
        Problem::new(
            ProblemType::IncorrectResponse,
            format!("the tls-alpn-01 certificate of {name} at {address} {detail}"),
        )
    })
}

/// RFC 8737 §3 checks on the validation certificate; the error completes "the certificate …".
fn check_certificate(der: &[u8], name: &str, key_authorization: &str) -> Result<(), String> {
    let cert = Certificate::from_der(der).map_err(|e| format!("cannot be parsed: {e}"))?;
    let extensions = cert
        .tbs_certificate()
        .extensions()
        .map(|e| e.as_slice())
        .unwrap_or_default();
    let sans: Vec<_> = extensions
        .iter()
        .filter(|e| e.extn_id == oid::SUBJECT_ALT_NAME)
        .collect();
    let [san] = sans.as_slice() else {
        return Err(format!(
            "must carry one subjectAltName extension, found {}",
            sans.len()
        ));
    };
    let names = SubjectAltName::from_der(san.extn_value.as_bytes())
        .map_err(|e| format!("has a malformed subjectAltName: {e}"))?;
    match names.0.as_slice() {
        [GeneralName::DnsName(dns)] if dns.as_str().eq_ignore_ascii_case(name) => {}
        other => {
            return Err(format!(
                "must name exactly DNS:{name} in its subjectAltName, found {other:?}"
            ));
        }
    }
    let ids: Vec<_> = extensions
        .iter()
        .filter(|e| e.extn_id == oid::ACME_IDENTIFIER)
        .collect();
    let [id] = ids.as_slice() else {
        return Err(format!(
            "must carry one id-pe-acmeIdentifier extension, found {}",
            ids.len()
        ));
    };
    if !id.critical {
        return Err(
            "has a non-critical id-pe-acmeIdentifier extension; it must be critical".into(),
        );
    }
    if id.extn_value.as_bytes() != tls_alpn01_extension_value(key_authorization) {
        return Err(
            "has an id-pe-acmeIdentifier value that is not SHA-256 of the key authorization".into(),
        );
    }
    Ok(())
}
