//! RFC 5280 §6 certification path validation with name constraints and CRLs — the validation
//! core behind `e2ei-ca verify`, the ACME server and the client (wire-e2ei-protocol.md §8.1
//! step 2, §8.3). Pure: no I/O, the validation time and the CRLs are inputs.
//!
//! Entry point: [`validate_path`]. It builds candidate paths from the end-entity certificate
//! through the untrusted intermediates to a trust anchor, validates each candidate, and returns
//! the first one that passes as a [`ValidatedPath`] (the only way to obtain one), or the most
//! specific [`PathError`] met on the way.
//!
//! # Path building
//!
//! Candidate issuers of a certificate are certificates whose subject equals its issuer name
//! (RFC 5280 §7.1 comparison) and, when the certificate has an authorityKeyIdentifier
//! keyIdentifier and the candidate a subjectKeyIdentifier, whose key identifiers agree. Trust
//! anchors are tried before intermediates at every step, alternatives are explored depth first
//! (cross-signed intermediates give several candidates), a subject + public key pair never
//! occurs twice in a path (no loops), and the search is bounded by
//! [`ValidationOptions::max_intermediates`] and by a budget of signature verifications.
//!
//! # Trust anchors
//!
//! A trust anchor is trusted as its subject name and public key (RFC 5280 §6.1.1 (d)). Its own
//! signature, validity, key usage and extensions are **not** checked: replacing an expired root
//! is the operator's job, not the validator's. Two of its extensions are honoured as
//! constraints on the path below it, because they narrow what the anchor may certify and
//! ignoring them would widen trust: nameConstraints (applied like an intermediate's) and the
//! basicConstraints pathLenConstraint. Its keyUsage, when present, must allow cRLSign for its
//! CRLs to be accepted.
//!
//! # Checks on every certificate below the anchor
//!
//! - signature by the issuer's key, over the DER re-encoding of the parsed TBSCertificate (a
//!   certificate whose encoding is not canonical DER, e.g. a GeneralizedTime before 2050, fails
//!   as [`PathError::BadSignature`]); `signature` inside the TBS equal to `signatureAlgorithm`;
//!   supported algorithms only: Ed25519; ECDSA on P-256/P-384/P-521 with SHA-256/384/512
//!   (parameters absent); and, for other PKIs' chains (federation, real-world roots), RSA of
//!   2048 to 8192 bits (a multiple of 8, CA/Browser Forum BR §6.1.5) with PKCS#1 v1.5 and
//!   SHA-256/384/512 or RSASSA-PSS with SHA-256/384/512, MGF1 of the same hash and a salt of
//!   the hash's length. Anything else (SHA-1, other RSA key sizes, other PSS parameters) is
//!   [`PathError::UnsupportedAlgorithm`], for the trust anchor's key too when it signs;
//! - `notBefore <= t <= notAfter`, at one-second resolution (X.509 times have no fractions);
//! - v3 when extensions are present, no unique identifiers in v1, positive serial number,
//!   non-empty issuer name;
//! - a supported public key (the end entity's included). An RSA end-entity key passes path
//!   validation; it is never a Wire/MLS key, which callers check on the leaf (the client's
//!   `verify_chain` reads it with [`PublicKey::from_spki`](crate::key::PublicKey::from_spki),
//!   which refuses RSA);
//! - no duplicate extension, no unrecognised critical extension; recognised: basicConstraints,
//!   keyUsage, extKeyUsage, subjectAltName, nameConstraints, certificatePolicies, AKI, SKI,
//!   cRLDistributionPoints, and policyConstraints / inhibitAnyPolicy / policyMappings, which are
//!   accepted without policy processing and reported in [`ValidatedPath::notes`];
//! - keyCertSign in keyUsage only together with basicConstraints cA (RFC 5280 §4.2.1.3);
//! - issuing certificates: a non-empty subject, basicConstraints cA=TRUE (criticality not
//!   required), keyUsage (when present) with keyCertSign, pathLenConstraint counting the
//!   non-self-issued intermediates below (RFC 5280 §6.1.4 (l)–(m));
//! - name constraints of every CA above (and of the anchor), applied to the subject DN and
//!   subjectAltName (see `names.rs` for the forms and their matching rules); self-issued
//!   intermediates are exempt, as RFC 5280 §6.1.3 (b) says; constraints the validator cannot
//!   read and names it cannot compare under a constraint of their type fail closed;
//! - extended key usage: with [`ValidationOptions::required_eku`] set, a certificate that has
//!   extKeyUsage must list that purpose or anyExtendedKeyUsage (RFC 5280 §4.2.1.12); a leaf
//!   without extKeyUsage is unrestricted. The same rule applies to intermediates that carry
//!   extKeyUsage (as Go, NSS and OpenSSL do), since a CA restricted to other purposes should
//!   not vouch for this one. An empty extKeyUsage is malformed.
//!
//! # Revocation
//!
//! With CRLs given and [`RevocationPolicy::CheckIfAvailable`] or [`RevocationPolicy::Require`],
//! every certificate below the anchor is looked up on the CRLs of its issuer (see `crl.rs`).
//! A CRL that is present but unusable (bad signature, expired, not yet valid, malformed) is an
//! error under both policies: callers who prefer to carry on with a stale CRL drop it before
//! calling. Without any CRL for an issuer, `CheckIfAvailable` records the certificate as
//! [`RevocationStatus::NotDetermined`] and `Require` fails.
//!
//! # Not implemented
//!
//! - certificate policy processing (RFC 5280 §6.1.2 (a), (d)–(j), §6.1.3 (d)–(f), §6.1.4
//!   (a)–(b), (h)–(j), §6.1.5 (g)): no valid_policy_tree, no initial policy set, no
//!   requireExplicitPolicy / inhibitPolicyMapping / inhibitAnyPolicy enforcement;
//! - delta CRLs, indirect CRLs, CRL distribution point fetching, OCSP, AIA chasing;
//! - DSA, Ed448, SHA-1 and other signature algorithms; RSA keys of the id-RSASSA-PSS key
//!   type (rsaEncryption keys only);
//! - name constraints on otherName, x400Address and ediPartyName (fail closed when such a
//!   constraint meets such a name); `minimum`/`maximum` other than the RFC's 0/absent (the
//!   extension is rejected); RFC 4518 string preparation beyond case folding and whitespace;
//! - host name (DNS / IP) verification of the end entity: callers match identities themselves
//!   (e.g. with [`certificate_uris`]); the subject commonName is never treated as a DNS name
//!   under dNSName constraints (RFC 5280 does not; legacy TLS clients do);
//! - validating a trust anchor itself as the end entity (a subject + key pair occurs once in a
//!   path, so this gives [`PathError::NoPathToTrustAnchor`]);
//! - keyUsage requirements on the end entity (the Wire profile checks `digitalSignature`).

