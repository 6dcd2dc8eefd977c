//! Certificate profiles: root, intermediate, cross-signed intermediate, the Wire client leaf
//! (wire-e2ei-protocol.md §2.5, §7.3) and the TLS server leaf of the standard ACME provisioner
//! (RFC 5280 §4.2, RFC 8555 §7.4; CA/Browser Forum baseline shape); and the CRL profile
//! ([`check_crl`], RFC 5280 §5). Every to-be-signed certificate and CRL is checked against its
//! profile before it is signed; the checks read the encoded TBS, not the builder's inputs.

use std::collections::HashSet;
use std::fmt;

use const_oid::ObjectIdentifier;
use x509_cert::Certificate;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::constraints::name::NameConstraints;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};

use crate::ciphersuite::KeyAlgorithm;
use crate::key::PublicKey;
use crate::oid;
use crate::x509::{name_attribute, name_to_string, time_to_offset};

/// The certificate profiles e2ei issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Self-signed root: CA, pathlen 1, keyCertSign + cRLSign (critical), SKI.
    Root,
    /// Intermediate signed by its own domain's root: CA, pathlen 0, critical name constraints
    /// with permitted URI (federation domain) and DNS subtrees, CRL DP, SKI/AKI.
    Intermediate,
    /// Another domain's intermediate signed by this domain's root for federation: the
    /// intermediate profile with the other domain's name constraints.
    CrossSignedIntermediate,
    /// The Wire client leaf of §7.3.
    WireLeaf,
    /// A TLS server leaf for DNS names: subject empty or `CN=<one of the names>`, SAN exactly
    /// the validated DNS names (critical when the subject is empty), keyUsage digitalSignature
    /// (critical), extKeyUsage serverAuth, SKI/AKI, optional CRL DP, not a CA.
    TlsServerLeaf,
}

impl Profile {
    /// Profile name as used in transcripts and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Intermediate => "intermediate",
            Self::CrossSignedIntermediate => "cross-signed intermediate",
            Self::WireLeaf => "wire leaf",
            Self::TlsServerLeaf => "tls server leaf",
        }
    }
}

/// One way a to-be-signed certificate departs from its profile.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// Not an X.509 v3 certificate.
    NotV3,
    /// Serial number zero, negative or longer than 20 octets.
    BadSerial(String),
    /// The subject lacks a required attribute.
    MissingSubjectAttribute(&'static str),
    /// The subject differs from what the profile requires.
    SubjectMismatch {
        /// Expected subject.
        expected: String,
        /// Actual subject.
        got: String,
    },
    /// The issuer name is not the issuing certificate's subject.
    IssuerMismatch {
        /// The issuing certificate's subject.
        expected: String,
        /// The TBS issuer.
        got: String,
    },
    /// notBefore is not before notAfter.
    EmptyValidity,
    /// The validity extends beyond the issuer's.
    OutlivesIssuer {
        /// Issuer's notAfter.
        issuer_not_after: String,
        /// This certificate's notAfter.
        not_after: String,
    },
    /// The signature algorithm does not match the issuer's key.
    SignatureAlgorithm {
        /// Algorithm of the issuer key.
        expected: String,
        /// OID in the TBS.
        got: String,
    },
    /// The subject key is not an accepted algorithm.
    SubjectKey(String),
    /// A required extension is absent.
    MissingExtension(&'static str),
    /// An extension appears twice.
    DuplicateExtension(String),
    /// An extension the profile does not allow.
    UnexpectedExtension(String),
    /// An extension has the wrong criticality.
    Criticality {
        /// Extension name.
        extension: &'static str,
        /// Required criticality.
        critical: bool,
    },
    /// An extension cannot be decoded.
    MalformedExtension(&'static str),
    /// basicConstraints differ from the profile.
    BasicConstraints {
        /// Expected `(cA, pathLen)`.
        expected: String,
        /// Actual `(cA, pathLen)`.
        got: String,
    },
    /// keyUsage differs from the profile.
    KeyUsage {
        /// Expected usages.
        expected: String,
        /// Actual usages.
        got: String,
    },
    /// extKeyUsage differs from the profile.
    ExtKeyUsage(String),
    /// Name constraints are missing a required subtree or contain an unsupported one.
    NameConstraints(String),
    /// The authority key identifier does not match the issuer's subject key identifier.
    AuthorityKeyId,
    /// The subject key identifier does not match the certified key.
    SubjectKeyId,
    /// Subject alternative names differ from the profile.
    SubjectAltName(String),
    /// CRL distribution points are missing or malformed.
    CrlDistributionPoint(String),
    /// Not an X.509 v2 CRL.
    NotV2,
    /// The CRL issuer's keyUsage does not allow signing CRLs.
    IssuerLacksCrlSign,
    /// thisUpdate / nextUpdate are missing, out of order or wrongly encoded.
    UpdateTimes(String),
    /// The cRLNumber is out of range.
    CrlNumber(String),
    /// The issuingDistributionPoint is not one e2ei publishes.
    IssuingDistributionPoint(String),
    /// The revoked list as a whole is malformed.
    RevokedList(String),
    /// One revoked entry is malformed.
    RevokedEntry {
        /// The entry's serial number, hex.
        serial: String,
        /// What is wrong with it.
        why: String,
    },
    /// More entries are malformed than an error lists.
    MoreRevokedEntries(usize),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotV3 => write!(f, "not an X.509 v3 certificate"),
            Self::BadSerial(why) => write!(f, "serial number {why}"),
            Self::MissingSubjectAttribute(a) => write!(f, "subject has no {a}"),
            Self::SubjectMismatch { expected, got } => {
                write!(f, "subject is `{got}`, expected `{expected}`")
            }
            Self::IssuerMismatch { expected, got } => {
                write!(
                    f,
                    "issuer is `{got}`, but the issuing certificate's subject is `{expected}`"
                )
            }
            Self::EmptyValidity => write!(f, "notBefore is not before notAfter"),
            Self::OutlivesIssuer {
                issuer_not_after,
                not_after,
            } => write!(
                f,
                "notAfter {not_after} is after the issuer's notAfter {issuer_not_after}"
            ),
            Self::SignatureAlgorithm { expected, got } => {
                write!(
                    f,
                    "signature algorithm {got} does not match the issuer key ({expected})"
                )
            }
            Self::SubjectKey(why) => write!(f, "subject public key: {why}"),
            Self::MissingExtension(e) => write!(f, "missing {e}"),
            Self::DuplicateExtension(e) => write!(f, "extension {e} appears more than once"),
            Self::UnexpectedExtension(e) => {
                write!(f, "extension {e} is not allowed by the profile")
            }
            Self::Criticality {
                extension,
                critical,
            } => write!(
                f,
                "{extension} must be {}",
                if *critical {
                    "critical"
                } else {
                    "non-critical"
                }
            ),
            Self::MalformedExtension(e) => write!(f, "{e} cannot be decoded"),
            Self::BasicConstraints { expected, got } => {
                write!(f, "basicConstraints are {got}, expected {expected}")
            }
            Self::KeyUsage { expected, got } => {
                write!(f, "keyUsage is {got}, expected exactly {expected}")
            }
            Self::ExtKeyUsage(why) => write!(f, "extKeyUsage {why}"),
            Self::NameConstraints(why) => write!(f, "nameConstraints {why}"),
            Self::AuthorityKeyId => write!(
                f,
                "authorityKeyIdentifier does not match the issuer's subjectKeyIdentifier"
            ),
            Self::SubjectKeyId => {
                write!(f, "subjectKeyIdentifier does not match the certified key")
            }
            Self::SubjectAltName(why) => write!(f, "subjectAltName {why}"),
            Self::CrlDistributionPoint(why) => write!(f, "cRLDistributionPoints {why}"),
            Self::NotV2 => write!(f, "not an X.509 v2 CRL"),
            Self::IssuerLacksCrlSign => {
                write!(f, "the issuer certificate's keyUsage lacks cRLSign")
            }
            Self::UpdateTimes(why) => write!(f, "{why}"),
            Self::CrlNumber(why) => write!(f, "cRLNumber {why}"),
            Self::IssuingDistributionPoint(why) => write!(f, "issuingDistributionPoint {why}"),
            Self::RevokedList(why) => write!(f, "revokedCertificates {why}"),
            Self::RevokedEntry { serial, why } => write!(f, "revoked entry {serial}: {why}"),
            Self::MoreRevokedEntries(n) => write!(f, "and {n} more malformed revoked entries"),
        }
    }
}

