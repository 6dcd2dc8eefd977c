//! Path validation tests over tiny PKIs built here: aws-lc-rs keys, x509-cert types assembled by
//! hand, signed, re-parsed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RsaEncoding, RsaKeyPair,
};
use der::asn1::{Any, BitString, GeneralizedTime, Ia5String, Int, OctetString, UtcTime};
use der::{DateTime, Decode, Encode, Sequence};
use spki::SubjectPublicKeyInfoOwned;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use x509_cert::crl::{RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use super::*;
use crate::ciphersuite::KeyAlgorithm;
use crate::key::PublicKey;
use crate::oid;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);
const UNKNOWN_EXTENSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55738.666.1");
const HANDLE_URI: &str = "wireapp://%40alice_wire@wire.example.com";
const CLIENT_URI: &str = "wireapp://yRbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.example.com";

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

enum TestKey {
    Ed25519(Ed25519KeyPair),
    Ecdsa(EcdsaKeyPair, KeyAlgorithm),
    /// An RSA key and the scheme it signs with.
    Rsa(RsaKeyPair, RsaScheme),
}

/// RSA signature schemes of the tests: PKCS#1 v1.5 and RSASSA-PSS (salt = hash length).
#[derive(Clone, Copy, Debug)]
enum RsaScheme {
    Pkcs1Sha256,
    Pkcs1Sha384,
    Pkcs1Sha512,
    PssSha256,
    PssSha384,
    PssSha512,
}

impl RsaScheme {
    const ALL: [Self; 6] = [
        Self::Pkcs1Sha256,
        Self::Pkcs1Sha384,
        Self::Pkcs1Sha512,
        Self::PssSha256,
        Self::PssSha384,
        Self::PssSha512,
    ];

    fn encoding(self) -> &'static dyn RsaEncoding {
        use aws_lc_rs::signature as s;
        match self {
            Self::Pkcs1Sha256 => &s::RSA_PKCS1_SHA256,
            Self::Pkcs1Sha384 => &s::RSA_PKCS1_SHA384,
            Self::Pkcs1Sha512 => &s::RSA_PKCS1_SHA512,
            Self::PssSha256 => &s::RSA_PSS_SHA256,
            Self::PssSha384 => &s::RSA_PSS_SHA384,
            Self::PssSha512 => &s::RSA_PSS_SHA512,
        }
    }

    fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        let pkcs1 = |oid| AlgorithmIdentifierOwned {
            oid,
            parameters: Some(Any::null()),
        };
        match self {
            Self::Pkcs1Sha256 => pkcs1(oid::SHA256_WITH_RSA_ENCRYPTION),
            Self::Pkcs1Sha384 => pkcs1(oid::SHA384_WITH_RSA_ENCRYPTION),
            Self::Pkcs1Sha512 => pkcs1(oid::SHA512_WITH_RSA_ENCRYPTION),
            Self::PssSha256 => pss_algorithm(oid::SHA256, oid::SHA256, 32),
            Self::PssSha384 => pss_algorithm(oid::SHA384, oid::SHA384, 48),
            Self::PssSha512 => pss_algorithm(oid::SHA512, oid::SHA512, 64),
        }
    }
}

/// id-RSASSA-PSS with explicit hash, MGF1 hash and salt length (RFC 4055 §3.1).
fn pss_algorithm(
    hash: ObjectIdentifier,
    mgf1_hash: ObjectIdentifier,
    salt: u32,
) -> AlgorithmIdentifierOwned {
    #[derive(Sequence)]
    struct Params {
        #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
        hash: AlgorithmIdentifierOwned,
        #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
        mask_gen: AlgorithmIdentifierOwned,
        #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
        salt_length: u32,
    }
    let hash_id = |oid| AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Any::null()),
    };
    let params = Params {
        hash: hash_id(hash),
        mask_gen: AlgorithmIdentifierOwned {
            oid: oid::MGF1,
            parameters: Some(Any::encode_from(&hash_id(mgf1_hash)).unwrap()),
        },
        salt_length: salt,
    };
    AlgorithmIdentifierOwned {
        oid: oid::RSASSA_PSS,
        parameters: Some(Any::encode_from(&params).unwrap()),
    }
}

impl TestKey {
    fn p256() -> Self {
        Self::Ecdsa(
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap(),
            KeyAlgorithm::P256,
        )
    }

    fn p384() -> Self {
        Self::Ecdsa(
            EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).unwrap(),
            KeyAlgorithm::P384,
        )
    }

    fn ed25519() -> Self {
        Self::Ed25519(Ed25519KeyPair::generate().unwrap())
    }

    fn rsa(scheme: RsaScheme) -> Self {
        Self::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap(), scheme)
    }

    fn rsa_pkcs1() -> Self {
        Self::rsa(RsaScheme::Pkcs1Sha256)
    }

    fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Ed25519(_) => KeyAlgorithm::Ed25519,
            Self::Ecdsa(_, alg) => *alg,
            Self::Rsa(..) => panic!("RSA is not a Wire key algorithm"),
        }
    }

    /// The `signatureAlgorithm` of what this key signs.
    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match self {
            Self::Rsa(_, scheme) => scheme.algorithm_identifier(),
            _ => self.algorithm().signature_algorithm_identifier(),
        }
    }

    fn public(&self) -> PublicKey {
        let raw = match self {
            Self::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
            Self::Ecdsa(pair, _) => pair.public_key().as_ref().to_vec(),
            Self::Rsa(..) => panic!("RSA is not a Wire key algorithm"),
        };
        PublicKey::from_raw(self.algorithm(), &raw).unwrap()
    }

    fn spki(&self) -> SubjectPublicKeyInfoOwned {
        match self {
            Self::Rsa(pair, _) => SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: oid::RSA_ENCRYPTION,
                    parameters: Some(Any::null()),
                },
                subject_public_key: BitString::from_bytes(pair.public_key().as_ref()).unwrap(),
            },
            _ => self.public().spki().clone(),
        }
    }

    fn key_id(&self) -> Vec<u8> {
        match self {
            Self::Rsa(pair, _) => {
                let mut id =
                    crate::ciphersuite::HashAlgorithm::Sha256.digest(pair.public_key().as_ref());
                id.truncate(20);
                id
            }
            _ => self.public().key_identifier(),
        }
    }

    /// Signature in X.509 encoding.
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
            Self::Ecdsa(pair, _) => pair
                .sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec(),
            Self::Rsa(pair, scheme) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    scheme.encoding(),
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .unwrap();
                signature
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Sequence)]
struct TbsOut {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<Version>,
    /// Two's complement, so that negative serials can be written.
    serial_number: Int,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

#[derive(Sequence)]
struct CertOut {
    tbs: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

fn name(dn: &str) -> Name {
    Name::from_str(dn).unwrap()
}

fn x509_time(t: OffsetDateTime) -> Time {
    let dt = DateTime::from_unix_duration(std::time::Duration::from_secs(
        u64::try_from(t.unix_timestamp()).unwrap(),
    ))
    .unwrap();
    if dt.year() < 2050 {
        Time::UtcTime(UtcTime::from_date_time(dt).unwrap())
    } else {
        Time::GeneralTime(GeneralizedTime::from_date_time(dt))
    }
}

fn ext<T: Encode>(oid: ObjectIdentifier, critical: bool, value: &T) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().unwrap()).unwrap(),
    }
}

fn basic_constraints(ca: bool, path_len: Option<u8>) -> Extension {
    ext(
        ID_CE_BASIC_CONSTRAINTS,
        true,
        &BasicConstraints {
            ca,
            path_len_constraint: path_len,
        },
    )
}

fn key_usage(usages: impl Into<der::flagset::FlagSet<KeyUsages>>) -> Extension {
    ext(ID_CE_KEY_USAGE, true, &KeyUsage(usages.into()))
}

fn eku(purposes: &[ObjectIdentifier]) -> Extension {
    ext(
        ID_CE_EXT_KEY_USAGE,
        false,
        &ExtendedKeyUsage(purposes.to_vec()),
    )
}

fn uri(s: &str) -> GeneralName {
    GeneralName::UniformResourceIdentifier(Ia5String::new(s).unwrap())
}

fn dns(s: &str) -> GeneralName {
    GeneralName::DnsName(Ia5String::new(s).unwrap())
}

fn san(names: Vec<GeneralName>) -> Extension {
    ext(ID_CE_SUBJECT_ALT_NAME, false, &SubjectAltName(names))
}