mod crl;
mod names;

use std::collections::HashMap;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{
    ANY_EXTENDED_KEY_USAGE, ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS,
    ID_CE_CERTIFICATE_POLICIES, ID_CE_CRL_DISTRIBUTION_POINTS, ID_CE_EXT_KEY_USAGE,
    ID_CE_INHIBIT_ANY_POLICY, ID_CE_KEY_USAGE, ID_CE_NAME_CONSTRAINTS, ID_CE_POLICY_CONSTRAINTS,
    ID_CE_POLICY_MAPPINGS, ID_CE_SUBJECT_ALT_NAME, ID_CE_SUBJECT_KEY_IDENTIFIER,
};
use der::asn1::BitString;
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, CrlReason, ExtendedKeyUsage,
    KeyUsage, KeyUsages, NameConstraints, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::time::Time;

use crate::key::{CertificateKey, KeyError, X509SignatureFailure as SigFailure};

pub use crl::{CrlExtensions, CrlRuleError, read_crl_extensions, read_entry_extension};
pub use names::{certificate_uris, names_equal, uri_host};

/// Signature verifications one call to [`validate_path`] may spend while building paths.
const SIGNATURE_BUDGET: usize = 256;

/// What to do about revocation (wire-e2ei-protocol.md §8.1 step 2, §8.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RevocationPolicy {
    /// Do not look at CRLs; the result says [`RevocationStatus::NotChecked`].
    Ignore,
    /// Check every certificate for which a CRL of its issuer is given; the others are reported
    /// as [`RevocationStatus::NotDetermined`] (core-crypto tolerates this status).
    #[default]
    CheckIfAvailable,
    /// Every certificate below the trust anchor must be covered by a given, valid CRL.
    Require,
}

/// Options of [`validate_path`]. Start from [`ValidationOptions::default`] (no EKU
/// requirement, no CRLs, [`RevocationPolicy::CheckIfAvailable`], at most 8 intermediates).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ValidationOptions<'a> {
    /// The extended key usage the end entity must allow (e.g. [`crate::oid::KP_CLIENT_AUTH`]
    /// for Wire MLS credentials), if any.
    pub required_eku: Option<ObjectIdentifier>,
    /// CRLs available to the caller (any issuers, any order).
    pub crls: &'a [CertificateList],
    /// How revocation is checked.
    pub revocation: RevocationPolicy,
    /// Maximum number of intermediate certificates (between the end entity and the anchor,
    /// self-issued ones included).
    pub max_intermediates: usize,
}

impl Default for ValidationOptions<'_> {
    fn default() -> Self {
        Self {
            required_eku: None,
            crls: &[],
            revocation: RevocationPolicy::CheckIfAvailable,
            max_intermediates: 8,
        }
    }
}

impl<'a> ValidationOptions<'a> {
    /// Requires the end entity to allow `eku` (see the module documentation for the rule).
    pub fn with_required_eku(mut self, eku: ObjectIdentifier) -> Self {
        self.required_eku = Some(eku);
        self
    }

    /// Checks revocation against `crls` under `policy`.
    pub fn with_crls(mut self, crls: &'a [CertificateList], policy: RevocationPolicy) -> Self {
        self.crls = crls;
        self.revocation = policy;
        self
    }

    /// Sets the revocation policy.
    pub fn with_revocation_policy(mut self, policy: RevocationPolicy) -> Self {
        self.revocation = policy;
        self
    }

    /// Sets the maximum number of intermediates.
    pub fn with_max_intermediates(mut self, max: usize) -> Self {
        self.max_intermediates = max;
        self
    }
}

/// The revocation status of a validated path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevocationStatus {
    /// Revocation was not checked ([`RevocationPolicy::Ignore`]).
    NotChecked,
    /// Every certificate below the trust anchor is covered by a valid CRL and not on it.
    Good,
    /// No CRL (or none covering them completely) was given for these certificates (their
    /// subjects); the others are not revoked.
    NotDetermined {
        /// Subjects of the certificates whose status is unknown.
        unchecked: Vec<String>,
    },
}