/// A to-be-signed certificate that fails its profile; lists every violation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} profile violated: {}", .profile.name(), .violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ProfileError {
    /// The profile.
    pub profile: Profile,
    /// What is wrong.
    pub violations: Vec<Violation>,
}

/// A to-be-signed CRL that fails the CRL profile; lists every violation (of the revoked
/// entries, the first few, so that a bad list of a million entries gives a readable error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("CRL profile violated: {}", .violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct CrlProfileError {
    /// What is wrong.
    pub violations: Vec<Violation>,
}

/// What a Wire leaf must contain, from the validated tokens (§7.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireLeafExpectations {
    /// Display name (subject CN).
    pub display_name: String,
    /// Federation domain (subject O).
    pub domain: String,
    /// The client-id URI in certificate form (`%21`).
    pub client_id_uri: String,
    /// The qualified handle URI.
    pub handle_uri: String,
}

/// What a TLS server leaf must contain: the order's validated DNS names (lowercase; a wildcard
/// as `*.example.com`) and the subject commonName, if any (one of the names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsLeafExpectations {
    /// The DNS names, each once.
    pub dns_names: Vec<String>,
    /// Subject CN; `None` leaves the subject empty.
    pub common_name: Option<String>,
}

/// The issuing side of a check: the issuer certificate, or the subject itself for a root.
#[derive(Clone, Copy, Debug)]
pub enum IssuerRef<'a> {
    /// Self-signed: the TBS issues itself with this key.
    SelfSigned,
    /// Signed by this certificate.
    Certificate(&'a Certificate),
}

struct Ctx<'a> {
    tbs: &'a TbsCertificate,
    violations: Vec<Violation>,
}

impl Ctx<'_> {
    fn push(&mut self, v: Violation) {
        self.violations.push(v);
    }
}

fn find_extension<'a, T: der::Decode<'a> + const_oid::AssociatedOid>(
    tbs: &'a TbsCertificate,
    name: &'static str,
    violations: &mut Vec<Violation>,
) -> Option<(bool, T)> {
    match tbs.get_extension::<T>() {
        Ok(found) => found,
        Err(_) => {
            violations.push(Violation::MalformedExtension(name));
            None
        }
    }
}

fn usages_to_string(usages: der::flagset::FlagSet<KeyUsages>) -> String {
    let names: Vec<String> = usages.into_iter().map(|u| format!("{u:?}")).collect();
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join("+")
    }
}

/// Checks `tbs` against `profile`. `leaf` is required for [`Profile::WireLeaf`]; a
/// [`Profile::TlsServerLeaf`] is checked with [`check_tls_server_leaf`].
pub fn check(
    profile: Profile,
    tbs: &TbsCertificate,
    issuer: IssuerRef<'_>,
    leaf: Option<&WireLeafExpectations>,
) -> Result<(), ProfileError> {
    check_with(profile, tbs, issuer, leaf, None)
}

/// Checks `tbs` against [`Profile::TlsServerLeaf`] for the names in `expect`.
pub fn check_tls_server_leaf(
    tbs: &TbsCertificate,
    issuer: IssuerRef<'_>,
    expect: &TlsLeafExpectations,
) -> Result<(), ProfileError> {
    check_with(Profile::TlsServerLeaf, tbs, issuer, None, Some(expect))
}

