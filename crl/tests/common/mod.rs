//! A small test PKI built with e2ei-core and e2ei-signer (root → intermediate → Wire leaves,
//! each checked against its profile), CRL helpers, and the external tools the tests run.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use der::Encode;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::oid;
use e2ei_core::profile::{IssuerRef, Profile, WireLeafExpectations, check, wire_leaf_parts};
use e2ei_core::x509::{
    CertificateParts, CrlParts, CrlScope, CrlToBeSigned, NameAttribute, RevokedEntry, ToBeSigned,
    authority_key_identifier, basic_constraints, build_name, crl_distribution_points, key_usage,
    random_serial, subject_key_id, subject_key_identifier, validity,
};
use e2ei_signer::Signer;
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::crl::{CertificateList, TbsCertList};
use x509_cert::ext::pkix::KeyUsages;

pub const CRL_URL: &str = "https://acme.wire.example.com/crl";
pub const ROOT_CRL_URL: &str = "https://acme.wire.example.com/root.crl";

/// Now, in whole seconds (X.509 times have no fractions).
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn name(cn: &str) -> x509_cert::name::Name {
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

fn sign_certificate(tbs: ToBeSigned, key: &Signer) -> Certificate {
    let signature = key.sign(tbs.der()).unwrap().to_x509().unwrap();
    tbs.into_certificate(&signature).unwrap()
}

/// Root → intermediate, valid from an hour ago for a year.
pub struct TestPki {
    pub root_key: Signer,
    pub root: Certificate,
    pub intermediate_key: Signer,
    pub intermediate: Certificate,
}

impl TestPki {
    pub fn new(alg: KeyAlgorithm) -> Self {
        let root_key = Signer::ephemeral(alg).unwrap();
        let root_tbs = ToBeSigned::new(CertificateParts {
            serial: random_serial().unwrap(),
            issuer: name("Wire Root CA"),
            subject: name("Wire Root CA"),
            validity: validity(now() - Duration::hours(1), now() + Duration::days(3650)).unwrap(),
            subject_public_key: root_key.public_key().clone(),
            issuer_algorithm: alg,
            extensions: vec![
                basic_constraints(true, Some(1)).unwrap(),
                key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign).unwrap(),
                subject_key_identifier(root_key.public_key()).unwrap(),
            ],
        })
        .unwrap();
        check(
            Profile::Root,
            root_tbs.parsed(),
            IssuerRef::SelfSigned,
            None,
        )
        .unwrap();
        let root = sign_certificate(root_tbs, &root_key);
        let intermediate_key = Signer::ephemeral(alg).unwrap();
        let intermediate = Self::intermediate(
            &root,
            &root_key,
            &intermediate_key,
            KeyUsages::KeyCertSign | KeyUsages::CRLSign,
        );
        Self {
            root_key,
            root,
            intermediate_key,
            intermediate,
        }
    }

    /// An intermediate for `key` under `root` with the given keyUsage (the profile wants
    /// keyCertSign + cRLSign; other usages make an intermediate that may not sign CRLs).
    ///
    /// Without the profile's nameConstraints: OpenSSL 3.0 takes everything between `://` and
    /// the next `:` or `/` of a URI as its host, user part included, so it refuses a Wire
    /// leaf's `wireapp://…@wire.example.com` under a URI constraint (error 47) — a path
    /// validation matter these CRL tests stay clear of.
    pub fn intermediate(
        root: &Certificate,
        root_key: &Signer,
        key: &Signer,
        usages: der::flagset::FlagSet<KeyUsages>,
    ) -> Certificate {
        let tbs = ToBeSigned::new(CertificateParts {
            serial: random_serial().unwrap(),
            issuer: root.tbs_certificate().subject().clone(),
            subject: name("Wire Intermediate CA"),
            validity: validity(now() - Duration::hours(1), now() + Duration::days(365)).unwrap(),
            subject_public_key: key.public_key().clone(),
            issuer_algorithm: root_key.algorithm(),
            extensions: vec![
                basic_constraints(true, Some(0)).unwrap(),
                key_usage(usages).unwrap(),
                subject_key_identifier(key.public_key()).unwrap(),
                authority_key_identifier(&subject_key_id(root.tbs_certificate()).unwrap()).unwrap(),
                crl_distribution_points(&[ROOT_CRL_URL.into()]).unwrap(),
            ],
        })
        .unwrap();
        sign_certificate(tbs, root_key)
    }

    /// A Wire leaf (§7.3) issued by the intermediate, naming `crl_url` as its distribution
    /// point.
    pub fn leaf(&self, crl_url: &str) -> Certificate {
        let client = "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.example.com"
            .parse()
            .unwrap();
        let handle = "wireapp://%40alice_wire@wire.example.com".parse().unwrap();
        let display = e2ei_core::id::DisplayName::new("Alice Smith").unwrap();
        let identity = WireLeafExpectations::new(&client, &handle, &display);
        let key = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
        let parts = wire_leaf_parts(
            &identity,
            key.public_key().clone(),
            &self.intermediate,
            validity(now() - Duration::hours(1), now() + Duration::days(90)).unwrap(),
            Some(crl_url),
        )
        .unwrap();
        let tbs = ToBeSigned::new(parts).unwrap();
        check(
            Profile::WireLeaf,
            tbs.parsed(),
            IssuerRef::Certificate(&self.intermediate),
            Some(&identity),
        )
        .unwrap();
        sign_certificate(tbs, &self.intermediate_key)
    }

    /// The parts of a leaf CRL of the intermediate, current now.
    pub fn crl_parts(&self, revoked: Vec<RevokedEntry>) -> CrlParts {
        CrlParts {
            issuer: self.intermediate.clone(),
            this_update: now() - Duration::minutes(1),
            next_update: now() + Duration::days(1),
            crl_number: 7,
            revoked,
            distribution_point: Some(CRL_URL.into()),
            scope: CrlScope::UserCertificates,
        }
    }
}