/// Something the validator accepted without fully processing it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathNote {
    /// A policy extension (policyConstraints, inhibitAnyPolicy, policyMappings) was accepted
    /// without certificate policy processing, which this validator does not implement.
    PolicyExtensionNotProcessed {
        /// Subject of the certificate carrying it.
        subject: String,
        /// The extension.
        oid: ObjectIdentifier,
        /// Whether it was marked critical.
        critical: bool,
    },
}

/// A certification path that passed validation. Only [`validate_path`] creates one.
#[derive(Clone, Debug)]
pub struct ValidatedPath {
    certificates: Vec<Certificate>,
    anchor_index: usize,
    revocation: RevocationStatus,
    notes: Vec<PathNote>,
}

impl ValidatedPath {
    /// The path, end entity first, trust anchor last.
    pub fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    /// The end-entity certificate.
    pub fn leaf(&self) -> &Certificate {
        &self.certificates[0]
    }

    /// The intermediates, from the one that issued the leaf upwards.
    pub fn intermediates(&self) -> &[Certificate] {
        &self.certificates[1..self.certificates.len() - 1]
    }

    /// The trust anchor the path ends at.
    pub fn trust_anchor(&self) -> &Certificate {
        &self.certificates[self.certificates.len() - 1]
    }

    /// Index of the trust anchor in the `trust_anchors` given to [`validate_path`].
    pub fn anchor_index(&self) -> usize {
        self.anchor_index
    }

    /// The revocation status.
    pub fn revocation(&self) -> &RevocationStatus {
        &self.revocation
    }

    /// Extensions accepted without full processing.
    pub fn notes(&self) -> &[PathNote] {
        &self.notes
    }

    /// The path, end entity first, trust anchor last.
    pub fn into_certificates(self) -> Vec<Certificate> {
        self.certificates
    }
}