fn check_with(
    profile: Profile,
    tbs: &TbsCertificate,
    issuer: IssuerRef<'_>,
    leaf: Option<&WireLeafExpectations>,
    tls: Option<&TlsLeafExpectations>,
) -> Result<(), ProfileError> {
    let mut ctx = Ctx {
        tbs,
        violations: Vec::new(),
    };
    common_checks(&mut ctx, issuer);
    let v = &mut ctx.violations;
    let subject_key = PublicKey::from_spki(tbs.subject_public_key_info()).ok();

    // Only the extensions a profile names are allowed.
    let allowed: &[ObjectIdentifier] = match profile {
        Profile::Root => &[
            oid::BASIC_CONSTRAINTS,
            oid::KEY_USAGE,
            oid::SUBJECT_KEY_IDENTIFIER,
            oid::AUTHORITY_KEY_IDENTIFIER,
        ],
        Profile::Intermediate | Profile::CrossSignedIntermediate => &[
            oid::BASIC_CONSTRAINTS,
            oid::KEY_USAGE,
            oid::SUBJECT_KEY_IDENTIFIER,
            oid::AUTHORITY_KEY_IDENTIFIER,
            oid::NAME_CONSTRAINTS,
            oid::CRL_DISTRIBUTION_POINTS,
        ],
        Profile::WireLeaf => &[
            oid::BASIC_CONSTRAINTS,
            oid::KEY_USAGE,
            oid::EXT_KEY_USAGE,
            oid::SUBJECT_KEY_IDENTIFIER,
            oid::AUTHORITY_KEY_IDENTIFIER,
            oid::SUBJECT_ALT_NAME,
            oid::CRL_DISTRIBUTION_POINTS,
            oid::STEP_PROVISIONER,
        ],
        Profile::TlsServerLeaf => &[
            oid::BASIC_CONSTRAINTS,
            oid::KEY_USAGE,
            oid::EXT_KEY_USAGE,
            oid::SUBJECT_KEY_IDENTIFIER,
            oid::AUTHORITY_KEY_IDENTIFIER,
            oid::SUBJECT_ALT_NAME,
            oid::CRL_DISTRIBUTION_POINTS,
        ],
    };
    let mut seen = HashSet::new();
    for ext in tbs.extensions().map(|e| e.as_slice()).unwrap_or_default() {
        if !seen.insert(ext.extn_id) {
            v.push(Violation::DuplicateExtension(ext.extn_id.to_string()));
        }
        if !allowed.contains(&ext.extn_id) {
            v.push(Violation::UnexpectedExtension(ext.extn_id.to_string()));
        }
    }

    // Subject key identifier, always present and derived from the certified key.
    match find_extension::<SubjectKeyIdentifier>(tbs, "subjectKeyIdentifier", v) {
        None => v.push(Violation::MissingExtension("subjectKeyIdentifier")),
        Some((critical, ski)) => {
            if critical {
                v.push(Violation::Criticality {
                    extension: "subjectKeyIdentifier",
                    critical: false,
                });
            }
            if let Some(key) = &subject_key {
                if ski.0.as_bytes() != key.key_identifier().as_slice() {
                    v.push(Violation::SubjectKeyId);
                }
            }
        }
    }

    // Authority key identifier: required below a root, equal to the issuer's SKI.
    if let IssuerRef::Certificate(issuer_cert) = issuer {
        match find_extension::<AuthorityKeyIdentifier>(tbs, "authorityKeyIdentifier", v) {
            None => v.push(Violation::MissingExtension("authorityKeyIdentifier")),
            Some((_, aki)) => {
                let issuer_ski = crate::x509::subject_key_id(issuer_cert.tbs_certificate());
                let aki_id = aki.key_identifier.map(|k| k.as_bytes().to_vec());
                if issuer_ski.is_none() || aki_id != issuer_ski {
                    v.push(Violation::AuthorityKeyId);
                }
            }
        }
    }

    let bc = find_extension::<BasicConstraints>(tbs, "basicConstraints", v);
    let ku = find_extension::<KeyUsage>(tbs, "keyUsage", v);
    match profile {
        Profile::Root | Profile::Intermediate | Profile::CrossSignedIntermediate => {
            let want_path_len = if profile == Profile::Root { 1 } else { 0 };
            match bc {
                None => v.push(Violation::MissingExtension("basicConstraints")),
                Some((critical, bc)) => {
                    if !critical {
                        v.push(Violation::Criticality {
                            extension: "basicConstraints",
                            critical: true,
                        });
                    }
                    if !bc.ca || bc.path_len_constraint != Some(want_path_len) {
                        v.push(Violation::BasicConstraints {
                            expected: format!("CA:TRUE, pathlen:{want_path_len}"),
                            got: format!(
                                "CA:{}, pathlen:{}",
                                if bc.ca { "TRUE" } else { "FALSE" },
                                bc.path_len_constraint
                                    .map(|p| p.to_string())
                                    .unwrap_or_else(|| "unlimited".into())
                            ),
                        });
                    }
                }
            }
            let want = KeyUsages::KeyCertSign | KeyUsages::CRLSign;
            check_key_usage(v, ku, want);
            if profile != Profile::Root {
                check_ca_name_constraints(v, tbs);
                match find_extension::<CrlDistributionPoints>(tbs, "cRLDistributionPoints", v) {
                    None => v.push(Violation::MissingExtension("cRLDistributionPoints")),
                    Some((_, dps)) => check_crl_dps(v, &dps),
                }
            }
            if tbs.subject().is_empty() {
                v.push(Violation::MissingSubjectAttribute("name"));
            } else if name_attribute(tbs.subject(), oid::COMMON_NAME).is_none() {
                v.push(Violation::MissingSubjectAttribute("commonName"));
            }
        }
        Profile::WireLeaf => {
            check_leaf_basics(v, tbs, bc, ku, oid::KP_CLIENT_AUTH, "clientAuth");
            match leaf {
                None => v.push(Violation::SubjectAltName(
                    "cannot be checked: no expected Wire identity given".into(),
                )),
                Some(expect) => check_wire_leaf_identity(v, tbs, expect),
            }
        }
        Profile::TlsServerLeaf => {
            // The supported key types sign; none encrypts, so keyEncipherment has no place.
            check_leaf_basics(v, tbs, bc, ku, oid::KP_SERVER_AUTH, "serverAuth");
            match tls {
                None => v.push(Violation::SubjectAltName(
                    "cannot be checked: no expected DNS names given".into(),
                )),
                Some(expect) => check_tls_leaf_identity(v, tbs, expect),
            }
        }
    }

    if ctx.violations.is_empty() {
        Ok(())
    } else {
        Err(ProfileError {
            profile,
            violations: ctx.violations,
        })
    }
}

fn common_checks(ctx: &mut Ctx<'_>, issuer: IssuerRef<'_>) {
    let tbs = ctx.tbs;
    if tbs.version() != Version::V3 {
        ctx.push(Violation::NotV3);
    }
    if let Some(why) = serial_violation(tbs.serial_number().as_bytes()) {
        ctx.push(Violation::BadSerial(why));
    }
    let not_before = time_to_offset(&tbs.validity().not_before);
    let not_after = time_to_offset(&tbs.validity().not_after);
    if not_before >= not_after {
        ctx.push(Violation::EmptyValidity);
    }
    let subject_key = match PublicKey::from_spki(tbs.subject_public_key_info()) {
        Ok(k) => Some(k),
        Err(e) => {
            ctx.push(Violation::SubjectKey(e.to_string()));
            None
        }
    };
    let signing_alg: Option<KeyAlgorithm> = match issuer {
        IssuerRef::SelfSigned => {
            if tbs.issuer() != tbs.subject() {
                ctx.push(Violation::IssuerMismatch {
                    expected: name_to_string(tbs.subject()),
                    got: name_to_string(tbs.issuer()),
                });
            }
            subject_key.as_ref().map(PublicKey::algorithm)
        }
        IssuerRef::Certificate(issuer_cert) => {
            let itbs = issuer_cert.tbs_certificate();
            if tbs.issuer() != itbs.subject() {
                ctx.push(Violation::IssuerMismatch {
                    expected: name_to_string(itbs.subject()),
                    got: name_to_string(tbs.issuer()),
                });
            }
            let issuer_not_after = time_to_offset(&itbs.validity().not_after);
            if not_after > issuer_not_after {
                ctx.push(Violation::OutlivesIssuer {
                    issuer_not_after: issuer_not_after.to_string(),
                    not_after: not_after.to_string(),
                });
            }
            PublicKey::from_spki(itbs.subject_public_key_info())
                .ok()
                .map(|k| k.algorithm())
        }
    };
    if let Some(alg) = signing_alg {
        check_signature_algorithm(&mut ctx.violations, tbs.signature(), alg);
    }
}

/// Why a serial number (DER INTEGER contents) is not one RFC 5280 §4.1.2.2 allows, if it is not.
fn serial_violation(serial: &[u8]) -> Option<String> {
    if serial.len() > 20 {
        Some(format!(
            "is {} octets, at most 20 are allowed",
            serial.len()
        ))
    } else if serial.first().is_some_and(|b| b & 0x80 != 0) {
        Some("is negative".into())
    } else if serial.iter().all(|b| *b == 0) {
        Some("is zero".into())
    } else {
        None
    }
}

fn check_signature_algorithm(
    v: &mut Vec<Violation>,
    signature: &spki::AlgorithmIdentifierOwned,
    issuer_alg: KeyAlgorithm,
) {
    if signature.oid != issuer_alg.signature_oid() || signature.parameters.is_some() {
        v.push(Violation::SignatureAlgorithm {
            expected: issuer_alg.to_string(),
            got: signature.oid.to_string(),
        });
    }
}

fn check_key_usage(
    v: &mut Vec<Violation>,
    ku: Option<(bool, KeyUsage)>,
    want: der::flagset::FlagSet<KeyUsages>,
) {
    match ku {
        None => v.push(Violation::MissingExtension("keyUsage")),
        Some((critical, ku)) => {
            if !critical {
                v.push(Violation::Criticality {
                    extension: "keyUsage",
                    critical: true,
                });
            }
            if ku.0 != want {
                v.push(Violation::KeyUsage {
                    expected: usages_to_string(want),
                    got: usages_to_string(ku.0),
                });
            }
        }
    }
}

