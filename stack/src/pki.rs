//! The stack's certificates, made once on first run and reused afterwards:
//!
//! - the authority PKI: a P-384 root and a P-256 intermediate whose name constraints permit URIs
//!   and DNS names under the dev domain (protocol doc §2.5), built with e2ei-core's functions and
//!   checked against its root / intermediate profiles exactly as `e2ei-ca root` and
//!   `e2ei-ca intermediate` do (the ceremonies live in the `e2ei-ca` binary, which has no
//!   library to call);
//! - a private TLS CA and one server certificate for `localhost` and `127.0.0.1`, used by every
//!   HTTPS listener of the stack.
//!
//! Keys are `file:` keys made through e2ei-signer (PKCS#8 PEM, mode 0600).

use std::path::{Path, PathBuf};

use der::Encode;
use der::asn1::{Ia5String, OctetString};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::key::PublicKey;
use e2ei_core::oid;
use e2ei_core::profile::{self, IssuerRef, Profile};
use e2ei_core::x509::{
    CertificateParts, CrlParts, CrlScope, NameAttribute, ToBeSigned, authority_key_identifier,
    basic_constraints, build_name, certificate_to_pem, certificates_from_pem_or_der,
    crl_distribution_points, ext_key_usage, key_usage, name_constraints, random_serial,
    subject_key_identifier, validity,
};
use e2ei_signer::{GenerateOptions, KeyUri, Signer};
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{KeyUsages, SubjectAltName};
use x509_cert::name::Name;

/// Where the PKI files live inside the data directory.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    /// Authority root (PEM), served at `/roots.pem`.
    pub root: PathBuf,
    /// Issuing intermediate (PEM).
    pub intermediate: PathBuf,
    /// Its key (`file:` URI target).
    pub intermediate_key: PathBuf,
    /// The TLS CA (PEM) every client of the stack trusts.
    pub tls_ca: PathBuf,
    /// The listeners' certificate (PEM, leaf then CA).
    pub tls_certificate: PathBuf,
    /// The listeners' key.
    pub tls_key: PathBuf,
}

impl PkiFiles {
    /// The files under `dir`.
    pub fn under(dir: &Path) -> Self {
        Self {
            root: dir.join("pki/root.pem"),
            intermediate: dir.join("pki/intermediate.pem"),
            intermediate_key: dir.join("pki/intermediate.key"),
            tls_ca: dir.join("tls/ca.pem"),
            tls_certificate: dir.join("tls/server.pem"),
            tls_key: dir.join("tls/server.key"),
        }
    }
}

fn err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn generate_key(path: &Path, alg: KeyAlgorithm) -> Result<Signer, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let uri: KeyUri = format!("file:{}", path.display())
        .parse()
        .map_err(|e| err("key URI")(&e))?;
    Signer::generate(&uri, alg, &GenerateOptions::default()).map_err(|e| err("key")(&e))
}

fn name(organization: &str, common_name: &str) -> Result<Name, String> {
    build_name(&[
        NameAttribute {
            oid: oid::ORGANIZATION,
            value: organization.into(),
        },
        NameAttribute {
            oid: oid::COMMON_NAME,
            value: common_name.into(),
        },
    ])
    .map_err(|e| err("name")(&e))
}

fn sign(tbs: ToBeSigned, key: &Signer) -> Result<Certificate, String> {
    let signature = key
        .sign(tbs.der())
        .and_then(|s| s.to_x509())
        .map_err(|e| err("signing")(&e))?;
    tbs.into_certificate(&signature)
        .map_err(|e| err("certificate")(&e))
}

fn write_pem(path: &Path, certs: &[&Certificate]) -> Result<(), String> {
    let mut pem = String::new();
    for cert in certs {
        pem.push_str(&certificate_to_pem(cert).map_err(|e| err("PEM")(&e))?);
    }
    std::fs::write(path, pem).map_err(|e| format!("{}: {e}", path.display()))
}