/// Why a certificate path is not valid. `subject` fields name the certificate at fault by its
/// subject DN (RFC 4514 form).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// No candidate issuer (intermediate or trust anchor) for this certificate.
    #[error("no path to a trust anchor: no issuer `{issuer}` found for `{subject}`")]
    NoPathToTrustAnchor {
        /// The certificate whose issuer is missing.
        subject: String,
        /// The issuer name looked for.
        issuer: String,
    },
    /// Every path would have more intermediates than allowed.
    #[error("no path to a trust anchor within {max_intermediates} intermediates")]
    PathTooLong {
        /// [`ValidationOptions::max_intermediates`].
        max_intermediates: usize,
    },
    /// Path building stopped after spending its signature-verification budget.
    #[error("path building gave up after {signatures} signature verifications")]
    PathBuildingBudgetExceeded {
        /// The budget.
        signatures: usize,
    },
    /// The certificate expired before the validation time.
    #[error("`{subject}` expired at {not_after} (validation time {time})")]
    Expired {
        /// The certificate.
        subject: String,
        /// Its notAfter.
        not_after: OffsetDateTime,
        /// The validation time.
        time: OffsetDateTime,
    },
    /// The certificate is not valid yet at the validation time.
    #[error("`{subject}` is not valid before {not_before} (validation time {time})")]
    NotYetValid {
        /// The certificate.
        subject: String,
        /// Its notBefore.
        not_before: OffsetDateTime,
        /// The validation time.
        time: OffsetDateTime,
    },
    /// The signature does not verify with the issuer's public key.
    #[error("signature on `{subject}` does not verify with the key of `{issuer}`")]
    BadSignature {
        /// The signed certificate.
        subject: String,
        /// The issuer whose key was used.
        issuer: String,
    },
    /// `signature` in the TBS differs from `signatureAlgorithm` (RFC 5280 §4.1.1.2).
    #[error(
        "`{subject}`: TBS signature algorithm {tbs_algorithm} differs from outer {outer_algorithm}"
    )]
    SignatureAlgorithmMismatch {
        /// The certificate.
        subject: String,
        /// OID inside the TBS.
        tbs_algorithm: ObjectIdentifier,
        /// OID of the outer `signatureAlgorithm`.
        outer_algorithm: ObjectIdentifier,
    },
    /// A signature or key algorithm outside Ed25519, ECDSA P-256/384/521 with SHA-256/384/512
    /// and RSA (2048–8192 bits, a multiple of 8) with SHA-256/384/512 in PKCS#1 v1.5 or the
    /// standard RSASSA-PSS parameter sets.
    #[error("`{subject}`: unsupported algorithm: {algorithm}")]
    UnsupportedAlgorithm {
        /// The certificate whose signature or key it is.
        subject: String,
        /// What was found.
        algorithm: String,
    },
    /// A certificate used as an issuer lacks basicConstraints cA=TRUE.
    #[error("`{subject}` issues certificates but is not a CA (basicConstraints cA is not TRUE)")]
    NotACa {
        /// The would-be CA.
        subject: String,
    },
    /// More non-self-issued intermediates below a CA than its pathLenConstraint allows.
    #[error("`{subject}` exceeds pathLenConstraint {path_len_constraint} of `{constrained_by}`")]
    PathLenExceeded {
        /// The intermediate that is one too many.
        subject: String,
        /// The CA whose constraint is exceeded.
        constrained_by: String,
        /// Its pathLenConstraint.
        path_len_constraint: u8,
    },
    /// A certificate used as an issuer has keyUsage without keyCertSign.
    #[error("`{subject}` issues certificates but its keyUsage lacks keyCertSign")]
    MissingKeyCertSign {
        /// The CA.
        subject: String,
    },
    /// A critical extension the validator does not process (RFC 5280 §4.2).
    #[error("`{subject}` has unknown critical extension {oid}")]
    UnknownCriticalExtension {
        /// The certificate.
        subject: String,
        /// The extension.
        oid: ObjectIdentifier,
    },
    /// An extension occurs twice (RFC 5280 §4.2).
    #[error("`{subject}` has extension {oid} more than once")]
    DuplicateExtension {
        /// The certificate.
        subject: String,
        /// The extension.
        oid: ObjectIdentifier,
    },
    /// A recognised extension does not decode or breaks its RFC 5280 rules.
    #[error("`{subject}`: malformed extension {oid}: {reason}")]
    MalformedExtension {
        /// The certificate.
        subject: String,
        /// The extension.
        oid: ObjectIdentifier,
        /// What is wrong.
        reason: String,
    },
    /// The version does not allow the fields present (RFC 5280 §4.1.2.1).
    #[error("`{subject}`: version {version} {reason}")]
    InvalidVersion {
        /// The certificate.
        subject: String,
        /// The version as written in text (1, 2 or 3).
        version: u8,
        /// What it conflicts with.
        reason: &'static str,
    },
    /// The serial number is zero or negative (RFC 5280 §4.1.2.2).
    #[error("`{subject}`: serial number {serial} is not positive")]
    InvalidSerialNumber {
        /// The certificate.
        subject: String,
        /// The serial, hex (two's complement).
        serial: String,
    },
    /// The certificate cannot be re-encoded for signature verification.
    #[error("`{subject}`: malformed certificate: {reason}")]
    MalformedCertificate {
        /// The certificate.
        subject: String,
        /// What failed.
        reason: String,
    },
    /// A name is outside the permitted subtrees or inside an excluded subtree of a CA above.
    #[error("`{subject}`: name {name} violates name constraint {subtree}")]
    NameConstraintViolation {
        /// The certificate carrying the name.
        subject: String,
        /// The name (`URI:…`, `DNS:…`, `DirName:…`, …).
        name: String,
        /// The subtree(s) it fails and the CA imposing them.
        subtree: String,
    },
    /// A name that cannot be compared with a constraint of its type (malformed, or a form the
    /// validator has no matching rule for): rejected rather than guessed.
    #[error("`{subject}`: name {name} cannot be checked against name constraints: {reason}")]
    UncheckableName {
        /// The certificate carrying the name.
        subject: String,
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A nameConstraints extension the validator cannot read.
    #[error("`{subject}`: malformed name constraint {constraint}: {reason}")]
    MalformedNameConstraint {
        /// The CA.
        subject: String,
        /// The subtree.
        constraint: String,
        /// What is wrong.
        reason: String,
    },
    /// Too many name × subtree comparisons for one path.
    #[error("name constraint checking exceeded {limit} comparisons")]
    NameConstraintBudgetExceeded {
        /// The budget.
        limit: usize,
    },
    /// The end entity (or an intermediate restricting its purposes) does not allow the
    /// required extended key usage.
    #[error("`{subject}`: extKeyUsage {present:?} does not allow {required}")]
    MissingRequiredEku {
        /// The certificate.
        subject: String,
        /// The required purpose.
        required: ObjectIdentifier,
        /// The purposes it lists.
        present: Vec<ObjectIdentifier>,
    },
    /// The certificate is on a valid CRL of its issuer.
    #[error("`{subject}` (serial {serial}) was revoked at {revocation_date}{}", .reason.map(|r| format!(" (reason: {r:?})")).unwrap_or_default())]
    Revoked {
        /// The revoked certificate.
        subject: String,
        /// Its serial, lowercase hex.
        serial: String,
        /// The CRL entry's reasonCode, if any.
        reason: Option<CrlReason>,
        /// The CRL entry's revocationDate.
        revocation_date: OffsetDateTime,
    },
    /// The only CRLs of an issuer are past their nextUpdate.
    #[error("CRL of `{issuer}` expired at {next_update} (validation time {time})")]
    CrlExpired {
        /// The CRL issuer.
        issuer: String,
        /// Its nextUpdate.
        next_update: OffsetDateTime,
        /// The validation time.
        time: OffsetDateTime,
    },
    /// The only CRLs of an issuer were issued after the validation time.
    #[error("CRL of `{issuer}` is not valid before {this_update} (validation time {time})")]
    CrlNotYetValid {
        /// The CRL issuer.
        issuer: String,
        /// Its thisUpdate.
        this_update: OffsetDateTime,
        /// The validation time.
        time: OffsetDateTime,
    },
    /// A CRL's signature does not verify with its issuer's key.
    #[error("signature on the CRL of `{issuer}` does not verify")]
    CrlBadSignature {
        /// The CRL issuer.
        issuer: String,
    },
    /// The CRL issuer's keyUsage lacks cRLSign (RFC 5280 §6.3.3 (f)).
    #[error("`{issuer}` signs CRLs but its keyUsage lacks cRLSign")]
    CrlIssuerMissingCrlSign {
        /// The CRL issuer.
        issuer: String,
    },
    /// A CRL that is malformed or uses a feature the validator does not support (delta or
    /// indirect CRLs, unknown critical extensions, missing cRLNumber).
    #[error("CRL of `{issuer}` is malformed or unsupported: {reason}")]
    MalformedCrl {
        /// The CRL issuer.
        issuer: String,
        /// What is wrong.
        reason: String,
    },
    /// [`RevocationPolicy::Require`] and no CRL covers this certificate.
    #[error("no CRL covers `{subject}` and revocation checking is required")]
    RevocationUnavailable {
        /// The certificate.
        subject: String,
    },
}