fn check_ca_name_constraints(v: &mut Vec<Violation>, tbs: &TbsCertificate) {
    match find_extension::<NameConstraints>(tbs, "nameConstraints", v) {
        None => v.push(Violation::MissingExtension("nameConstraints")),
        Some((critical, nc)) => {
            if !critical {
                v.push(Violation::Criticality {
                    extension: "nameConstraints",
                    critical: true,
                });
            }
            let permitted = nc.permitted_subtrees.unwrap_or_default();
            let mut uris = 0;
            for subtree in &permitted {
                if subtree.minimum != 0 || subtree.maximum.is_some() {
                    v.push(Violation::NameConstraints(
                        "subtrees must not set minimum or maximum (RFC 5280 §4.2.1.10)".into(),
                    ));
                }
                match &subtree.base {
                    GeneralName::UniformResourceIdentifier(uri) => {
                        uris += 1;
                        let host = uri.as_str();
                        if host.is_empty() || host.contains("://") || host.contains('/') {
                            v.push(Violation::NameConstraints(format!(
                                "URI subtree `{host}` must be a host or .domain, not a URI"
                            )));
                        }
                    }
                    GeneralName::DnsName(dns) => {
                        if dns.as_str().is_empty() {
                            v.push(Violation::NameConstraints("empty DNS subtree".into()));
                        }
                    }
                    other => v.push(Violation::NameConstraints(format!(
                        "unsupported permitted subtree {other:?}"
                    ))),
                }
            }
            if uris == 0 {
                v.push(Violation::NameConstraints(
                    "must permit the Wire federation domain as a URI subtree".into(),
                ));
            }
        }
    }
}

/// What every leaf profile asks: not a CA, keyUsage exactly digitalSignature, extKeyUsage
/// exactly `eku`, well-formed CRL distribution points if present.
fn check_leaf_basics(
    v: &mut Vec<Violation>,
    tbs: &TbsCertificate,
    bc: Option<(bool, BasicConstraints)>,
    ku: Option<(bool, KeyUsage)>,
    eku: ObjectIdentifier,
    eku_name: &str,
) {
    if let Some((_, bc)) = bc {
        if bc.ca {
            v.push(Violation::BasicConstraints {
                expected: "CA:FALSE".into(),
                got: "CA:TRUE".into(),
            });
        }
    }
    check_key_usage(v, ku, KeyUsages::DigitalSignature.into());
    match find_extension::<ExtendedKeyUsage>(tbs, "extKeyUsage", v) {
        None => v.push(Violation::MissingExtension("extKeyUsage")),
        Some((_, got)) => {
            if got.0 != [eku] {
                v.push(Violation::ExtKeyUsage(format!(
                    "must be exactly {eku_name}, got {:?}",
                    got.0.iter().map(ToString::to_string).collect::<Vec<_>>()
                )));
            }
        }
    }
    if let Some((_, dps)) = find_extension::<CrlDistributionPoints>(tbs, "cRLDistributionPoints", v)
    {
        check_crl_dps(v, &dps);
    }
}

fn check_crl_dps(v: &mut Vec<Violation>, dps: &CrlDistributionPoints) {
    if dps.0.is_empty() {
        v.push(Violation::CrlDistributionPoint("is empty".into()));
    }
    for dp in &dps.0 {
        if !dp
            .distribution_point
            .as_ref()
            .is_some_and(is_http_full_name)
        {
            v.push(Violation::CrlDistributionPoint(
                "must name HTTP(S) URIs as full names".into(),
            ));
        }
    }
}

/// A distribution point named by HTTP(S) URIs only, as Wire clients fetch them (§8.3).
fn is_http_full_name(name: &x509_cert::ext::pkix::name::DistributionPointName) -> bool {
    use x509_cert::ext::pkix::name::DistributionPointName;
    matches!(name, DistributionPointName::FullName(names)
    if !names.is_empty()
        && names.iter().all(|n| {
            matches!(n, GeneralName::UniformResourceIdentifier(u)
                if u.as_str().starts_with("http://") || u.as_str().starts_with("https://"))
        }))
}

/// How many malformed revoked entries a [`CrlProfileError`] names.
const MAX_ENTRY_VIOLATIONS: usize = 8;

/// Checks a to-be-signed CRL against the profile of the CRLs e2ei signs (RFC 5280 §5):
///
/// - v2; issuer name, signature algorithm and authorityKeyIdentifier (non-critical) those of
///   `issuer`, whose keyUsage must assert cRLSign;
/// - nextUpdate present and after thisUpdate; times as UTCTime through 2049, GeneralizedTime
///   from 2050 (§5.1.2.4);
/// - exactly the extensions authorityKeyIdentifier, cRLNumber (non-critical, non-negative, at
///   most 20 octets) and optionally issuingDistributionPoint (critical, HTTP(S) full-name URIs,
///   at most one of the user/CA flags, no reasons subset, neither indirect nor attribute
///   certificates);
/// - revoked entries in strictly ascending serial order (so no serial twice), each with a
///   valid serial, a revocation date not after thisUpdate, and at most a non-critical
///   reasonCode that is neither unspecified (§5.3.1: omit it instead) nor removeFromCRL (delta
///   CRLs only); no empty list (§5.1.2.6: absent instead).
pub fn check_crl(
    tbs: &x509_cert::crl::TbsCertList,
    issuer: &Certificate,
) -> Result<(), CrlProfileError> {
    let mut v = Vec::new();
    let itbs = issuer.tbs_certificate();
    if tbs.version != x509_cert::certificate::Version::V2 {
        v.push(Violation::NotV2);
    }
    if tbs.issuer != *itbs.subject() {
        v.push(Violation::IssuerMismatch {
            expected: name_to_string(itbs.subject()),
            got: name_to_string(&tbs.issuer),
        });
    }
    match PublicKey::from_spki(itbs.subject_public_key_info()) {
        Ok(key) => check_signature_algorithm(&mut v, &tbs.signature, key.algorithm()),
        Err(e) => v.push(Violation::SignatureAlgorithm {
            expected: format!("a supported issuer key ({e})"),
            got: tbs.signature.oid.to_string(),
        }),
    }
    let issuer_ku = itbs.get_extension::<KeyUsage>().ok().flatten();
    if !issuer_ku.is_some_and(|(_, ku)| ku.crl_sign()) {
        v.push(Violation::IssuerLacksCrlSign);
    }

    let this_update = time_to_offset(&tbs.this_update);
    for (name, time) in [
        ("thisUpdate", Some(&tbs.this_update)),
        ("nextUpdate", tbs.next_update.as_ref()),
    ] {
        if time.is_some_and(|t| !time_encoding_ok(t)) {
            v.push(Violation::UpdateTimes(format!(
                "{name} before 2050 must be a UTCTime"
            )));
        }
    }
    match &tbs.next_update {
        None => v.push(Violation::UpdateTimes(
            "nextUpdate is missing (RFC 5280 §5.1.2.5)".into(),
        )),
        Some(next) if time_to_offset(next) <= this_update => v.push(Violation::UpdateTimes(
            "nextUpdate is not after thisUpdate".into(),
        )),
        Some(_) => {}
    }

    check_crl_extensions(
        &mut v,
        tbs.crl_extensions.as_deref().unwrap_or_default(),
        itbs,
    );
    if tbs.revoked_certificates.as_ref().is_some_and(Vec::is_empty) {
        v.push(Violation::RevokedList(
            "is present but empty (RFC 5280 §5.1.2.6: absent instead)".into(),
        ));
    }
    check_revoked_entries(
        &mut v,
        tbs.revoked_certificates.as_deref().unwrap_or_default(),
        this_update,
    );

    if v.is_empty() {
        Ok(())
    } else {
        Err(CrlProfileError { violations: v })
    }
}