fn permitted(names: Vec<GeneralName>) -> Extension {
    ext(
        ID_CE_NAME_CONSTRAINTS,
        true,
        &NameConstraints {
            permitted_subtrees: Some(
                names
                    .into_iter()
                    .map(|base| GeneralSubtree {
                        base,
                        minimum: 0,
                        maximum: None,
                    })
                    .collect(),
            ),
            excluded_subtrees: None,
        },
    )
}

/// A certificate to be signed; every field can be bent for negative tests.
#[derive(Clone)]
struct CertSpec {
    version: Option<Version>,
    serial: Vec<u8>,
    issuer: Name,
    subject: Name,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    spki: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
    /// Overrides the algorithm identifier inside the TBS.
    tbs_algorithm: Option<AlgorithmIdentifierOwned>,
    /// Overrides the outer `signatureAlgorithm`.
    outer_algorithm: Option<AlgorithmIdentifierOwned>,
}

impl CertSpec {
    fn new(subject: &str, key: &TestKey, issuer: &str, issuer_key: &TestKey) -> Self {
        Self {
            version: Some(Version::V3),
            serial: vec![0x40, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07],
            issuer: name(issuer),
            subject: name(subject),
            not_before: NOW - Duration::days(30),
            not_after: NOW + Duration::days(90),
            spki: key.spki(),
            extensions: vec![
                ext(
                    ID_CE_SUBJECT_KEY_IDENTIFIER,
                    false,
                    &SubjectKeyIdentifier(OctetString::new(key.key_id()).unwrap()),
                ),
                ext(
                    ID_CE_AUTHORITY_KEY_IDENTIFIER,
                    false,
                    &AuthorityKeyIdentifier {
                        key_identifier: Some(OctetString::new(issuer_key.key_id()).unwrap()),
                        authority_cert_issuer: None,
                        authority_cert_serial_number: None,
                    },
                ),
            ],
            tbs_algorithm: None,
            outer_algorithm: None,
        }
    }

    fn ext(mut self, extension: Extension) -> Self {
        self.extensions.push(extension);
        self
    }

    fn without(mut self, oid: ObjectIdentifier) -> Self {
        self.extensions.retain(|e| e.extn_id != oid);
        self
    }

    fn serial(mut self, serial: &[u8]) -> Self {
        self.serial = serial.to_vec();
        self
    }

    fn validity(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    fn sign(self, issuer_key: &TestKey) -> Certificate {
        let algorithm = issuer_key.signature_algorithm();
        let tbs = TbsOut {
            version: self.version,
            serial_number: Int::new(&self.serial).unwrap(),
            signature: self.tbs_algorithm.unwrap_or_else(|| algorithm.clone()),
            issuer: self.issuer,
            validity: Validity::new(x509_time(self.not_before), x509_time(self.not_after)),
            subject: self.subject,
            subject_public_key_info: self.spki,
            extensions: (!self.extensions.is_empty()).then_some(self.extensions),
        };
        let tbs_der = tbs.to_der().unwrap();
        let signature = issuer_key.sign(&tbs_der);
        let der = CertOut {
            tbs: Any::from_der(&tbs_der).unwrap(),
            signature_algorithm: self.outer_algorithm.unwrap_or(algorithm),
            signature: BitString::from_bytes(&signature).unwrap(),
        }
        .to_der()
        .unwrap();
        Certificate::from_der(&der).unwrap()
    }
}

fn root_spec(subject: &str, key: &TestKey, path_len: Option<u8>) -> CertSpec {
    CertSpec::new(subject, key, subject, key)
        .without(ID_CE_AUTHORITY_KEY_IDENTIFIER)
        .validity(NOW - Duration::days(365), NOW + Duration::days(3650))
        .ext(basic_constraints(true, path_len))
        .ext(key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))
}

fn ca_spec(
    subject: &str,
    key: &TestKey,
    issuer: &str,
    issuer_key: &TestKey,
    path_len: Option<u8>,
) -> CertSpec {
    CertSpec::new(subject, key, issuer, issuer_key)
        .validity(NOW - Duration::days(100), NOW + Duration::days(1000))
        .ext(basic_constraints(true, path_len))
        .ext(key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))
}

fn wire_leaf_spec(key: &TestKey, issuer: &str, issuer_key: &TestKey) -> CertSpec {
    CertSpec::new("O=wire.example.com,CN=Alice Smith", key, issuer, issuer_key)
        .ext(key_usage(KeyUsages::DigitalSignature))
        .ext(eku(&[oid::KP_CLIENT_AUTH]))
        .ext(san(vec![uri(HANDLE_URI), uri(CLIENT_URI)]))
}

const ROOT: &str = "O=Wire Example,CN=Wire Root CA";
const INTERMEDIATE: &str = "O=Wire Example,CN=Wire Intermediate CA";

/// The Wire PKI of wire-e2ei-protocol.md §2.5 and §7.3: root (pathlen 1), intermediate
/// (pathlen 0, critical nameConstraints: DNS acme.wire.example.com, URI wire.example.com),
/// Wire leaf.
struct WirePki {
    root_key: TestKey,
    intermediate_key: TestKey,
    leaf_key: TestKey,
    root: Certificate,
    intermediate: Certificate,
    leaf: Certificate,
}

impl WirePki {
    fn new(make_key: fn() -> TestKey) -> Self {
        let (root_key, intermediate_key, leaf_key) = (make_key(), make_key(), make_key());
        let root = root_spec(ROOT, &root_key, Some(1)).sign(&root_key);
        let intermediate = Self::intermediate_spec(&intermediate_key, &root_key).sign(&root_key);
        let leaf =
            wire_leaf_spec(&leaf_key, INTERMEDIATE, &intermediate_key).sign(&intermediate_key);
        Self {
            root_key,
            intermediate_key,
            leaf_key,
            root,
            intermediate,
            leaf,
        }
    }

    fn intermediate_spec(key: &TestKey, root_key: &TestKey) -> CertSpec {
        ca_spec(INTERMEDIATE, key, ROOT, root_key, Some(0)).ext(permitted(vec![
            dns("acme.wire.example.com"),
            uri("wire.example.com"),
        ]))
    }

    fn leaf_spec(&self) -> CertSpec {
        wire_leaf_spec(&self.leaf_key, INTERMEDIATE, &self.intermediate_key)
    }

    fn validate_leaf(&self, leaf: &Certificate) -> Result<ValidatedPath, PathError> {
        self.validate_with(leaf, &client_auth())
    }

    fn validate_with(
        &self,
        leaf: &Certificate,
        options: &ValidationOptions<'_>,
    ) -> Result<ValidatedPath, PathError> {
        validate_path(
            std::slice::from_ref(&self.root),
            std::slice::from_ref(&self.intermediate),
            leaf,
            NOW,
            options,
        )
    }

    fn crl(&self) -> CrlSpec {
        CrlSpec::new(INTERMEDIATE, &self.intermediate_key)
    }
}

fn client_auth() -> ValidationOptions<'static> {
    ValidationOptions::default().with_required_eku(oid::KP_CLIENT_AUTH)
}

// ---------------------------------------------------------------------------------------------
// CRLs
// ---------------------------------------------------------------------------------------------

struct CrlSpec {
    issuer: Name,
    issuer_key_id: Vec<u8>,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    revoked: Vec<(Vec<u8>, Option<CrlReason>)>,
    extensions: Vec<Extension>,
}

impl CrlSpec {
    fn new(issuer: &str, issuer_key: &TestKey) -> Self {
        Self {
            issuer: name(issuer),
            issuer_key_id: issuer_key.key_id(),
            this_update: NOW - Duration::hours(1),
            next_update: NOW + Duration::days(7),
            revoked: Vec::new(),
            extensions: Vec::new(),
        }
    }

    fn ext(mut self, extension: Extension) -> Self {
        self.extensions.push(extension);
        self
    }

    fn revoke(mut self, cert: &Certificate, reason: Option<CrlReason>) -> Self {
        self.revoked.push((
            cert.tbs_certificate().serial_number().as_bytes().to_vec(),
            reason,
        ));
        self
    }