/// Validates `end_entity` against `trust_anchors`, building the path through
/// `intermediates` (any order; irrelevant certificates are ignored) at `time`.
///
/// Returns the first path that passes every check (see the module documentation), or, when
/// none does, the most specific error met: an error of a complete candidate path (e.g.
/// [`PathError::Expired`], [`PathError::NameConstraintViolation`], [`PathError::Revoked`])
/// before [`PathError::PathBuildingBudgetExceeded`], before a signature failure on a candidate
/// issuer, before [`PathError::PathTooLong`], before [`PathError::NoPathToTrustAnchor`].
pub fn validate_path(
    trust_anchors: &[Certificate],
    intermediates: &[Certificate],
    end_entity: &Certificate,
    time: OffsetDateTime,
    options: &ValidationOptions<'_>,
) -> Result<ValidatedPath, PathError> {
    let mut nodes = Vec::with_capacity(1 + intermediates.len() + trust_anchors.len());
    nodes.push(Node::new(end_entity, None));
    nodes.extend(intermediates.iter().map(|c| Node::new(c, None)));
    let first_anchor = nodes.len();
    nodes.extend(
        trust_anchors
            .iter()
            .enumerate()
            .map(|(i, c)| Node::new(c, Some(i))),
    );
    let mut search = Search {
        nodes,
        first_anchor,
        // X.509 times have one-second resolution: compare whole seconds.
        time: time.replace_nanosecond(0).unwrap_or(time),
        options,
        signatures: HashMap::new(),
        signatures_left: SIGNATURE_BUDGET,
        gave_up: false,
        best: None,
    };
    let mut path = vec![0];
    match search.extend(&mut path) {
        Some(validated) => Ok(validated),
        None => {
            Err(search
                .best
                .map(|(_, e)| e)
                .unwrap_or_else(|| PathError::NoPathToTrustAnchor {
                    subject: search.nodes[0].subject.clone(),
                    issuer: end_entity.tbs_certificate().issuer().to_string(),
                }))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates prepared for path building
// ---------------------------------------------------------------------------------------------

/// The extensions the validator uses, decoded.
#[derive(Clone, Debug, Default)]
struct Exts {
    basic_constraints: Option<BasicConstraints>,
    key_usage: Option<KeyUsage>,
    ext_key_usage: Option<Vec<ObjectIdentifier>>,
    subject_alt_name: Option<Vec<GeneralName>>,
    name_constraints: Option<names::Constraints>,
    aki: Option<Vec<u8>>,
    ski: Option<Vec<u8>>,
    crl_distribution_points: Option<Vec<DistributionPoint>>,
    notes: Vec<PathNote>,
}

/// A certificate with what path building and validation need, computed once.
struct Node<'a> {
    cert: &'a Certificate,
    subject: String,
    key: Result<CertificateKey, KeyError>,
    tbs_der: Result<Vec<u8>, String>,
    exts: Result<Exts, PathError>,
    self_issued: bool,
    anchor: Option<usize>,
}

impl<'a> Node<'a> {
    fn new(cert: &'a Certificate, anchor: Option<usize>) -> Self {
        let tbs = cert.tbs_certificate();
        let subject = describe(cert);
        Self {
            cert,
            key: CertificateKey::from_spki(tbs.subject_public_key_info()),
            tbs_der: tbs.to_der().map_err(|e| e.to_string()),
            exts: parse_extensions(cert, &subject, anchor.is_some()),
            self_issued: names::names_equal(tbs.subject(), tbs.issuer()),
            subject,
            anchor,
        }
    }

    fn exts(&self) -> Result<&Exts, PathError> {
        self.exts.as_ref().map_err(Clone::clone)
    }
}

/// The subject DN in RFC 4514 form, or the serial when the subject is empty.
fn describe(cert: &Certificate) -> String {
    let tbs = cert.tbs_certificate();
    let subject = tbs.subject().to_string();
    if subject.is_empty() {
        format!(
            "(empty subject, serial {})",
            hex::encode(tbs.serial_number().as_bytes())
        )
    } else {
        subject
    }
}

/// Decodes the extensions. Anchors (`lenient`) skip unknown critical extensions and decode only
/// what constrains the path below them.
fn parse_extensions(cert: &Certificate, subject: &str, lenient: bool) -> Result<Exts, PathError> {
    let mut exts = Exts::default();
    let list = cert
        .tbs_certificate()
        .extensions()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, ext) in list.iter().enumerate() {
        let oid = ext.extn_id;
        if list[..i].iter().any(|e| e.extn_id == oid) {
            return Err(PathError::DuplicateExtension {
                subject: subject.to_owned(),
                oid,
            });
        }
        let bytes = ext.extn_value.as_bytes();
        let malformed = |reason: String| PathError::MalformedExtension {
            subject: subject.to_owned(),
            oid,
            reason,
        };
        let decode_err = |e: der::Error| malformed(e.to_string());
        match oid {
            ID_CE_BASIC_CONSTRAINTS => {
                exts.basic_constraints =
                    Some(BasicConstraints::from_der(bytes).map_err(decode_err)?);
            }
            ID_CE_KEY_USAGE => {
                let ku = KeyUsage::from_der(bytes).map_err(decode_err)?;
                if ku.0.is_empty() {
                    return Err(malformed("no key usage bit set".into()));
                }
                exts.key_usage = Some(ku);
            }
            ID_CE_NAME_CONSTRAINTS => {
                let nc = NameConstraints::from_der(bytes).map_err(decode_err)?;
                exts.name_constraints = Some(names::Constraints::parse(subject, &nc)?);
            }
            ID_CE_SUBJECT_KEY_IDENTIFIER => {
                let ski = SubjectKeyIdentifier::from_der(bytes).map_err(decode_err)?;
                exts.ski = Some(ski.0.as_bytes().to_vec());
            }
            _ if lenient => {}
            ID_CE_EXT_KEY_USAGE => {
                let eku = ExtendedKeyUsage::from_der(bytes).map_err(decode_err)?;
                if eku.0.is_empty() {
                    return Err(malformed("no key purpose listed".into()));
                }
                exts.ext_key_usage = Some(eku.0);
            }
            ID_CE_SUBJECT_ALT_NAME => {
                let san = SubjectAltName::from_der(bytes).map_err(decode_err)?;
                if san.0.is_empty() {
                    return Err(malformed("no name listed".into()));
                }
                exts.subject_alt_name = Some(san.0);
            }
            ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                let aki = AuthorityKeyIdentifier::from_der(bytes).map_err(decode_err)?;
                exts.aki = aki.key_identifier.map(|k| k.as_bytes().to_vec());
            }
            ID_CE_CRL_DISTRIBUTION_POINTS => {
                let dps = CrlDistributionPoints::from_der(bytes).map_err(decode_err)?;
                exts.crl_distribution_points = Some(dps.0);
            }
            ID_CE_CERTIFICATE_POLICIES => {}
            ID_CE_POLICY_CONSTRAINTS | ID_CE_INHIBIT_ANY_POLICY | ID_CE_POLICY_MAPPINGS => {
                exts.notes.push(PathNote::PolicyExtensionNotProcessed {
                    subject: subject.to_owned(),
                    oid,
                    critical: ext.critical,
                });
            }
            _ if ext.critical => {
                return Err(PathError::UnknownCriticalExtension {
                    subject: subject.to_owned(),
                    oid,
                });
            }
            _ => {}
        }
    }
    Ok(exts)
}