/// The CRL profile's extension rules (see [`check_crl`]).
fn check_crl_extensions(
    v: &mut Vec<Violation>,
    extensions: &[x509_cert::ext::Extension],
    itbs: &TbsCertificate,
) {
    use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
    let mut seen = HashSet::new();
    for ext in extensions {
        if !seen.insert(ext.extn_id) {
            v.push(Violation::DuplicateExtension(ext.extn_id.to_string()));
        }
        let value = ext.extn_value.as_bytes();
        match ext.extn_id {
            oid::AUTHORITY_KEY_IDENTIFIER => {
                check_criticality(v, ext.critical, "authorityKeyIdentifier", false);
                match <AuthorityKeyIdentifier as der::Decode>::from_der(value) {
                    Err(_) => v.push(Violation::MalformedExtension("authorityKeyIdentifier")),
                    Ok(aki) => {
                        let issuer_ski = crate::x509::subject_key_id(itbs);
                        if issuer_ski.is_none()
                            || aki.key_identifier.map(|k| k.as_bytes().to_vec()) != issuer_ski
                        {
                            v.push(Violation::AuthorityKeyId);
                        }
                    }
                }
            }
            oid::CRL_NUMBER => {
                check_criticality(v, ext.critical, "cRLNumber", false);
                match <der::asn1::Int as der::Decode>::from_der(value) {
                    Err(_) => v.push(Violation::MalformedExtension("cRLNumber")),
                    Ok(n) if n.as_bytes().first().is_some_and(|b| b & 0x80 != 0) => {
                        v.push(Violation::CrlNumber("is negative".into()));
                    }
                    // At most 20 octets of magnitude (§5.2.3), besides DER's sign octet.
                    Ok(n)
                        if n.as_bytes()
                            .strip_prefix(&[0])
                            .unwrap_or(n.as_bytes())
                            .len()
                            > 20 =>
                    {
                        v.push(Violation::CrlNumber("is longer than 20 octets".into()));
                    }
                    Ok(_) => {}
                }
            }
            oid::ISSUING_DISTRIBUTION_POINT => {
                check_criticality(v, ext.critical, "issuingDistributionPoint", true);
                match <IssuingDistributionPoint as der::Decode>::from_der(value) {
                    Err(_) => v.push(Violation::MalformedExtension("issuingDistributionPoint")),
                    Ok(idp) => {
                        if idp
                            .distribution_point
                            .as_ref()
                            .is_some_and(|dp| !is_http_full_name(dp))
                        {
                            v.push(Violation::IssuingDistributionPoint(
                                "must name HTTP(S) URIs as full names".into(),
                            ));
                        }
                        if idp.only_contains_user_certs && idp.only_contains_ca_certs {
                            v.push(Violation::IssuingDistributionPoint(
                                "sets both onlyContainsUserCerts and onlyContainsCACerts".into(),
                            ));
                        }
                        if idp.only_some_reasons.is_some()
                            || idp.indirect_crl
                            || idp.only_contains_attribute_certs
                        {
                            v.push(Violation::IssuingDistributionPoint(
                                "must not restrict reasons, be indirect or cover attribute certificates".into(),
                            ));
                        }
                    }
                }
            }
            other => v.push(Violation::UnexpectedExtension(other.to_string())),
        }
    }
    for (required, name) in [
        (oid::AUTHORITY_KEY_IDENTIFIER, "authorityKeyIdentifier"),
        (oid::CRL_NUMBER, "cRLNumber"),
    ] {
        if !seen.contains(&required) {
            v.push(Violation::MissingExtension(name));
        }
    }
}

fn check_criticality(v: &mut Vec<Violation>, is: bool, extension: &'static str, critical: bool) {
    if is != critical {
        v.push(Violation::Criticality {
            extension,
            critical,
        });
    }
}

/// The CRL profile's rules for revoked entries (see [`check_crl`]).
fn check_revoked_entries(
    v: &mut Vec<Violation>,
    entries: &[x509_cert::crl::RevokedCert],
    this_update: time::OffsetDateTime,
) {
    use x509_cert::ext::pkix::CrlReason;
    let mut bad_entries = 0usize;
    let mut report = |v: &mut Vec<Violation>, serial: &[u8], why: String| {
        if bad_entries < MAX_ENTRY_VIOLATIONS {
            v.push(Violation::RevokedEntry {
                serial: hex::encode(serial),
                why,
            });
        }
        bad_entries += 1;
    };
    let mut previous: Option<&[u8]> = None;
    for entry in entries {
        let serial = entry.serial_number.as_bytes();
        if let Some(why) = serial_violation(serial) {
            report(v, serial, format!("serial number {why}"));
        }
        match previous.map(|p| crate::x509::serial_cmp(p, serial)) {
            Some(std::cmp::Ordering::Equal) => report(v, serial, "listed twice".into()),
            Some(std::cmp::Ordering::Greater) => {
                report(v, serial, "out of serial number order".into());
            }
            _ => {}
        }
        previous = Some(serial);
        if !time_encoding_ok(&entry.revocation_date) {
            report(
                v,
                serial,
                "revocation date before 2050 must be a UTCTime".into(),
            );
        }
        if time_to_offset(&entry.revocation_date) > this_update {
            report(v, serial, "revocation date after thisUpdate".into());
        }
        for (i, ext) in entry
            .crl_entry_extensions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if i > 0 || ext.extn_id != oid::CRL_REASON {
                report(
                    v,
                    serial,
                    format!(
                        "extension {} is not allowed (only one reasonCode)",
                        ext.extn_id
                    ),
                );
                continue;
            }
            if ext.critical {
                report(v, serial, "reasonCode must be non-critical".into());
            }
            match <CrlReason as der::Decode>::from_der(ext.extn_value.as_bytes()) {
                Err(_) => report(v, serial, "reasonCode cannot be decoded".into()),
                Ok(CrlReason::Unspecified) => report(
                    v,
                    serial,
                    "reasonCode unspecified must be omitted (RFC 5280 §5.3.1)".into(),
                ),
                Ok(CrlReason::RemoveFromCRL) => {
                    report(v, serial, "removeFromCRL belongs in delta CRLs only".into());
                }
                Ok(_) => {}
            }
        }
    }
    if bad_entries > MAX_ENTRY_VIOLATIONS {
        v.push(Violation::MoreRevokedEntries(
            bad_entries - MAX_ENTRY_VIOLATIONS,
        ));
    }
}

/// UTCTime through 2049, GeneralizedTime from 2050 on (RFC 5280 §5.1.2.4, §4.1.2.5).
fn time_encoding_ok(time: &x509_cert::time::Time) -> bool {
    match time {
        x509_cert::time::Time::UtcTime(_) => true,
        x509_cert::time::Time::GeneralTime(t) => t.to_date_time().year() >= 2050,
    }
}

fn check_wire_leaf_identity(
    v: &mut Vec<Violation>,
    tbs: &TbsCertificate,
    expect: &WireLeafExpectations,
) {
    // Subject: exactly O=<domain>, CN=<display name>, in that order (§7.3).
    let attrs: Vec<(ObjectIdentifier, String)> = tbs
        .subject()
        .iter()
        .map(|atv| (atv.oid, crate::x509::attribute_value_string(&atv.value)))
        .collect();
    let want = vec![
        (oid::ORGANIZATION, expect.domain.clone()),
        (oid::COMMON_NAME, expect.display_name.clone()),
    ];
    if attrs != want {
        v.push(Violation::SubjectMismatch {
            expected: format!("O={}, CN={}", expect.domain, expect.display_name),
            got: name_to_string(tbs.subject()),
        });
    }
    match find_extension::<SubjectAltName>(tbs, "subjectAltName", v) {
        None => v.push(Violation::MissingExtension("subjectAltName")),
        Some((_, san)) => {
            let mut uris = Vec::new();
            for name in &san.0 {
                match name {
                    GeneralName::UniformResourceIdentifier(u) => uris.push(u.as_str().to_owned()),
                    other => v.push(Violation::SubjectAltName(format!(
                        "must hold only URIs, found {other:?}"
                    ))),
                }
            }
            let mut got = uris.clone();
            got.sort();
            let mut want = vec![expect.handle_uri.clone(), expect.client_id_uri.clone()];
            want.sort();
            if got != want {
                v.push(Violation::SubjectAltName(format!(
                    "must be exactly {want:?}, got {uris:?}"
                )));
            }
        }
    }
}