    fn sign(self, key: &TestKey) -> CertificateList {
        let algorithm = key.signature_algorithm();
        let revoked: Vec<RevokedCert> = self
            .revoked
            .into_iter()
            .map(|(serial, reason)| RevokedCert {
                serial_number: SerialNumber::new(&serial).unwrap(),
                revocation_date: x509_time(NOW - Duration::hours(2)),
                crl_entry_extensions: reason.map(|r| vec![ext(oid::CRL_REASON, false, &r)]),
            })
            .collect();
        let tbs = TbsCertList {
            version: Version::V2,
            signature: algorithm.clone(),
            issuer: self.issuer,
            this_update: x509_time(self.this_update),
            next_update: Some(x509_time(self.next_update)),
            revoked_certificates: (!revoked.is_empty()).then_some(revoked),
            crl_extensions: Some(vec![
                ext(
                    ID_CE_AUTHORITY_KEY_IDENTIFIER,
                    false,
                    &AuthorityKeyIdentifier {
                        key_identifier: Some(OctetString::new(self.issuer_key_id).unwrap()),
                        authority_cert_issuer: None,
                        authority_cert_serial_number: None,
                    },
                ),
                ext(oid::CRL_NUMBER, false, &der::asn1::Uint::new(&[7]).unwrap()),
            ])
            .map(|mut list| {
                list.extend(self.extensions);
                list
            }),
        };
        let signature = key.sign(&tbs.to_der().unwrap());
        CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: algorithm,
            signature: BitString::from_bytes(&signature).unwrap(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Positive tests
// ---------------------------------------------------------------------------------------------

#[test]
fn validates_wire_three_level_chain() {
    let pki = WirePki::new(TestKey::p256);
    let path = pki.validate_leaf(&pki.leaf).unwrap();
    assert_eq!(path.certificates().len(), 3);
    assert_eq!(path.leaf(), &pki.leaf);
    assert_eq!(
        path.intermediates(),
        std::slice::from_ref(&pki.intermediate)
    );
    assert_eq!(path.trust_anchor(), &pki.root);
    assert_eq!(path.anchor_index(), 0);
    assert_eq!(
        path.revocation(),
        &RevocationStatus::NotDetermined {
            unchecked: vec![
                "O=wire.example.com,CN=Alice Smith".into(),
                INTERMEDIATE.into()
            ]
        }
    );
    assert!(path.notes().is_empty());
    assert_eq!(
        certificate_uris(path.leaf()),
        vec![HANDLE_URI.to_owned(), CLIENT_URI.to_owned()]
    );
}

#[test]
fn validates_with_crls_covering_every_certificate() {
    let pki = WirePki::new(TestKey::p256);
    let crls = [
        pki.crl().sign(&pki.intermediate_key),
        CrlSpec::new(ROOT, &pki.root_key).sign(&pki.root_key),
    ];
    let options = client_auth().with_crls(&crls, RevocationPolicy::Require);
    let path = pki.validate_with(&pki.leaf, &options).unwrap();
    assert_eq!(path.revocation(), &RevocationStatus::Good);

    let options = client_auth().with_crls(&crls, RevocationPolicy::Ignore);
    let path = pki.validate_with(&pki.leaf, &options).unwrap();
    assert_eq!(path.revocation(), &RevocationStatus::NotChecked);
}

#[test]
fn validates_ed25519_chain() {
    let pki = WirePki::new(TestKey::ed25519);
    pki.validate_leaf(&pki.leaf).unwrap();
}

#[test]
fn validates_p384_chain() {
    let pki = WirePki::new(TestKey::p384);
    pki.validate_leaf(&pki.leaf).unwrap();
}

#[test]
fn validates_mixed_algorithm_chain() {
    let root_key = TestKey::p384();
    let intermediate_key = TestKey::ed25519();
    let leaf_key = TestKey::p256();
    let root = root_spec(ROOT, &root_key, None).sign(&root_key);
    let intermediate = WirePki::intermediate_spec(&intermediate_key, &root_key).sign(&root_key);
    let leaf = wire_leaf_spec(&leaf_key, INTERMEDIATE, &intermediate_key).sign(&intermediate_key);
    validate_path(&[root], &[intermediate], &leaf, NOW, &client_auth()).unwrap();
}

#[test]
fn validates_cross_signed_intermediate_against_either_root() {
    let pki = WirePki::new(TestKey::p256);
    let other_root_key = TestKey::p256();
    const OTHER_ROOT: &str = "O=Federated Example,CN=Federated Root CA";
    let other_root = root_spec(OTHER_ROOT, &other_root_key, None).sign(&other_root_key);
    // Same subject and key as the intermediate, issued by the federated root.
    let cross = ca_spec(
        INTERMEDIATE,
        &pki.intermediate_key,
        OTHER_ROOT,
        &other_root_key,
        Some(0),
    )
    .ext(permitted(vec![uri("wire.example.com")]))
    .sign(&other_root_key);
    let intermediates = [pki.intermediate.clone(), cross.clone()];

    let via_own = validate_path(
        std::slice::from_ref(&pki.root),
        &intermediates,
        &pki.leaf,
        NOW,
        &client_auth(),
    )
    .unwrap();
    assert_eq!(
        via_own.intermediates(),
        std::slice::from_ref(&pki.intermediate)
    );
    assert_eq!(via_own.trust_anchor(), &pki.root);

    let via_federated = validate_path(
        std::slice::from_ref(&other_root),
        &intermediates,
        &pki.leaf,
        NOW,
        &client_auth(),
    )
    .unwrap();
    assert_eq!(via_federated.intermediates(), std::slice::from_ref(&cross));
    assert_eq!(via_federated.trust_anchor(), &other_root);

    let both = [other_root, pki.root.clone()];
    let path = validate_path(&both, &intermediates, &pki.leaf, NOW, &client_auth()).unwrap();
    assert_eq!(path.anchor_index(), 1);
}

#[test]
fn skips_an_expired_alternative_issuer() {
    let pki = WirePki::new(TestKey::p256);
    let expired = WirePki::intermediate_spec(&pki.intermediate_key, &pki.root_key)
        .validity(NOW - Duration::days(400), NOW - Duration::days(1))
        .serial(&[0x11])
        .sign(&pki.root_key);
    let intermediates = [expired, pki.intermediate.clone()];
    let path = validate_path(
        std::slice::from_ref(&pki.root),
        &intermediates,
        &pki.leaf,
        NOW,
        &client_auth(),
    )
    .unwrap();
    assert_eq!(
        path.intermediates(),
        std::slice::from_ref(&pki.intermediate)
    );
}

#[test]
fn ignores_irrelevant_intermediates_and_finds_path_in_any_order() {
    let pki = WirePki::new(TestKey::p256);
    let stranger_key = TestKey::p256();
    let stranger =
        ca_spec("CN=Stranger CA", &stranger_key, ROOT, &pki.root_key, None).sign(&pki.root_key);
    let intermediates = [stranger, pki.root.clone(), pki.intermediate.clone()];
    let path = validate_path(
        std::slice::from_ref(&pki.root),
        &intermediates,
        &pki.leaf,
        NOW,
        &client_auth(),
    )
    .unwrap();
    assert_eq!(path.certificates().len(), 3);
}

#[test]
fn accepts_subdomain_under_leading_dot_dns_constraint() {
    let root_key = TestKey::p256();
    let ca_key = TestKey::p256();
    let leaf_key = TestKey::p256();
    let root = root_spec(ROOT, &root_key, None).sign(&root_key);
    let ca = ca_spec(INTERMEDIATE, &ca_key, ROOT, &root_key, Some(0))
        .ext(permitted(vec![dns(".example.com")]))
        .sign(&root_key);
    let leaf_with = |name: &str| {
        CertSpec::new("CN=server", &leaf_key, INTERMEDIATE, &ca_key)
            .ext(san(vec![dns(name)]))
            .sign(&ca_key)
    };
    let options = ValidationOptions::default();
    for ok in ["acme.example.com", "a.b.EXAMPLE.com"] {
        validate_path(
            std::slice::from_ref(&root),
            std::slice::from_ref(&ca),
            &leaf_with(ok),
            NOW,
            &options,
        )
        .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in ["example.com", "notexample.com", "example.com.evil.org"] {
        let err = validate_path(
            std::slice::from_ref(&root),
            std::slice::from_ref(&ca),
            &leaf_with(bad),
            NOW,
            &options,
        )
        .unwrap_err();
        assert!(
            matches!(err, PathError::NameConstraintViolation { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn applies_name_constraints_of_the_trust_anchor_and_every_ca() {
    let root_key = TestKey::p256();
    let ca_key = TestKey::p256();
    let leaf_key = TestKey::p256();
    // The root allows only other.example.com URIs; the intermediate allows wire.example.com;
    // the intersection is empty, so the Wire leaf is rejected.
    let root = root_spec(ROOT, &root_key, None)
        .ext(permitted(vec![uri("other.example.com")]))
        .sign(&root_key);
    let ca = WirePki::intermediate_spec(&ca_key, &root_key).sign(&root_key);
    let leaf = wire_leaf_spec(&leaf_key, INTERMEDIATE, &ca_key).sign(&ca_key);
    let err = validate_path(&[root], &[ca], &leaf, NOW, &client_auth()).unwrap_err();
    match err {
        PathError::NameConstraintViolation {
            subject, subtree, ..
        } => {
            assert_eq!(subject, "O=wire.example.com,CN=Alice Smith");
            assert!(subtree.contains(ROOT), "{subtree}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn reports_unprocessed_policy_extensions() {
    let pki = WirePki::new(TestKey::p256);
    #[derive(Sequence)]
    struct PolicyConstraints {
        #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
        require_explicit_policy: Option<u32>,
    }
    let intermediate = WirePki::intermediate_spec(&pki.intermediate_key, &pki.root_key)
        .ext(ext(
            ID_CE_POLICY_CONSTRAINTS,
            true,
            &PolicyConstraints {
                require_explicit_policy: Some(0),
            },
        ))
        .sign(&pki.root_key);
    let path = validate_path(
        std::slice::from_ref(&pki.root),
        &[intermediate],
        &pki.leaf,
        NOW,
        &client_auth(),
    )
    .unwrap();
    assert_eq!(
        path.notes(),
        &[PathNote::PolicyExtensionNotProcessed {
            subject: INTERMEDIATE.into(),
            oid: ID_CE_POLICY_CONSTRAINTS,
            critical: true,
        }]
    );
}

#[test]
fn accepts_leaf_without_eku_and_with_any_eku() {
    let pki = WirePki::new(TestKey::p256);
    let without = pki
        .leaf_spec()
        .without(ID_CE_EXT_KEY_USAGE)
        .sign(&pki.intermediate_key);
    pki.validate_leaf(&without).unwrap();
    let any = pki
        .leaf_spec()
        .without(ID_CE_EXT_KEY_USAGE)
        .ext(eku(&[oid::KP_SERVER_AUTH, ANY_EXTENDED_KEY_USAGE]))
        .sign(&pki.intermediate_key);
    pki.validate_leaf(&any).unwrap();
}

#[test]
fn validation_time_is_inclusive_at_both_ends() {
    let pki = WirePki::new(TestKey::p256);
    let not_before = datetime!(2025-06-01 00:00 UTC);
    let not_after = datetime!(2025-06-02 00:00 UTC);
    let leaf = pki
        .leaf_spec()
        .validity(not_before, not_after)
        .sign(&pki.intermediate_key);
    let at = |t| {
        validate_path(
            std::slice::from_ref(&pki.root),
            std::slice::from_ref(&pki.intermediate),
            &leaf,
            t,
            &client_auth(),
        )
    };
    at(not_before).unwrap();
    at(not_after).unwrap();
    at(not_after + Duration::milliseconds(5)).unwrap();
    assert!(matches!(
        at(not_before - Duration::milliseconds(1)),
        Err(PathError::NotYetValid { .. })
    ));
    assert!(matches!(
        at(not_after + Duration::seconds(1)),
        Err(PathError::Expired { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Negative tests
// ---------------------------------------------------------------------------------------------

#[test]
fn rejects_uri_outside_permitted_subtree() {
    let pki = WirePki::new(TestKey::p256);
    let evil = "wireapp://%40alice_wire@evil.example.com";
    let leaf = pki
        .leaf_spec()
        .without(ID_CE_SUBJECT_ALT_NAME)
        .ext(san(vec![uri(evil), uri(CLIENT_URI)]))
        .sign(&pki.intermediate_key);
    assert_eq!(
        pki.validate_leaf(&leaf).unwrap_err(),
        PathError::NameConstraintViolation {
            subject: "O=wire.example.com,CN=Alice Smith".into(),
            name: format!("URI:{evil}"),
            subtree: format!("permitted URI:wire.example.com of {INTERMEDIATE}"),
        }
    );
}

#[test]
fn rejects_uri_without_host_under_uri_constraint() {
    let pki = WirePki::new(TestKey::p256);
    let leaf = pki
        .leaf_spec()
        .without(ID_CE_SUBJECT_ALT_NAME)
        .ext(san(vec![uri(
            "urn:uuid:c916d28a-58d7-4a70-a5ef-bf9090ceb7e2",
        )]))
        .sign(&pki.intermediate_key);
    assert!(matches!(
        pki.validate_leaf(&leaf),
        Err(PathError::NameConstraintViolation { .. })
    ));
}

#[test]
fn rejects_dns_name_outside_permitted_subtree() {
    let pki = WirePki::new(TestKey::p256);
    let leaf = pki
        .leaf_spec()
        .without(ID_CE_SUBJECT_ALT_NAME)
        .ext(san(vec![
            dns("acme.wire.example.com"),
            dns("wire.example.com"),
        ]))
        .sign(&pki.intermediate_key);
    assert!(matches!(
        pki.validate_leaf(&leaf),
        Err(PathError::NameConstraintViolation { name, .. }) if name == "DNS:wire.example.com"
    ));
}

#[test]
fn rejects_expired_leaf() {
    let pki = WirePki::new(TestKey::p256);
    let not_after = NOW - Duration::days(1);
    let leaf = pki
        .leaf_spec()
        .validity(NOW - Duration::days(91), not_after)
        .sign(&pki.intermediate_key);
    assert_eq!(
        pki.validate_leaf(&leaf).unwrap_err(),
        PathError::Expired {
            subject: "O=wire.example.com,CN=Alice Smith".into(),
            not_after,
            time: NOW,
        }
    );
}

#[test]
fn rejects_not_yet_valid_intermediate() {
    let pki = WirePki::new(TestKey::p256);
    let intermediate = WirePki::intermediate_spec(&pki.intermediate_key, &pki.root_key)
        .validity(NOW + Duration::days(1), NOW + Duration::days(100))
        .sign(&pki.root_key);
    let err = validate_path(
        std::slice::from_ref(&pki.root),
        &[intermediate],
        &pki.leaf,
        NOW,
        &client_auth(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PathError::NotYetValid { subject, .. } if subject == INTERMEDIATE),
        "{err}"
    );
}

#[test]
fn rejects_leaf_signed_by_other_key() {
    let pki = WirePki::new(TestKey::p256);
    let impostor = TestKey::p256();
    // Claims the intermediate as issuer (name and AKI), signed by another key.
    let leaf = pki.leaf_spec().sign(&impostor);
    assert_eq!(
        pki.validate_leaf(&leaf).unwrap_err(),
        PathError::BadSignature {
            subject: "O=wire.example.com,CN=Alice Smith".into(),
            issuer: INTERMEDIATE.into(),
        }
    );
}

#[test]
fn rejects_intermediate_without_ca_flag() {
    let pki = WirePki::new(TestKey::p256);
    let intermediate = WirePki::intermediate_spec(&pki.intermediate_key, &pki.root_key)
        .without(ID_CE_BASIC_CONSTRAINTS)
        .without(ID_CE_KEY_USAGE)
        .ext(basic_constraints(false, None))
        .sign(&pki.root_key);
    assert_eq!(
        validate_path(
            std::slice::from_ref(&pki.root),
            &[intermediate],
            &pki.leaf,
            NOW,
            &client_auth(),
        )
        .unwrap_err(),
        PathError::NotACa {
            subject: INTERMEDIATE.into()
        }
    );
}

#[test]
fn rejects_intermediate_without_key_cert_sign() {
    let pki = WirePki::new(TestKey::p256);
    let intermediate = WirePki::intermediate_spec(&pki.intermediate_key, &pki.root_key)
        .without(ID_CE_KEY_USAGE)
        .ext(key_usage(KeyUsages::CRLSign))
        .sign(&pki.root_key);
    assert_eq!(
        validate_path(
            std::slice::from_ref(&pki.root),
            &[intermediate],
            &pki.leaf,
            NOW,
            &client_auth(),
        )
        .unwrap_err(),
        PathError::MissingKeyCertSign {
            subject: INTERMEDIATE.into()
        }
    );
}

#[test]
fn rejects_path_longer_than_pathlen() {
    let pki = WirePki::new(TestKey::p256);
    // The intermediate (pathlen 0) issues a sub-CA, which issues the leaf.
    const SUB: &str = "O=Wire Example,CN=Wire Sub CA";
    let sub_key = TestKey::p256();
    let sub = ca_spec(SUB, &sub_key, INTERMEDIATE, &pki.intermediate_key, None)
        .sign(&pki.intermediate_key);
    let leaf = wire_leaf_spec(&pki.leaf_key, SUB, &sub_key).sign(&sub_key);
    let err = validate_path(
        std::slice::from_ref(&pki.root),
        &[pki.intermediate.clone(), sub],
        &leaf,
        NOW,
        &client_auth(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PathError::PathLenExceeded {
            subject: SUB.into(),
            constrained_by: INTERMEDIATE.into(),
            path_len_constraint: 0,
        }
    );
}

#[test]
fn rejects_path_longer_than_root_pathlen() {
    // Root pathlen 0: no intermediate may follow it.
    let root_key = TestKey::p256();
    let ca_key = TestKey::p256();
    let root = root_spec(ROOT, &root_key, Some(0)).sign(&root_key);
    let ca = WirePki::intermediate_spec(&ca_key, &root_key).sign(&root_key);
    let leaf = wire_leaf_spec(&TestKey::p256(), INTERMEDIATE, &ca_key).sign(&ca_key);
    assert!(matches!(
        validate_path(&[root], &[ca], &leaf, NOW, &client_auth()),
        Err(PathError::PathLenExceeded { constrained_by, .. }) if constrained_by == ROOT
    ));
}

#[test]
fn rejects_more_intermediates_than_allowed() {
    let pki = WirePki::new(TestKey::p256);
    let options = client_auth().with_max_intermediates(0);
    assert_eq!(
        pki.validate_with(&pki.leaf, &options).unwrap_err(),
        PathError::PathTooLong {
            max_intermediates: 0
        }
    );
}

#[test]
fn rejects_unknown_critical_extension() {
    let pki = WirePki::new(TestKey::p256);
    let leaf = pki
        .leaf_spec()
        .ext(ext(UNKNOWN_EXTENSION, true, &der::asn1::Null))
        .sign(&pki.intermediate_key);
    assert_eq!(
        pki.validate_leaf(&leaf).unwrap_err(),
        PathError::UnknownCriticalExtension {
            subject: "O=wire.example.com,CN=Alice Smith".into(),
            oid: UNKNOWN_EXTENSION,
        }
    );
    // Non-critical unknown extensions (like step-ca's provisioner extension) are fine.
    let leaf = pki
        .leaf_spec()
        .ext(ext(oid::STEP_PROVISIONER, false, &der::asn1::Null))
        .sign(&pki.intermediate_key);
    pki.validate_leaf(&leaf).unwrap();
}

#[test]
fn ignores_unknown_critical_extension_of_trust_anchor() {
    let pki = WirePki::new(TestKey::p256);
    let root = root_spec(ROOT, &pki.root_key, Some(1))
        .ext(ext(UNKNOWN_EXTENSION, true, &der::asn1::Null))
        .sign(&pki.root_key);
    validate_path(
        &[root],
        std::slice::from_ref(&pki.intermediate),
        &pki.leaf,
        NOW,
        &client_auth(),
    )
    .unwrap();
}

#[test]
fn rejects_duplicate_extension() {
    let pki = WirePki::new(TestKey::p256);
    let leaf = pki
        .leaf_spec()
        .ext(eku(&[oid::KP_CLIENT_AUTH]))
        .sign(&pki.intermediate_key);
    assert!(matches!(
        pki.validate_leaf(&leaf),
        Err(PathError::DuplicateExtension { oid, .. }) if oid == ID_CE_EXT_KEY_USAGE
    ));
}

#[test]
fn rejects_missing_client_auth_eku() {
    let pki = WirePki::new(TestKey::p256);
    let leaf = pki
        .leaf_spec()
        .without(ID_CE_EXT_KEY_USAGE)
        .ext(eku(&[oid::KP_SERVER_AUTH]))
        .sign(&pki.intermediate_key);
    assert_eq!(
        pki.validate_leaf(&leaf).unwrap_err(),
        PathError::MissingRequiredEku {
            subject: "O=wire.example.com,CN=Alice Smith".into(),
            required: oid::KP_CLIENT_AUTH,
            present: vec![oid::KP_SERVER_AUTH],
        }
    );
    // Without a requirement the same leaf is fine.
    pki.validate_with(&leaf, &ValidationOptions::default())
        .unwrap();
}

#[test]
fn rejects_intermediate_restricted_to_other_eku() {
    let pki = WirePki::new(TestKey::p256);
    let intermediate = WirePki::intermediate_spec(&pki.intermediate_key, &pki.root_key)
        .ext(eku(&[oid::KP_SERVER_AUTH]))
        .sign(&pki.root_key);
    assert!(matches!(
        validate_path(
            std::slice::from_ref(&pki.root),
            &[intermediate],
            &pki.leaf,
            NOW,
            &client_auth(),
        ),
        Err(PathError::MissingRequiredEku { subject, .. }) if subject == INTERMEDIATE
    ));
}

#[test]
fn rejects_mismatched_signature_algorithm_fields() {
    let pki = WirePki::new(TestKey::p256);
    let mut spec = pki.leaf_spec();
    spec.tbs_algorithm = Some(KeyAlgorithm::P384.signature_algorithm_identifier());
    let leaf = spec.sign(&pki.intermediate_key);
    assert_eq!(
        pki.validate_leaf(&leaf).unwrap_err(),
        PathError::SignatureAlgorithmMismatch {
            subject: "O=wire.example.com,CN=Alice Smith".into(),
            tbs_algorithm: oid::ECDSA_WITH_SHA384,
            outer_algorithm: oid::ECDSA_WITH_SHA256,
        }
    );
}

#[test]
fn rejects_unsupported_signature_algorithm() {
    let pki = WirePki::new(TestKey::p256);
    let rsa = AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11"),
        parameters: None,
    };
    let mut spec = pki.leaf_spec();
    spec.tbs_algorithm = Some(rsa.clone());
    spec.outer_algorithm = Some(rsa);
    let leaf = spec.sign(&pki.intermediate_key);
    assert!(matches!(
        pki.validate_leaf(&leaf),
        Err(PathError::UnsupportedAlgorithm { algorithm, .. }) if algorithm.contains("1.2.840.113549.1.1.11")
    ));
}

#[test]
fn rejects_non_positive_serial_and_extensions_before_v3() {
    let pki = WirePki::new(TestKey::p256);
    for serial in [&[0x00][..], &[0x80, 0x01][..]] {
        let leaf = pki.leaf_spec().serial(serial).sign(&pki.intermediate_key);
        assert!(matches!(
            pki.validate_leaf(&leaf),
            Err(PathError::InvalidSerialNumber { .. })
        ));
    }
    let mut spec = pki.leaf_spec();
    spec.version = Some(Version::V2);
    let leaf = spec.sign(&pki.intermediate_key);
    assert!(matches!(
        pki.validate_leaf(&leaf),
        Err(PathError::InvalidVersion { version: 2, .. })
    ));
}

#[test]
fn rejects_untrusted_root_and_reports_missing_issuer() {
    let pki = WirePki::new(TestKey::p256);
    let other_key = TestKey::p256();
    let other_root = root_spec("CN=Other Root", &other_key, None).sign(&other_key);
    let err = validate_path(
        &[other_root],
        &[pki.intermediate.clone(), pki.root.clone()],
        &pki.leaf,
        NOW,
        &client_auth(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PathError::NoPathToTrustAnchor {
            subject: ROOT.into(),
            issuer: ROOT.into(),
        }
    );
}

#[test]
fn rejects_anchor_with_same_name_but_other_key() {
    let pki = WirePki::new(TestKey::p256);
    let fake_key = TestKey::p256();
    let fake_root = root_spec(ROOT, &fake_key, Some(1))
        .without(ID_CE_SUBJECT_KEY_IDENTIFIER)
        .sign(&fake_key);
    let err = validate_path(
        &[fake_root],
        std::slice::from_ref(&pki.intermediate),
        &pki.leaf,
        NOW,
        &client_auth(),
    )
    .unwrap_err();
    assert!(matches!(err, PathError::BadSignature { .. }), "{err}");
}

#[test]
fn terminates_on_cycles_of_intermediates() {
    let root_key = TestKey::p256();
    let root = root_spec(ROOT, &root_key, None).sign(&root_key);
    let (a_key, b_key) = (TestKey::p256(), TestKey::p256());
    let a = ca_spec("CN=A", &a_key, "CN=B", &b_key, None).sign(&b_key);
    let b = ca_spec("CN=B", &b_key, "CN=A", &a_key, None).sign(&a_key);
    let leaf = CertSpec::new("CN=leaf", &TestKey::p256(), "CN=A", &a_key).sign(&a_key);
    let err =
        validate_path(&[root], &[a, b], &leaf, NOW, &ValidationOptions::default()).unwrap_err();
    assert!(
        matches!(err, PathError::NoPathToTrustAnchor { .. }),
        "{err}"
    );
}

#[test]
fn stops_after_signature_budget_on_hostile_input() {
    let root_key = TestKey::p256();
    let root = root_spec(ROOT, &root_key, None).sign(&root_key);
    // Many CAs with the same subject and no key identifiers, none chaining to the root.
    let keys: Vec<TestKey> = (0..30).map(|_| TestKey::p256()).collect();
    let cas: Vec<Certificate> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            ca_spec(
                "CN=Loop CA",
                k,
                "CN=Loop CA",
                &keys[(i + 1) % keys.len()],
                None,
            )
            .without(ID_CE_SUBJECT_KEY_IDENTIFIER)
            .without(ID_CE_AUTHORITY_KEY_IDENTIFIER)
            .sign(&keys[(i + 1) % keys.len()])
        })
        .collect();
    let leaf = CertSpec::new("CN=leaf", &TestKey::p256(), "CN=Loop CA", &keys[0])
        .without(ID_CE_AUTHORITY_KEY_IDENTIFIER)
        .sign(&keys[0]);
    let err = validate_path(
        &[root],
        &cas,
        &leaf,
        NOW,
        &ValidationOptions::default().with_max_intermediates(32),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PathError::PathBuildingBudgetExceeded {
            signatures: SIGNATURE_BUDGET
        }
    );
}

#[test]
fn rejects_revoked_leaf() {
    let pki = WirePki::new(TestKey::p256);
    let crls = [pki
        .crl()
        .revoke(&pki.leaf, Some(CrlReason::KeyCompromise))
        .sign(&pki.intermediate_key)];
    let options = client_auth().with_crls(&crls, RevocationPolicy::CheckIfAvailable);
    assert_eq!(
        pki.validate_with(&pki.leaf, &options).unwrap_err(),
        PathError::Revoked {
            subject: "O=wire.example.com,CN=Alice Smith".into(),
            serial: "4001020304050607".into(),
            reason: Some(CrlReason::KeyCompromise),
            revocation_date: NOW - Duration::hours(2),
        }
    );
}

#[test]
fn rejects_revoked_intermediate() {
    let pki = WirePki::new(TestKey::p256);
    let crls = [CrlSpec::new(ROOT, &pki.root_key)
        .revoke(&pki.intermediate, None)
        .sign(&pki.root_key)];
    let options = client_auth().with_crls(&crls, RevocationPolicy::CheckIfAvailable);
    assert!(matches!(
        pki.validate_with(&pki.leaf, &options),
        Err(PathError::Revoked { subject, reason: None, .. }) if subject == INTERMEDIATE
    ));
}

#[test]
fn rejects_expired_crl() {
    let pki = WirePki::new(TestKey::p256);
    let mut crl = pki.crl();
    crl.this_update = NOW - Duration::days(10);
    crl.next_update = NOW - Duration::days(3);
    let crls = [crl.sign(&pki.intermediate_key)];
    let options = client_auth().with_crls(&crls, RevocationPolicy::CheckIfAvailable);
    assert_eq!(
        pki.validate_with(&pki.leaf, &options).unwrap_err(),
        PathError::CrlExpired {
            issuer: INTERMEDIATE.into(),
            next_update: NOW - Duration::days(3),
            time: NOW,
        }
    );
}

#[test]
fn rejects_crl_with_bad_signature() {
    let pki = WirePki::new(TestKey::p256);
    // The intermediate's name and key identifier, another key's signature.
    let crls = [pki.crl().sign(&TestKey::p256())];
    let options = client_auth().with_crls(&crls, RevocationPolicy::CheckIfAvailable);
    assert_eq!(
        pki.validate_with(&pki.leaf, &options).unwrap_err(),
        PathError::CrlBadSignature {
            issuer: INTERMEDIATE.into()
        }
    );
}

#[test]
fn rejects_crl_of_issuer_without_crl_sign() {
    let pki = WirePki::new(TestKey::p256);
    let intermediate = WirePki::intermediate_spec(&pki.intermediate_key, &pki.root_key)
        .without(ID_CE_KEY_USAGE)
        .ext(key_usage(KeyUsages::KeyCertSign))
        .sign(&pki.root_key);
    let crls = [pki.crl().sign(&pki.intermediate_key)];
    let err = validate_path(
        std::slice::from_ref(&pki.root),
        &[intermediate],
        &pki.leaf,
        NOW,
        &client_auth().with_crls(&crls, RevocationPolicy::CheckIfAvailable),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PathError::CrlIssuerMissingCrlSign {
            issuer: INTERMEDIATE.into()
        }
    );
}

#[test]
fn require_policy_fails_without_crl() {
    let pki = WirePki::new(TestKey::p256);
    let crls = [pki.crl().sign(&pki.intermediate_key)];
    let options = client_auth().with_crls(&crls, RevocationPolicy::Require);
    assert_eq!(
        pki.validate_with(&pki.leaf, &options).unwrap_err(),
        PathError::RevocationUnavailable {
            subject: INTERMEDIATE.into()
        }
    );
    let options = client_auth().with_crls(&crls, RevocationPolicy::CheckIfAvailable);
    assert_eq!(
        pki.validate_with(&pki.leaf, &options).unwrap().revocation(),
        &RevocationStatus::NotDetermined {
            unchecked: vec![INTERMEDIATE.into()]
        }
    );
}

#[test]
fn ignores_crl_entries_of_another_issuer() {
    let pki = WirePki::new(TestKey::p256);
    let other_key = TestKey::p256();
    let crls = [CrlSpec::new("CN=Other CA", &other_key)
        .revoke(&pki.leaf, None)
        .sign(&other_key)];
    let options = client_auth().with_crls(&crls, RevocationPolicy::CheckIfAvailable);
    pki.validate_with(&pki.leaf, &options).unwrap();
}

#[test]
fn rejects_leaf_with_unsupported_key() {
    let pki = WirePki::new(TestKey::p256);
    let mut spec = pki.leaf_spec();
    spec.spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1"),
            parameters: Some(Any::from(der::asn1::Null)),
        },
        subject_public_key: BitString::from_bytes(&[0x30, 0x00]).unwrap(),
    };
    let leaf = spec.sign(&pki.intermediate_key);
    assert!(matches!(
        pki.validate_leaf(&leaf),
        Err(PathError::UnsupportedAlgorithm { subject, .. }) if subject == "O=wire.example.com,CN=Alice Smith"
    ));
}

#[test]
fn rejects_ca_with_empty_subject() {
    let pki = WirePki::new(TestKey::p256);
    let mut ca = ca_spec(
        INTERMEDIATE,
        &pki.intermediate_key,
        ROOT,
        &pki.root_key,
        None,
    );
    ca.subject = Name::default();
    let ca = ca.sign(&pki.root_key);
    let mut leaf = pki.leaf_spec();
    leaf.issuer = Name::default();
    let leaf = leaf.sign(&pki.intermediate_key);
    let err = validate_path(
        std::slice::from_ref(&pki.root),
        &[ca],
        &leaf,
        NOW,
        &client_auth(),
    )
    .unwrap_err();
    assert!(
        matches!(err, PathError::MalformedCertificate { .. }),
        "{err}"
    );
}

#[test]
fn rejects_empty_issuer_even_under_an_anchor_with_empty_subject() {
    // x509-limbo rfc5280::ca-empty-subject: the anchor's empty subject is not checked (anchors
    // are name + key), so the leaf's empty issuer is what must be refused.
    let root_key = TestKey::p256();
    let leaf_key = TestKey::p256();
    let mut root = root_spec(ROOT, &root_key, None);
    root.subject = Name::default();
    root.issuer = Name::default();
    let root = root.sign(&root_key);
    let mut leaf = wire_leaf_spec(&leaf_key, ROOT, &root_key);
    leaf.issuer = Name::default();
    let leaf = leaf.sign(&root_key);
    let err = validate_path(&[root], &[], &leaf, NOW, &client_auth()).unwrap_err();
    assert!(
        matches!(&err, PathError::MalformedCertificate { subject, reason }
            if subject == "O=wire.example.com,CN=Alice Smith" && reason.contains("issuer")),
        "{err}"
    );
}

const CRL_URL: &str = "https://acme.wire.example.com/crl";

fn crl_distribution_point(url: &str) -> Extension {
    ext(
        ID_CE_CRL_DISTRIBUTION_POINTS,
        false,
        &CrlDistributionPoints(vec![DistributionPoint {
            distribution_point: Some(x509_cert::ext::pkix::name::DistributionPointName::FullName(
                vec![uri(url)],
            )),
            reasons: None,
            crl_issuer: None,
        }]),
    )
}

fn issuing_distribution_point(url: &str, only_ca_certs: bool) -> Extension {
    ext(
        oid::ISSUING_DISTRIBUTION_POINT,
        true,
        &x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint {
            distribution_point: Some(x509_cert::ext::pkix::name::DistributionPointName::FullName(
                vec![uri(url)],
            )),
            only_contains_user_certs: false,
            only_contains_ca_certs: only_ca_certs,
            only_some_reasons: None,
            indirect_crl: false,
            only_contains_attribute_certs: false,
        },
    )
}

#[test]
fn honours_issuing_distribution_point_scope() {
    let pki = WirePki::new(TestKey::p256);
    let leaf = pki
        .leaf_spec()
        .ext(crl_distribution_point(CRL_URL))
        .sign(&pki.intermediate_key);
    let root_crl = CrlSpec::new(ROOT, &pki.root_key).sign(&pki.root_key);
    let validate = |crl: CrlSpec| {
        let crls = [crl.sign(&pki.intermediate_key), root_crl.clone()];
        let options = client_auth().with_crls(&crls, RevocationPolicy::Require);
        pki.validate_with(&leaf, &options)
            .map(|path| path.revocation().clone())
    };

    // Scope matches the leaf's distribution point: complete.
    assert_eq!(
        validate(pki.crl().ext(issuing_distribution_point(CRL_URL, false))),
        Ok(RevocationStatus::Good)
    );
    // Another distribution point, or CA certificates only: the CRL does not cover the leaf.
    for crl in [
        pki.crl().ext(issuing_distribution_point(
            "https://elsewhere.example/crl",
            false,
        )),
        pki.crl().ext(issuing_distribution_point(CRL_URL, true)),
    ] {
        assert_eq!(
            validate(crl),
            Err(PathError::RevocationUnavailable {
                subject: "O=wire.example.com,CN=Alice Smith".into()
            })
        );
    }
    // A serial listed on a signed CRL of the issuer is revoked whatever the CRL's scope.
    assert!(matches!(
        validate(
            pki.crl()
                .ext(issuing_distribution_point(
                    "https://elsewhere.example/crl",
                    false
                ))
                .revoke(&leaf, None)
        ),
        Err(PathError::Revoked { .. })
    ));
}

#[test]
fn rejects_delta_and_unknown_critical_crl_extensions() {
    let pki = WirePki::new(TestKey::p256);
    for extension in [
        ext(
            const_oid::db::rfc5280::ID_CE_DELTA_CRL_INDICATOR,
            true,
            &der::asn1::Uint::new(&[6]).unwrap(),
        ),
        ext(UNKNOWN_EXTENSION, true, &der::asn1::Null),
    ] {
        let crls = [pki.crl().ext(extension).sign(&pki.intermediate_key)];
        let options = client_auth().with_crls(&crls, RevocationPolicy::CheckIfAvailable);
        assert!(matches!(
            pki.validate_with(&pki.leaf, &options),
            Err(PathError::MalformedCrl { .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// URI name-constraint vectors (testdata/uri-name-constraints/vectors.json)
// ---------------------------------------------------------------------------------------------

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UriVectors {
    #[serde(rename = "description")]
    _description: String,
    cases: Vec<UriVector>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UriVector {
    id: String,
    #[serde(rename = "description")]
    _description: String,
    root: Option<Subtrees>,
    intermediate: Subtrees,
    san: Vec<String>,
    expected: String,
    /// The PathError variant of a FAILURE, so that a case cannot fail for another reason.
    error: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Subtrees {
    #[serde(default)]
    permitted: Vec<String>,
    #[serde(default)]
    excluded: Vec<String>,
}

impl Subtrees {
    /// The critical nameConstraints extension, or none when both lists are empty.
    fn extension(&self) -> Option<Extension> {
        let subtrees = |names: &[String]| {
            (!names.is_empty()).then(|| {
                names
                    .iter()
                    .map(|n| GeneralSubtree {
                        base: typed_name(n),
                        minimum: 0,
                        maximum: None,
                    })
                    .collect()
            })
        };
        let nc = NameConstraints {
            permitted_subtrees: subtrees(&self.permitted),
            excluded_subtrees: subtrees(&self.excluded),
        };
        (nc.permitted_subtrees.is_some() || nc.excluded_subtrees.is_some())
            .then(|| ext(ID_CE_NAME_CONSTRAINTS, true, &nc))
    }
}

/// `URI:…` or `DNS:…`, as OpenSSL prints general names.
fn typed_name(text: &str) -> GeneralName {
    match text.split_once(':') {
        Some(("URI", value)) => uri(value),
        Some(("DNS", value)) => dns(value),
        _ => panic!("`{text}`: expected URI:… or DNS:…"),
    }
}

fn error_variant(error: &PathError) -> &'static str {
    match error {
        PathError::NameConstraintViolation { .. } => "NameConstraintViolation",
        PathError::UncheckableName { .. } => "UncheckableName",
        PathError::MalformedNameConstraint { .. } => "MalformedNameConstraint",
        _ => "another PathError",
    }
}

#[test]
fn uri_name_constraint_vectors() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/uri-name-constraints/vectors.json"
    );
    let vectors: UriVectors =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let (root_key, ca_key, leaf_key) = (TestKey::p256(), TestKey::p256(), TestKey::p256());
    let mut ids = std::collections::HashSet::new();
    let mut wrong = Vec::new();
    for v in &vectors.cases {
        assert!(ids.insert(v.id.as_str()), "{}: duplicate id", v.id);
        assert!(
            matches!(
                (v.expected.as_str(), &v.error),
                ("SUCCESS", None) | ("FAILURE", Some(_))
            ),
            "{}: SUCCESS without error, or FAILURE with one",
            v.id
        );
        let mut root = root_spec(ROOT, &root_key, None);
        if let Some(nc) = v.root.as_ref().and_then(Subtrees::extension) {
            root = root.ext(nc);
        }
        let mut ca = ca_spec(INTERMEDIATE, &ca_key, ROOT, &root_key, Some(0));
        if let Some(nc) = v.intermediate.extension() {
            ca = ca.ext(nc);
        }
        let leaf = CertSpec::new(
            "O=wire.example.com,CN=Alice Smith",
            &leaf_key,
            INTERMEDIATE,
            &ca_key,
        )
        .ext(key_usage(KeyUsages::DigitalSignature))
        .ext(eku(&[oid::KP_CLIENT_AUTH]))
        .ext(san(v.san.iter().map(|n| typed_name(n)).collect()))
        .sign(&ca_key);
        let result = validate_path(
            &[root.sign(&root_key)],
            &[ca.sign(&root_key)],
            &leaf,
            NOW,
            &client_auth(),
        );
        let (got, variant) = match &result {
            Ok(_) => ("SUCCESS", None),
            Err(e) => ("FAILURE", Some(error_variant(e))),
        };
        if got != v.expected || variant != v.error.as_deref() {
            wrong.push(format!(
                "{}: expected {} {:?}, got {result:?}",
                v.id, v.expected, v.error
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// RSA (other PKIs' chains: verification only)
// ---------------------------------------------------------------------------------------------

/// An RSA root and intermediate (both signing with `scheme`) over a P-256 Wire leaf: the keys
/// of root and intermediate, then the three certificates.
fn rsa_pki(scheme: RsaScheme) -> (TestKey, TestKey, Certificate, Certificate, Certificate) {
    let (root_key, intermediate_key) = (TestKey::rsa(scheme), TestKey::rsa(scheme));
    let root = root_spec(ROOT, &root_key, Some(1)).sign(&root_key);
    let intermediate = WirePki::intermediate_spec(&intermediate_key, &root_key).sign(&root_key);
    let leaf =
        wire_leaf_spec(&TestKey::p256(), INTERMEDIATE, &intermediate_key).sign(&intermediate_key);
    (root_key, intermediate_key, root, intermediate, leaf)
}

#[test]
fn validates_rsa_chains_and_crls_of_every_scheme() {
    for scheme in RsaScheme::ALL {
        let (root_key, intermediate_key, root, intermediate, leaf) = rsa_pki(scheme);
        let crls = [
            CrlSpec::new(ROOT, &root_key).sign(&root_key),
            CrlSpec::new(INTERMEDIATE, &intermediate_key).sign(&intermediate_key),
        ];
        let options = client_auth().with_crls(&crls, RevocationPolicy::Require);
        let path = validate_path(
            std::slice::from_ref(&root),
            std::slice::from_ref(&intermediate),
            &leaf,
            NOW,
            &options,
        )
        .unwrap_or_else(|e| panic!("{scheme:?}: {e}"));
        assert_eq!(path.certificates().len(), 3, "{scheme:?}");
    }
}

#[test]
fn validates_rsa_end_entity_key_but_it_is_no_wire_key() {
    let root_key = TestKey::p256();
    let leaf_key = TestKey::rsa_pkcs1();
    let root = root_spec(ROOT, &root_key, None).sign(&root_key);
    let leaf = wire_leaf_spec(&leaf_key, ROOT, &root_key).sign(&root_key);
    validate_path(&[root], &[], &leaf, NOW, &client_auth()).unwrap();
    let refused = PublicKey::from_spki(leaf.tbs_certificate().subject_public_key_info());
    assert!(
        matches!(&refused, Err(KeyError::Unsupported(why)) if why.contains("RSA keys cannot be Wire")),
        "{refused:?}"
    );
}

#[test]
fn rejects_tampered_rsa_signature_on_certificate_and_crl() {
    let (_, intermediate_key, root, intermediate, leaf) = rsa_pki(RsaScheme::Pkcs1Sha256);
    let mut der = leaf.to_der().unwrap();
    *der.last_mut().unwrap() ^= 1;
    let tampered = Certificate::from_der(&der).unwrap();
    assert!(matches!(
        validate_path(
            std::slice::from_ref(&root),
            std::slice::from_ref(&intermediate),
            &tampered,
            NOW,
            &client_auth()
        ),
        Err(PathError::BadSignature { .. })
    ));

    let crl = CrlSpec::new(INTERMEDIATE, &intermediate_key).sign(&intermediate_key);
    let mut der = crl.to_der().unwrap();
    *der.last_mut().unwrap() ^= 1;
    let crls = [CertificateList::from_der(&der).unwrap()];
    let options = client_auth().with_crls(&crls, RevocationPolicy::CheckIfAvailable);
    assert!(matches!(
        validate_path(&[root], &[intermediate], &leaf, NOW, &options),
        Err(PathError::CrlBadSignature { .. })
    ));
}

/// `leaf` signed by `key` but labelled with `algorithm`, validated under `root`.
fn validate_relabelled(
    root: &Certificate,
    key: &TestKey,
    algorithm: AlgorithmIdentifierOwned,
) -> Result<ValidatedPath, PathError> {
    let mut spec = wire_leaf_spec(&TestKey::p256(), ROOT, key);
    spec.tbs_algorithm = Some(algorithm.clone());
    spec.outer_algorithm = Some(algorithm);
    let leaf = spec.sign(key);
    validate_path(std::slice::from_ref(root), &[], &leaf, NOW, &client_auth())
}

#[test]
fn rejects_sha1_rsa_signatures() {
    let key = TestKey::rsa_pkcs1();
    let root = root_spec(ROOT, &key, None).sign(&key);
    let sha1 = AlgorithmIdentifierOwned {
        oid: oid::SHA1_WITH_RSA_ENCRYPTION,
        parameters: Some(Any::null()),
    };
    let result = validate_relabelled(&root, &key, sha1);
    assert!(
        matches!(&result, Err(PathError::UnsupportedAlgorithm { algorithm, .. }) if algorithm.contains("SHA-1")),
        "{result:?}"
    );
}

#[test]
fn rejects_pss_with_other_than_the_standard_parameters() {
    let key = TestKey::rsa(RsaScheme::PssSha256);
    let root = root_spec(ROOT, &key, None).sign(&key);
    // The control: the standard SHA-256 set, explicit, verifies.
    validate_relabelled(&root, &key, pss_algorithm(oid::SHA256, oid::SHA256, 32)).unwrap();
    let defaults = AlgorithmIdentifierOwned {
        oid: oid::RSASSA_PSS,
        // An empty RSASSA-PSS-params: SHA-1, MGF1-SHA-1, salt 20.
        parameters: Some(Any::new(der::Tag::Sequence, Vec::new()).unwrap()),
    };
    let no_parameters = AlgorithmIdentifierOwned {
        oid: oid::RSASSA_PSS,
        parameters: None,
    };
    for (what, algorithm) in [
        ("salt 20", pss_algorithm(oid::SHA256, oid::SHA256, 20)),
        ("salt 0", pss_algorithm(oid::SHA256, oid::SHA256, 0)),
        ("MGF1-SHA-1", pss_algorithm(oid::SHA256, oid::SHA1, 32)),
        ("MGF1-SHA-384", pss_algorithm(oid::SHA256, oid::SHA384, 32)),
        ("hash SHA-1", pss_algorithm(oid::SHA1, oid::SHA1, 20)),
        ("defaults", defaults),
        ("no parameters", no_parameters),
    ] {
        let result = validate_relabelled(&root, &key, algorithm);
        assert!(
            matches!(&result, Err(PathError::UnsupportedAlgorithm { algorithm, .. }) if algorithm.starts_with("RSASSA-PSS")),
            "{what}: {result:?}"
        );
    }
    // A PKCS#1 v1.5 signature with parameters other than NULL.
    let key = TestKey::rsa_pkcs1();
    let root = root_spec(ROOT, &key, None).sign(&key);
    let odd = AlgorithmIdentifierOwned {
        oid: oid::SHA256_WITH_RSA_ENCRYPTION,
        parameters: Some(Any::encode_from(&oid::SHA256).unwrap()),
    };
    assert!(matches!(
        validate_relabelled(&root, &key, odd),
        Err(PathError::UnsupportedAlgorithm { .. })
    ));
    // Absent parameters are accepted (RFC 4055 §5).
    let absent = AlgorithmIdentifierOwned {
        oid: oid::SHA256_WITH_RSA_ENCRYPTION,
        parameters: None,
    };
    validate_relabelled(&root, &key, absent).unwrap();
}

/// A certificate of `testdata/rsa-path` (made by its `generate.sh` with the openssl CLI).
fn rsa_fixture(file: &str) -> Certificate {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/rsa-path")
        .join(file);
    crate::x509::certificates_from_pem_or_der(&std::fs::read(path).unwrap())
        .unwrap()
        .remove(0)
}

fn validate_fixture(root: &str, leaf: &str) -> Result<ValidatedPath, PathError> {
    let (root, leaf) = (rsa_fixture(root), rsa_fixture(leaf));
    let time = to_offset(&leaf.tbs_certificate().validity().not_before) + Duration::hours(1);
    let options = ValidationOptions::default().with_required_eku(oid::KP_SERVER_AUTH);
    validate_path(&[root], &[], &leaf, time, &options)
}

#[test]
fn validates_openssl_made_rsa_pkcs1_and_pss_certificates() {
    validate_fixture("root.pem", "leaf-sha256.pem").unwrap();
    validate_fixture("root.pem", "leaf-pss.pem").unwrap();
}

#[test]
fn rejects_openssl_made_sha1_and_weak_or_odd_sized_rsa_certificates() {
    let sha1 = validate_fixture("root.pem", "leaf-sha1.pem");
    assert!(
        matches!(&sha1, Err(PathError::UnsupportedAlgorithm { algorithm, .. }) if algorithm.contains("SHA-1")),
        "{sha1:?}"
    );
    let weak = validate_fixture("root-1024.pem", "leaf-under-1024.pem");
    assert!(
        matches!(&weak, Err(PathError::UnsupportedAlgorithm { subject, algorithm })
            if subject.contains("RSA Root 1024") && algorithm.contains("1024 bits")),
        "{weak:?}"
    );
    for (file, bits) in [("root-1024.pem", 1024), ("root-2052.pem", 2052)] {
        let cert = rsa_fixture(file);
        assert_eq!(
            CertificateKey::from_spki(cert.tbs_certificate().subject_public_key_info()),
            Err(KeyError::RsaKeySize { bits }),
            "{file}"
        );
    }
}