// ---------------------------------------------------------------------------------------------
// Path building
// ---------------------------------------------------------------------------------------------

/// How specific an error is; the most specific one is reported when no path validates.
/// A search that gave up outranks the signature failures it met: it did not see every path.
const RANK_NO_ISSUER: u8 = 0;
const RANK_LIMIT: u8 = 1;
const RANK_EDGE: u8 = 2;
const RANK_BUDGET: u8 = 3;
const RANK_PATH: u8 = 4;

struct Search<'a, 'o> {
    /// 0: the end entity; 1..first_anchor: intermediates; first_anchor..: trust anchors.
    nodes: Vec<Node<'a>>,
    first_anchor: usize,
    time: OffsetDateTime,
    options: &'o ValidationOptions<'o>,
    /// (child, issuer) → signature check result.
    signatures: HashMap<(usize, usize), Result<(), PathError>>,
    signatures_left: usize,
    /// The budget ran out: stop searching.
    gave_up: bool,
    best: Option<(u8, PathError)>,
}

impl Search<'_, '_> {
    fn record(&mut self, rank: u8, error: PathError) {
        if self.best.as_ref().is_none_or(|(r, _)| rank > *r) {
            self.best = Some((rank, error));
        }
    }

    /// Extends `path` (end entity first) with issuers until a validated path is found.
    fn extend(&mut self, path: &mut Vec<usize>) -> Option<ValidatedPath> {
        let child = *path.last()?;
        let mut any_candidate = false;
        for candidate in (self.first_anchor..self.nodes.len()).chain(1..self.first_anchor) {
            if !self.is_candidate(child, candidate, path) {
                continue;
            }
            any_candidate = true;
            let is_anchor = candidate >= self.first_anchor;
            if !is_anchor && path.len() > self.options.max_intermediates {
                self.record(
                    RANK_LIMIT,
                    PathError::PathTooLong {
                        max_intermediates: self.options.max_intermediates,
                    },
                );
                continue;
            }
            if let Err(e) = self.verify_edge(child, candidate) {
                let gave_up = matches!(e, PathError::PathBuildingBudgetExceeded { .. });
                self.record(if gave_up { RANK_BUDGET } else { RANK_EDGE }, e);
                if gave_up {
                    return None;
                }
                continue;
            }
            path.push(candidate);
            let found = if is_anchor {
                match self.validate(path) {
                    Ok(validated) => Some(validated),
                    Err(e) => {
                        self.record(RANK_PATH, e);
                        None
                    }
                }
            } else {
                self.extend(path)
            };
            if found.is_some() {
                return found;
            }
            path.pop();
            if self.gave_up {
                return None;
            }
        }
        if !any_candidate {
            let node = &self.nodes[child];
            let error = PathError::NoPathToTrustAnchor {
                subject: node.subject.clone(),
                issuer: node.cert.tbs_certificate().issuer().to_string(),
            };
            self.record(RANK_NO_ISSUER, error);
        }
        None
    }