fn check_tls_leaf_identity(
    v: &mut Vec<Violation>,
    tbs: &TbsCertificate,
    expect: &TlsLeafExpectations,
) {
    let attrs: Vec<(ObjectIdentifier, String)> = tbs
        .subject()
        .iter()
        .map(|atv| (atv.oid, crate::x509::attribute_value_string(&atv.value)))
        .collect();
    let want: Vec<(ObjectIdentifier, String)> = expect
        .common_name
        .iter()
        .map(|cn| (oid::COMMON_NAME, cn.clone()))
        .collect();
    if attrs != want {
        v.push(Violation::SubjectMismatch {
            expected: expect
                .common_name
                .as_ref()
                .map(|cn| format!("CN={cn}"))
                .unwrap_or_else(|| "(empty)".into()),
            got: name_to_string(tbs.subject()),
        });
    }
    if let Some(cn) = &expect.common_name {
        if !expect.dns_names.contains(cn) {
            v.push(Violation::SubjectMismatch {
                expected: "a commonName that is one of the DNS names".into(),
                got: format!("CN={cn}"),
            });
        }
        // RFC 5280 ub-common-name.
        if cn.len() > 64 {
            v.push(Violation::SubjectMismatch {
                expected: "a commonName of at most 64 characters".into(),
                got: format!("CN={cn}"),
            });
        }
    }
    match find_extension::<SubjectAltName>(tbs, "subjectAltName", v) {
        None => v.push(Violation::MissingExtension("subjectAltName")),
        Some((critical, san)) => {
            // RFC 5280 §4.2.1.6: critical when the subject is empty, non-critical otherwise.
            let empty_subject = tbs.subject().is_empty();
            if critical != empty_subject {
                v.push(Violation::Criticality {
                    extension: "subjectAltName",
                    critical: empty_subject,
                });
            }
            let mut names = Vec::new();
            for name in &san.0 {
                match name {
                    GeneralName::DnsName(d) => names.push(d.as_str().to_owned()),
                    other => v.push(Violation::SubjectAltName(format!(
                        "must hold only DNS names, found {other:?}"
                    ))),
                }
            }
            let mut got = names.clone();
            got.sort();
            let mut want = expect.dns_names.clone();
            want.sort();
            if got != want || want.is_empty() {
                v.push(Violation::SubjectAltName(format!(
                    "must be exactly the DNS names {want:?}, got {names:?}"
                )));
            }
        }
    }
}

/// The issuer's key and the identifier a leaf's AKI names: its SKI, or one derived from the key.
fn issuer_key_and_id(issuer: &Certificate) -> Result<(PublicKey, Vec<u8>), crate::x509::X509Error> {
    let tbs = issuer.tbs_certificate();
    let key = PublicKey::from_spki(tbs.subject_public_key_info()).map_err(|e| {
        crate::x509::X509Error::Encoding {
            what: "issuer key",
            reason: e.to_string(),
        }
    })?;
    let id = crate::x509::subject_key_id(tbs).unwrap_or_else(|| key.key_identifier());
    Ok((key, id))
}

/// The parts of a TLS server leaf (see [`Profile::TlsServerLeaf`]). Check the result with
/// [`check_tls_server_leaf`] before signing.
pub fn tls_server_leaf_parts(
    expect: &TlsLeafExpectations,
    subject_key: PublicKey,
    issuer: &Certificate,
    validity: x509_cert::time::Validity,
    crl_distribution_point: Option<&str>,
) -> Result<crate::x509::CertificateParts, crate::x509::X509Error> {
    use crate::x509::{
        NameAttribute, authority_key_identifier, build_name, crl_distribution_points,
        ext_key_usage, key_usage, random_serial, subject_alt_name_dns, subject_key_identifier,
    };
    let issuer_tbs = issuer.tbs_certificate();
    let (issuer_key, issuer_key_id) = issuer_key_and_id(issuer)?;
    let subject = build_name(
        &expect
            .common_name
            .iter()
            .map(|cn| NameAttribute {
                oid: oid::COMMON_NAME,
                value: cn.clone(),
            })
            .collect::<Vec<_>>(),
    )?;
    let mut extensions = vec![
        key_usage(KeyUsages::DigitalSignature.into())?,
        ext_key_usage(&[oid::KP_SERVER_AUTH])?,
        subject_key_identifier(&subject_key)?,
        authority_key_identifier(&issuer_key_id)?,
        subject_alt_name_dns(&expect.dns_names, subject.is_empty())?,
    ];
    if let Some(url) = crl_distribution_point {
        extensions.push(crl_distribution_points(&[url.to_owned()])?);
    }
    Ok(crate::x509::CertificateParts {
        serial: random_serial()?,
        issuer: issuer_tbs.subject().clone(),
        subject,
        validity,
        subject_public_key: subject_key,
        issuer_algorithm: issuer_key.algorithm(),
        extensions,
    })
}

impl WireLeafExpectations {
    /// The identity a leaf for `client_id` must carry.
    pub fn new(
        client_id: &crate::id::ClientId,
        handle: &crate::id::QualifiedHandle,
        display_name: &crate::id::DisplayName,
    ) -> Self {
        Self {
            display_name: display_name.as_str().to_owned(),
            domain: client_id.domain().as_str().to_owned(),
            client_id_uri: client_id.to_certificate_uri(),
            handle_uri: handle.to_uri(),
        }
    }
}