/// No reason and every reason code a CRL entry may carry (removeFromCRL belongs to delta CRLs).
pub const REASONS: [Option<e2ei_crl::CrlReason>; 10] = {
    use e2ei_crl::CrlReason::*;
    [
        None,
        Some(Unspecified),
        Some(KeyCompromise),
        Some(CaCompromise),
        Some(AffiliationChanged),
        Some(Superseded),
        Some(CessationOfOperation),
        Some(CertificateHold),
        Some(PrivilegeWithdrawn),
        Some(AaCompromise),
    ]
};

/// An entry revoking `cert` an hour ago.
pub fn revoke(cert: &Certificate, reason: Option<e2ei_crl::CrlReason>) -> RevokedEntry {
    RevokedEntry {
        serial: cert.tbs_certificate().serial_number().clone(),
        revocation_date: now() - Duration::hours(1),
        reason,
    }
}

/// `n` entries with random 16-octet serials, revoked an hour ago, reasons cycling.
pub fn random_entries(n: usize) -> Vec<RevokedEntry> {
    use e2ei_crl::CrlReason::*;
    let reasons = [
        None,
        Some(KeyCompromise),
        Some(Superseded),
        Some(CessationOfOperation),
    ];
    let date = now() - Duration::hours(1);
    (0..n)
        .map(|i| RevokedEntry {
            serial: random_serial().unwrap(),
            revocation_date: date,
            reason: reasons[i % reasons.len()],
        })
        .collect()
}

/// Signs a to-be-signed list as it is, with no profile check: CRLs the builder refuses to make.
pub fn sign_tbs(tbs: TbsCertList, key: &Signer) -> Vec<u8> {
    let signature = key.sign(&tbs.to_der().unwrap()).unwrap().to_x509().unwrap();
    CertificateList {
        signature_algorithm: tbs.signature.clone(),
        tbs_cert_list: tbs,
        signature: der::asn1::BitString::from_bytes(&signature).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// The assembled (unchecked) to-be-signed list of `parts`.
pub fn tbs_of(parts: CrlParts) -> TbsCertList {
    CrlToBeSigned::new(parts).unwrap().parsed().clone()
}

/// Finds an external tool on PATH or in the pkilint venv. Under CI a missing tool fails the
/// test; locally the test is skipped with a loud message (returns `None`).
pub fn tool(name: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("E2EI_CHECKS_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/e2ei-checks-venv"))
        });
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(venv.map(|v| v.join("bin")))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is required under CI but is not installed (run scripts/test.sh)"
        );
        eprintln!("SKIPPED: {name} is not installed; run scripts/test.sh to install the checks");
    }
    found
}

/// Runs a tool, returning its output.
pub fn run(tool: &Path, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", tool.display()))
}

/// stdout and stderr together.
pub fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