/// A self-signed CA certificate. The authority's root (path length 1) is checked against the
/// root profile as `e2ei-ca root` does; the TLS CA (path length 0) is outside e2ei's profiles.
fn root_certificate(
    key: &Signer,
    subject: Name,
    years: i64,
    path_len: u8,
) -> Result<Certificate, String> {
    let now = OffsetDateTime::now_utc();
    let public = key.public_key().clone();
    let tbs = ToBeSigned::new(CertificateParts {
        serial: random_serial().map_err(|e| err("serial")(&e))?,
        issuer: subject.clone(),
        subject,
        validity: validity(now - Duration::hours(1), now + Duration::days(365 * years))
            .map_err(|e| err("validity")(&e))?,
        issuer_algorithm: public.algorithm(),
        extensions: vec![
            basic_constraints(true, Some(path_len)).map_err(|e| err("extension")(&e))?,
            key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)
                .map_err(|e| err("extension")(&e))?,
            subject_key_identifier(&public).map_err(|e| err("extension")(&e))?,
            authority_key_identifier(&public.key_identifier()).map_err(|e| err("extension")(&e))?,
        ],
        subject_public_key: public,
    })
    .map_err(|e| err("root")(&e))?;
    if path_len == 1 {
        profile::check(Profile::Root, tbs.parsed(), IssuerRef::SelfSigned, None)
            .map_err(|e| err("root profile")(&e))?;
    }
    sign(tbs, key)
}

/// Creates what is missing of the PKI under `dir` for `domain`, the intermediate's CRL
/// distribution point being `root_crl_url`; returns the file names. A present root is never
/// replaced: restarts keep every issued chain valid.
pub fn ensure(dir: &Path, domain: &str, root_crl_url: &str) -> Result<PkiFiles, String> {
    let files = PkiFiles::under(dir);
    if !files.root.exists() {
        create_authority_pki(&files, domain, root_crl_url)?;
    }
    if !files.tls_ca.exists() || !files.tls_certificate.exists() {
        create_tls(&files)?;
    }
    Ok(files)
}

fn create_authority_pki(files: &PkiFiles, domain: &str, root_crl_url: &str) -> Result<(), String> {
    // The root key stays next to the root: this is a development PKI whose root key a real
    // deployment would keep offline (see examples/pki for the ceremonies).
    let root_key_path = files.root.with_extension("key");
    let root_key = generate_key(&root_key_path, KeyAlgorithm::P384)?;
    let root = root_certificate(&root_key, name(domain, "e2ei dev Root CA")?, 10, 1)?;
    let intermediate_key = generate_key(&files.intermediate_key, KeyAlgorithm::P256)?;
    let now = OffsetDateTime::now_utc();
    let tbs = ToBeSigned::new(CertificateParts {
        serial: random_serial().map_err(|e| err("serial")(&e))?,
        issuer: root.tbs_certificate().subject().clone(),
        subject: name(domain, "e2ei dev Intermediate CA")?,
        validity: validity(now - Duration::hours(1), now + Duration::days(5 * 365))
            .map_err(|e| err("validity")(&e))?,
        issuer_algorithm: KeyAlgorithm::P384,
        extensions: vec![
            basic_constraints(true, Some(0)).map_err(|e| err("extension")(&e))?,
            key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)
                .map_err(|e| err("extension")(&e))?,
            subject_key_identifier(intermediate_key.public_key())
                .map_err(|e| err("extension")(&e))?,
            authority_key_identifier(&root_key.public_key().key_identifier())
                .map_err(|e| err("extension")(&e))?,
            // Wire identities (URIs) and TLS names (DNS) under the dev domain only (§2.5).
            name_constraints(&[domain.into()], &[domain.into()])
                .map_err(|e| err("extension")(&e))?,
            // The intermediate profile wants its revocation published: the stack serves the
            // root's CRL there (see `root_crl`).
            crl_distribution_points(&[root_crl_url.to_owned()])
                .map_err(|e| err("extension")(&e))?,
        ],
        subject_public_key: intermediate_key.public_key().clone(),
    })
    .map_err(|e| err("intermediate")(&e))?;
    profile::check(
        Profile::Intermediate,
        tbs.parsed(),
        IssuerRef::Certificate(&root),
        None,
    )
    .map_err(|e| err("intermediate profile")(&e))?;
    let intermediate = sign(tbs, &root_key)?;
    write_pem(&files.intermediate, &[&intermediate])?;
    // The root last: its presence marks a complete PKI.
    write_pem(&files.root, &[&root])
}