/// The parts of a Wire client leaf (§7.3): subject `O=<domain>, CN=<display name>`, SAN URIs
/// handle and client id (`%21`), keyUsage digitalSignature (critical), EKU clientAuth, SKI/AKI,
/// optional CRL distribution point. Check the result with [`check`] before signing.
pub fn wire_leaf_parts(
    identity: &WireLeafExpectations,
    subject_key: PublicKey,
    issuer: &Certificate,
    validity: x509_cert::time::Validity,
    crl_distribution_point: Option<&str>,
) -> Result<crate::x509::CertificateParts, crate::x509::X509Error> {
    use crate::x509::{
        NameAttribute, authority_key_identifier, build_name, crl_distribution_points,
        ext_key_usage, key_usage, random_serial, subject_alt_name_uris, subject_key_identifier,
    };
    let issuer_tbs = issuer.tbs_certificate();
    let (issuer_key, issuer_key_id) = issuer_key_and_id(issuer)?;
    let mut extensions = vec![
        key_usage(KeyUsages::DigitalSignature.into())?,
        ext_key_usage(&[oid::KP_CLIENT_AUTH])?,
        subject_key_identifier(&subject_key)?,
        authority_key_identifier(&issuer_key_id)?,
        subject_alt_name_uris(&[identity.handle_uri.clone(), identity.client_id_uri.clone()])?,
    ];
    if let Some(url) = crl_distribution_point {
        extensions.push(crl_distribution_points(&[url.to_owned()])?);
    }
    Ok(crate::x509::CertificateParts {
        serial: random_serial()?,
        issuer: issuer_tbs.subject().clone(),
        subject: build_name(&[
            NameAttribute {
                oid: oid::ORGANIZATION,
                value: identity.domain.clone(),
            },
            NameAttribute {
                oid: oid::COMMON_NAME,
                value: identity.display_name.clone(),
            },
        ])?,
        validity,
        subject_public_key: subject_key,
        issuer_algorithm: issuer_key.algorithm(),
        extensions,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::x509::{
        CertificateParts, NameAttribute, ToBeSigned, authority_key_identifier, basic_constraints,
        build_name, crl_distribution_points, key_usage, name_constraints, random_serial,
        subject_key_identifier, validity,
    };
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    use time::{Duration, OffsetDateTime};

    fn key() -> (EcdsaKeyPair, PublicKey) {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let public = PublicKey::from_raw(KeyAlgorithm::P256, pair.public_key().as_ref()).unwrap();
        (pair, public)
    }

    fn cn(name: &str) -> x509_cert::name::Name {
        build_name(&[NameAttribute {
            oid: oid::COMMON_NAME,
            value: name.into(),
        }])
        .unwrap()
    }

    fn sign(pair: &EcdsaKeyPair, tbs: ToBeSigned) -> Certificate {
        let sig = pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), tbs.der())
            .unwrap();
        tbs.into_certificate(sig.as_ref()).unwrap()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
    }

    fn root() -> (EcdsaKeyPair, Certificate) {
        let (pair, public) = key();
        let tbs = ToBeSigned::new(CertificateParts {
            serial: random_serial().unwrap(),
            issuer: cn("Wire Root CA"),
            subject: cn("Wire Root CA"),
            validity: validity(now(), now() + Duration::days(3650)).unwrap(),
            issuer_algorithm: KeyAlgorithm::P256,
            extensions: vec![
                basic_constraints(true, Some(1)).unwrap(),
                key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign).unwrap(),
                subject_key_identifier(&public).unwrap(),
            ],
            subject_public_key: public,
        })
        .unwrap();
        check(Profile::Root, tbs.parsed(), IssuerRef::SelfSigned, None).unwrap();
        let cert = sign(&pair, tbs);
        (pair, cert)
    }

    fn intermediate_tbs(
        root: &Certificate,
        path_len: u8,
        permitted_uri: &[&str],
    ) -> (EcdsaKeyPair, ToBeSigned) {
        let (pair, public) = key();
        let mut extensions = vec![
            basic_constraints(true, Some(path_len)).unwrap(),
            key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign).unwrap(),
            subject_key_identifier(&public).unwrap(),
            authority_key_identifier(&crate::x509::subject_key_id(root.tbs_certificate()).unwrap())
                .unwrap(),
            crl_distribution_points(&["https://acme.wire.example.com/root.crl".into()]).unwrap(),
        ];
        if !permitted_uri.is_empty() {
            extensions.push(
                name_constraints(
                    &["acme.wire.example.com".into()],
                    &permitted_uri
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
            );
        }
        let tbs = ToBeSigned::new(CertificateParts {
            serial: random_serial().unwrap(),
            issuer: root.tbs_certificate().subject().clone(),
            subject: cn("Wire Intermediate CA"),
            validity: validity(now(), now() + Duration::days(365)).unwrap(),
            issuer_algorithm: KeyAlgorithm::P256,
            extensions,
            subject_public_key: public,
        })
        .unwrap();
        (pair, tbs)
    }

    fn violations(result: Result<(), ProfileError>) -> Vec<Violation> {
        result.expect_err("profile must reject").violations
    }

    #[test]
    fn accepts_root_intermediate_and_wire_leaf() {
        let (root_pair, root) = root();
        let (_, tbs) = intermediate_tbs(&root, 0, &["wire.example.com"]);
        check(
            Profile::Intermediate,
            tbs.parsed(),
            IssuerRef::Certificate(&root),
            None,
        )
        .unwrap();
        let intermediate = sign(&root_pair, tbs);
        let client: crate::id::ClientId =
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.example.com"
                .parse()
                .unwrap();
        let handle: crate::id::QualifiedHandle =
            "wireapp://%40alice_wire@wire.example.com".parse().unwrap();
        let name = crate::id::DisplayName::new("Smith, Alice M (QA)").unwrap();
        let identity = WireLeafExpectations::new(&client, &handle, &name);
        assert_eq!(
            identity.client_id_uri,
            "wireapp://yRbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.example.com"
        );
        let (_, leaf_key) = key();
        let parts = wire_leaf_parts(
            &identity,
            leaf_key,
            &intermediate,
            validity(now(), now() + Duration::days(90)).unwrap(),
            Some("https://acme.wire.example.com/crl"),
        )
        .unwrap();
        let tbs = ToBeSigned::new(parts).unwrap();
        check(
            Profile::WireLeaf,
            tbs.parsed(),
            IssuerRef::Certificate(&intermediate),
            Some(&identity),
        )
        .unwrap();
    }

    #[test]
    fn rejects_intermediate_without_name_constraints() {
        let (_, root) = root();
        let (_, tbs) = intermediate_tbs(&root, 0, &[]);
        let v = violations(check(
            Profile::Intermediate,
            tbs.parsed(),
            IssuerRef::Certificate(&root),
            None,
        ));
        assert!(
            v.contains(&Violation::MissingExtension("nameConstraints")),
            "{v:?}"
        );
    }

    #[test]
    fn rejects_intermediate_with_pathlen_above_zero() {
        let (_, root) = root();
        let (_, tbs) = intermediate_tbs(&root, 1, &["wire.example.com"]);
        let v = violations(check(
            Profile::Intermediate,
            tbs.parsed(),
            IssuerRef::Certificate(&root),
            None,
        ));
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::BasicConstraints { .. })),
            "{v:?}"
        );
    }

    #[test]
    fn rejects_intermediate_whose_issuer_name_is_not_the_root() {
        let (_, root) = root();
        let (_, other_root) = self::root();
        let (_, tbs) = intermediate_tbs(&root, 0, &["wire.example.com"]);
        let v = violations(check(
            Profile::Intermediate,
            tbs.parsed(),
            IssuerRef::Certificate(&other_root),
            None,
        ));
        // Same subject name, different key: the AKI gives it away.
        assert!(v.contains(&Violation::AuthorityKeyId), "{v:?}");
    }

    #[test]
    fn rejects_root_with_wrong_path_len_and_missing_key_usage() {
        let (_, public) = key();
        let tbs = ToBeSigned::new(CertificateParts {
            serial: random_serial().unwrap(),
            issuer: cn("Root"),
            subject: cn("Root"),
            validity: validity(now(), now() + Duration::days(1)).unwrap(),
            issuer_algorithm: KeyAlgorithm::P256,
            extensions: vec![
                basic_constraints(true, Some(3)).unwrap(),
                subject_key_identifier(&public).unwrap(),
            ],
            subject_public_key: public,
        })
        .unwrap();
        let v = violations(check(
            Profile::Root,
            tbs.parsed(),
            IssuerRef::SelfSigned,
            None,
        ));
        assert!(
            v.contains(&Violation::MissingExtension("keyUsage")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::BasicConstraints { .. })),
            "{v:?}"
        );
    }

    fn tls_leaf(intermediate: &Certificate, expect: &TlsLeafExpectations) -> ToBeSigned {
        let (_, leaf_key) = key();
        ToBeSigned::new(
            tls_server_leaf_parts(
                expect,
                leaf_key,
                intermediate,
                validity(now(), now() + Duration::days(90)).unwrap(),
                Some("https://acme.wire.example.com/crl"),
            )
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn accepts_tls_server_leaves_with_and_without_a_common_name() {
        let (root_pair, root) = root();
        let (_, tbs) = intermediate_tbs(&root, 0, &["wire.example.com"]);
        let intermediate = sign(&root_pair, tbs);
        for common_name in [None, Some("a.wire.example.com".to_owned())] {
            let expect = TlsLeafExpectations {
                dns_names: vec!["a.wire.example.com".into(), "*.b.wire.example.com".into()],
                common_name,
            };
            let tbs = tls_leaf(&intermediate, &expect);
            check_tls_server_leaf(tbs.parsed(), IssuerRef::Certificate(&intermediate), &expect)
                .unwrap();
            let (critical, _) = tbs
                .parsed()
                .get_extension::<SubjectAltName>()
                .unwrap()
                .unwrap();
            assert_eq!(critical, expect.common_name.is_none());
        }
    }

    #[test]
    fn rejects_tls_leaf_with_other_names_or_a_foreign_common_name() {
        let (root_pair, root) = root();
        let (_, tbs) = intermediate_tbs(&root, 0, &["wire.example.com"]);
        let intermediate = sign(&root_pair, tbs);
        let issued = TlsLeafExpectations {
            dns_names: vec!["a.wire.example.com".into()],
            common_name: Some("a.wire.example.com".into()),
        };
        let tbs = tls_leaf(&intermediate, &issued);
        let other = TlsLeafExpectations {
            dns_names: vec!["a.wire.example.com".into(), "b.wire.example.com".into()],
            common_name: None,
        };
        let v = violations(check_tls_server_leaf(
            tbs.parsed(),
            IssuerRef::Certificate(&intermediate),
            &other,
        ));
        assert!(
            v.iter().any(|v| matches!(v, Violation::SubjectAltName(_))),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::SubjectMismatch { .. })),
            "{v:?}"
        );
        let foreign_cn = TlsLeafExpectations {
            dns_names: vec!["a.wire.example.com".into()],
            common_name: Some("evil.example.com".into()),
        };
        let tbs = tls_leaf(&intermediate, &foreign_cn);
        let v = violations(check_tls_server_leaf(
            tbs.parsed(),
            IssuerRef::Certificate(&intermediate),
            &foreign_cn,
        ));
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::SubjectMismatch { .. })),
            "{v:?}"
        );
        // A Wire leaf is not a TLS server leaf: clientAuth, URI SANs.
        let v = violations(check(
            Profile::TlsServerLeaf,
            tls_leaf(&intermediate, &issued).parsed(),
            IssuerRef::Certificate(&intermediate),
            None,
        ));
        assert!(
            v.iter().any(|v| matches!(v, Violation::SubjectAltName(_))),
            "{v:?}"
        );
    }

    #[test]
    fn rejects_leaf_whose_sans_differ_from_the_validated_identity() {
        let (root_pair, root) = root();
        let (_, tbs) = intermediate_tbs(&root, 0, &["wire.example.com"]);
        let intermediate = sign(&root_pair, tbs);
        let identity = WireLeafExpectations {
            display_name: "Alice".into(),
            domain: "wire.example.com".into(),
            client_id_uri: "wireapp://yRbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.example.com"
                .into(),
            handle_uri: "wireapp://%40alice@wire.example.com".into(),
        };
        let (_, leaf_key) = key();
        let tbs = ToBeSigned::new(
            wire_leaf_parts(
                &identity,
                leaf_key,
                &intermediate,
                validity(now(), now() + Duration::days(1)).unwrap(),
                None,
            )
            .unwrap(),
        )
        .unwrap();
        let mallory = WireLeafExpectations {
            handle_uri: "wireapp://%40mallory@wire.example.com".into(),
            display_name: "Mallory".into(),
            ..identity
        };
        let v = violations(check(
            Profile::WireLeaf,
            tbs.parsed(),
            IssuerRef::Certificate(&intermediate),
            Some(&mallory),
        ));
        assert!(
            v.iter().any(|v| matches!(v, Violation::SubjectAltName(_))),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::SubjectMismatch { .. })),
            "{v:?}"
        );
    }

    fn crl_parts(issuer: &Certificate) -> crate::x509::CrlParts {
        use crate::x509::{CrlParts, CrlReason, CrlScope, RevokedEntry};
        CrlParts {
            issuer: issuer.clone(),
            this_update: now(),
            next_update: now() + Duration::days(1),
            crl_number: 1,
            revoked: (0..3)
                .map(|i| RevokedEntry {
                    serial: random_serial().unwrap(),
                    revocation_date: now() - Duration::hours(1),
                    reason: [
                        None,
                        Some(CrlReason::Unspecified),
                        Some(CrlReason::Superseded),
                    ][i],
                })
                .collect(),
            distribution_point: Some("https://acme.wire.example.com/root.crl".into()),
            scope: CrlScope::CaCertificates,
        }
    }

    #[test]
    fn accepts_the_crls_e2ei_assembles() {
        let (_, root) = root();
        let tbs = crate::x509::CrlToBeSigned::new(crl_parts(&root)).unwrap();
        check_crl(tbs.parsed(), &root).unwrap();
        let mut empty = crl_parts(&root);
        empty.revoked.clear();
        empty.distribution_point = None;
        empty.scope = crate::x509::CrlScope::All;
        let tbs = crate::x509::CrlToBeSigned::new(empty).unwrap();
        check_crl(tbs.parsed(), &root).unwrap();
    }

    #[test]
    fn rejects_crls_that_break_the_profile() {
        use x509_cert::ext::pkix::CrlReason as X;
        let (_, root) = root();
        let (_, other_root) = self::root();
        let good = crate::x509::CrlToBeSigned::new(crl_parts(&root))
            .unwrap()
            .parsed()
            .clone();
        let violations = |tbs: &x509_cert::crl::TbsCertList, issuer: &Certificate| {
            check_crl(tbs, issuer)
                .expect_err("profile must reject")
                .violations
        };

        // Same subject, another key: the AKI gives it away.
        assert_eq!(violations(&good, &other_root), [Violation::AuthorityKeyId]);

        let mut tbs = good.clone();
        let entries = tbs.revoked_certificates.as_mut().unwrap();
        entries.swap(0, 2);
        entries[1].crl_entry_extensions = Some(vec![x509_cert::ext::Extension {
            extn_id: oid::CRL_REASON,
            critical: false,
            extn_value: der::asn1::OctetString::new(der::Encode::to_der(&X::Unspecified).unwrap())
                .unwrap(),
        }]);
        let got = violations(&tbs, &root);
        assert!(
            got.iter()
                .any(|v| v.to_string().contains("out of serial number order")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|v| v.to_string().contains("unspecified must be omitted")),
            "{got:?}"
        );

        let mut tbs = good.clone();
        tbs.revoked_certificates = Some(Vec::new());
        let exts = tbs.crl_extensions.as_mut().unwrap();
        exts.retain(|e| e.extn_id != oid::CRL_NUMBER);
        for e in exts.iter_mut() {
            if e.extn_id == oid::ISSUING_DISTRIBUTION_POINT {
                e.critical = false;
            }
        }
        let got = violations(&tbs, &root);
        assert!(
            got.contains(&Violation::MissingExtension("cRLNumber")),
            "{got:?}"
        );
        assert!(
            got.contains(&Violation::Criticality {
                extension: "issuingDistributionPoint",
                critical: true
            }),
            "{got:?}"
        );
        assert!(
            got.iter().any(|v| matches!(v, Violation::RevokedList(_))),
            "{got:?}"
        );
    }
}