    /// `candidate` could have issued `child` and is not already on the path.
    fn is_candidate(&self, child: usize, candidate: usize, path: &[usize]) -> bool {
        let (c, i) = (&self.nodes[child], &self.nodes[candidate]);
        let issuer_tbs = i.cert.tbs_certificate();
        if !names::names_equal(c.cert.tbs_certificate().issuer(), issuer_tbs.subject()) {
            return false;
        }
        let aki = c.exts.as_ref().ok().and_then(|e| e.aki.as_deref());
        let ski = i.exts.as_ref().ok().and_then(|e| e.ski.as_deref());
        if let (Some(aki), Some(ski)) = (aki, ski) {
            if aki != ski {
                return false;
            }
        }
        !path.iter().any(|&p| {
            let on_path = self.nodes[p].cert.tbs_certificate();
            on_path.subject_public_key_info() == issuer_tbs.subject_public_key_info()
                && names::names_equal(on_path.subject(), issuer_tbs.subject())
        })
    }

    /// Verifies the signature on `child` with the key of `issuer` (cached, budgeted).
    fn verify_edge(&mut self, child: usize, issuer: usize) -> Result<(), PathError> {
        if let Some(result) = self.signatures.get(&(child, issuer)) {
            return result.clone();
        }
        if self.signatures_left == 0 {
            self.gave_up = true;
            return Err(PathError::PathBuildingBudgetExceeded {
                signatures: SIGNATURE_BUDGET,
            });
        }
        self.signatures_left -= 1;
        let (c, i) = (&self.nodes[child], &self.nodes[issuer]);
        let result = (|| {
            let key = i
                .key
                .as_ref()
                .map_err(|e| PathError::UnsupportedAlgorithm {
                    subject: i.subject.clone(),
                    algorithm: e.to_string(),
                })?;
            let tbs = c
                .tbs_der
                .as_ref()
                .map_err(|reason| PathError::MalformedCertificate {
                    subject: c.subject.clone(),
                    reason: reason.clone(),
                })?;
            verify_signature(key, c.cert.signature_algorithm(), tbs, c.cert.signature()).map_err(
                |failure| match failure {
                    SigFailure::Bad => PathError::BadSignature {
                        subject: c.subject.clone(),
                        issuer: i.subject.clone(),
                    },
                    SigFailure::Unsupported(algorithm) => PathError::UnsupportedAlgorithm {
                        subject: c.subject.clone(),
                        algorithm,
                    },
                },
            )
        })();
        self.signatures.insert((child, issuer), result.clone());
        result
    }

    /// RFC 5280 §6.1 over a complete candidate path (end entity first, anchor last, every
    /// signature already verified), then revocation.
    fn validate(&self, path: &[usize]) -> Result<ValidatedPath, PathError> {
        let anchor = &self.nodes[path[path.len() - 1]];
        let anchor_exts = anchor.exts()?;
        let mut constraints: Vec<&names::Constraints> =
            anchor_exts.name_constraints.iter().collect();
        // (remaining non-self-issued intermediates allowed, CA that set it, its constraint)
        let mut path_len: Option<(u8, &str, u8)> = anchor_exts
            .basic_constraints
            .as_ref()
            .and_then(|bc| bc.path_len_constraint)
            .map(|n| (n, anchor.subject.as_str(), n));
        let mut budget = names::NAME_CONSTRAINT_BUDGET;
        let mut notes = Vec::new();

        let below = &path[..path.len() - 1];
        for (depth, &index) in below.iter().rev().enumerate() {
            let node = &self.nodes[index];
            let is_leaf = depth + 1 == below.len();
            let exts = self.check_certificate(node)?;
            let tbs = node.cert.tbs_certificate();

            if is_leaf || !node.self_issued {
                for c in &constraints {
                    names::check_names(
                        &node.subject,
                        tbs.subject(),
                        exts.subject_alt_name.as_deref(),
                        c,
                        &mut budget,
                    )?;
                }
            }
            self.check_eku(node, exts)?;
            notes.extend(exts.notes.iter().cloned());

            if is_leaf {
                if exts.name_constraints.is_some()
                    && !exts.basic_constraints.as_ref().is_some_and(|bc| bc.ca)
                {
                    return Err(PathError::MalformedExtension {
                        subject: node.subject.clone(),
                        oid: ID_CE_NAME_CONSTRAINTS,
                        reason: "nameConstraints in a certificate that is not a CA".into(),
                    });
                }
                continue;
            }

            // An issuing certificate (RFC 5280 §6.1.4 (k)–(n)).
            if tbs.subject().is_empty() {
                // Its subject is what its children's issuer must match (RFC 5280 §4.1.2.6).
                return Err(PathError::MalformedCertificate {
                    subject: node.subject.clone(),
                    reason: "a CA certificate must have a non-empty subject".into(),
                });
            }
            let bc = exts
                .basic_constraints
                .as_ref()
                .filter(|bc| bc.ca)
                .ok_or_else(|| PathError::NotACa {
                    subject: node.subject.clone(),
                })?;
            if exts
                .key_usage
                .as_ref()
                .is_some_and(|ku| !ku.0.contains(KeyUsages::KeyCertSign))
            {
                return Err(PathError::MissingKeyCertSign {
                    subject: node.subject.clone(),
                });
            }
            if !node.self_issued {
                if let Some((remaining, ca, constraint)) = &mut path_len {
                    if *remaining == 0 {
                        return Err(PathError::PathLenExceeded {
                            subject: node.subject.clone(),
                            constrained_by: (*ca).to_owned(),
                            path_len_constraint: *constraint,
                        });
                    }
                    *remaining -= 1;
                }
            }
            if let Some(n) = bc.path_len_constraint {
                // On a tie the nearer CA is the more useful one to name in an error.
                if path_len.is_none_or(|(remaining, _, _)| n <= remaining) {
                    path_len = Some((n, node.subject.as_str(), n));
                }
            }
            if let Some(c) = &exts.name_constraints {
                constraints.push(c);
            }
        }

        let nodes: Vec<&Node<'_>> = path.iter().map(|&i| &self.nodes[i]).collect();
        let revocation = crl::check(
            &nodes,
            self.options.crls,
            self.options.revocation,
            self.time,
        )?;
        Ok(ValidatedPath {
            certificates: nodes.iter().map(|n| n.cert.clone()).collect(),
            anchor_index: anchor.anchor.unwrap_or_default(),
            revocation,
            notes,
        })
    }