/// The root's CRL (DER), freshly signed with the root key: empty, valid for a year, as
/// `e2ei-ca crl` builds it (root CRLs cover CA certificates only).
pub fn root_crl(files: &PkiFiles, distribution_point: &str) -> Result<Vec<u8>, String> {
    let uri: KeyUri = format!("file:{}", files.root.with_extension("key").display())
        .parse()
        .map_err(|e| err("key URI")(&e))?;
    let key = Signer::open(&uri).map_err(|e| err("root key")(&e))?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .map_err(|e| err("time")(&e))?;
    let parts = CrlParts {
        issuer: read_certificate(&files.root)?,
        this_update: now,
        next_update: now + Duration::days(365),
        // Increases from one start to the next, as a CRL number must.
        crl_number: u64::try_from(now.unix_timestamp()).unwrap_or(1),
        revoked: Vec::new(),
        distribution_point: Some(distribution_point.to_owned()),
        scope: CrlScope::CaCertificates,
    };
    let crl = e2ei_crl::PreparedCrl::new(parts)
        .and_then(|p| p.sign(&key))
        .map_err(|e| err("root CRL")(&e))?;
    Ok(crl.into_der())
}

/// subjectAltName with `localhost` and `127.0.0.1`: clients reach the stack by either.
fn loopback_alt_names() -> Result<Extension, String> {
    let san = SubjectAltName(vec![
        GeneralName::DnsName(Ia5String::new("localhost").map_err(|e| err("SAN")(&e))?),
        GeneralName::IpAddress(OctetString::new([127u8, 0, 0, 1]).map_err(|e| err("SAN")(&e))?),
    ]);
    Ok(Extension {
        extn_id: oid::SUBJECT_ALT_NAME,
        critical: false,
        extn_value: OctetString::new(san.to_der().map_err(|e| err("SAN")(&e))?)
            .map_err(|e| err("SAN")(&e))?,
    })
}

fn create_tls(files: &PkiFiles) -> Result<(), String> {
    let ca_key_path = files.tls_ca.with_extension("key");
    let ca_key = if ca_key_path.exists() {
        let uri: KeyUri = format!("file:{}", ca_key_path.display())
            .parse()
            .map_err(|e| err("key URI")(&e))?;
        Signer::open(&uri).map_err(|e| err("TLS CA key")(&e))?
    } else {
        generate_key(&ca_key_path, KeyAlgorithm::P256)?
    };
    let ca = if files.tls_ca.exists() {
        read_certificate(&files.tls_ca)?
    } else {
        let ca = root_certificate(&ca_key, name("e2ei dev stack", "e2ei dev TLS CA")?, 10, 0)?;
        write_pem(&files.tls_ca, &[&ca])?;
        ca
    };
    let _ = std::fs::remove_file(&files.tls_key);
    let server_key = generate_key(&files.tls_key, KeyAlgorithm::P256)?;
    let now = OffsetDateTime::now_utc();
    let tbs = ToBeSigned::new(CertificateParts {
        serial: random_serial().map_err(|e| err("serial")(&e))?,
        issuer: ca.tbs_certificate().subject().clone(),
        subject: name("e2ei dev stack", "localhost")?,
        validity: validity(now - Duration::hours(1), now + Duration::days(365))
            .map_err(|e| err("validity")(&e))?,
        issuer_algorithm: KeyAlgorithm::P256,
        extensions: vec![
            basic_constraints(false, None).map_err(|e| err("extension")(&e))?,
            key_usage(KeyUsages::DigitalSignature.into()).map_err(|e| err("extension")(&e))?,
            ext_key_usage(&[oid::KP_SERVER_AUTH]).map_err(|e| err("extension")(&e))?,
            subject_key_identifier(server_key.public_key()).map_err(|e| err("extension")(&e))?,
            authority_key_identifier(&ca_key.public_key().key_identifier())
                .map_err(|e| err("extension")(&e))?,
            loopback_alt_names()?,
        ],
        subject_public_key: server_key.public_key().clone(),
    })
    .map_err(|e| err("TLS certificate")(&e))?;
    let server = sign(tbs, &ca_key)?;
    write_pem(&files.tls_certificate, &[&server, &ca])
}

/// The first certificate of a PEM or DER file.
pub fn read_certificate(path: &Path) -> Result<Certificate, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    certificates_from_pem_or_der(&bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: no certificate", path.display()))
}

/// Writes the PEM public key of `key` to `path` (the authority reads the backend's DPoP keys
/// this way).
pub fn write_public_key(path: &Path, key: &PublicKey) -> Result<(), String> {
    std::fs::write(path, key.to_pem()).map_err(|e| format!("{}: {e}", path.display()))
}