    /// Checks of a single certificate that do not depend on its position.
    fn check_certificate<'n>(&self, node: &'n Node<'_>) -> Result<&'n Exts, PathError> {
        let cert = node.cert;
        let tbs = cert.tbs_certificate();
        let subject = || node.subject.clone();

        if tbs.signature() != cert.signature_algorithm() {
            return Err(PathError::SignatureAlgorithmMismatch {
                subject: subject(),
                tbs_algorithm: tbs.signature().oid,
                outer_algorithm: cert.signature_algorithm().oid,
            });
        }
        let version = tbs.version();
        if tbs.extensions().is_some() && version != Version::V3 {
            return Err(PathError::InvalidVersion {
                subject: subject(),
                version: version as u8 + 1,
                reason: "cannot carry extensions (v3 required)",
            });
        }
        if version == Version::V1
            && (tbs.issuer_unique_id().is_some() || tbs.subject_unique_id().is_some())
        {
            return Err(PathError::InvalidVersion {
                subject: subject(),
                version: 1,
                reason: "cannot carry unique identifiers",
            });
        }
        let serial = tbs.serial_number().as_bytes();
        if serial.first().is_none_or(|b| b & 0x80 != 0) || serial.iter().all(|b| *b == 0) {
            return Err(PathError::InvalidSerialNumber {
                subject: subject(),
                serial: hex::encode(serial),
            });
        }
        if tbs.issuer().is_empty() {
            // RFC 5280 §4.1.2.4. Path building would otherwise match it to a trust anchor with
            // an empty subject, which the non-empty-subject rule for CAs does not reach.
            return Err(PathError::MalformedCertificate {
                subject: subject(),
                reason: "empty issuer name (RFC 5280 §4.1.2.4)".into(),
            });
        }

        // Every key below the anchor must be one the validator can read: intermediates' keys
        // verify signatures. The end entity's may be RSA here; as the MLS signature key
        // (wire-e2ei-protocol.md §8.2) it is checked by the caller.
        if let Err(e) = &node.key {
            return Err(PathError::UnsupportedAlgorithm {
                subject: subject(),
                algorithm: e.to_string(),
            });
        }

        let validity = tbs.validity();
        let not_before = to_offset(&validity.not_before);
        let not_after = to_offset(&validity.not_after);
        if self.time < not_before {
            return Err(PathError::NotYetValid {
                subject: subject(),
                not_before,
                time: self.time,
            });
        }
        if self.time > not_after {
            return Err(PathError::Expired {
                subject: subject(),
                not_after,
                time: self.time,
            });
        }

        let exts = node.exts()?;
        let is_ca = exts.basic_constraints.as_ref().is_some_and(|bc| bc.ca);
        if !is_ca
            && exts
                .key_usage
                .as_ref()
                .is_some_and(|ku| ku.0.contains(KeyUsages::KeyCertSign))
        {
            return Err(PathError::MalformedExtension {
                subject: subject(),
                oid: ID_CE_KEY_USAGE,
                reason: "keyCertSign without basicConstraints cA (RFC 5280 §4.2.1.3)".into(),
            });
        }
        Ok(exts)
    }

    fn check_eku(&self, node: &Node<'_>, exts: &Exts) -> Result<(), PathError> {
        let (Some(required), Some(present)) = (self.options.required_eku, &exts.ext_key_usage)
        else {
            return Ok(());
        };
        if present.contains(&required) || present.contains(&ANY_EXTENDED_KEY_USAGE) {
            return Ok(());
        }
        Err(PathError::MissingRequiredEku {
            subject: node.subject.clone(),
            required,
            present: present.clone(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures and times
// ---------------------------------------------------------------------------------------------

/// Verifies an X.509 signature (`signatureAlgorithm` + BIT STRING) over `message`.
fn verify_signature(
    key: &CertificateKey,
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &BitString,
) -> Result<(), SigFailure> {
    let signature = signature.as_bytes().ok_or(SigFailure::Bad)?;
    key.verify_x509_with(algorithm, message, signature)
}

/// The instant an X.509 time denotes.
fn to_offset(t: &Time) -> OffsetDateTime {
    let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
