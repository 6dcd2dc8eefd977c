//! Assembling X.509 structures from typed parts: names, serials, times, extensions, the
//! to-be-signed certificate and the signed certificate. Signing itself happens elsewhere
//! (e2ei-signer); profiles in [`crate::profile`] check the result before anything is signed.

use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, Ia5String, OctetString, PrintableString, Utf8StringRef};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectAltName, SubjectKeyIdentifier,
    constraints::name::{GeneralSubtree, NameConstraints},
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::ciphersuite::KeyAlgorithm;
use crate::key::PublicKey;
use crate::oid;

/// Errors while assembling X.509 structures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum X509Error {
    /// A value cannot be encoded (e.g. a non-ASCII URI, a time outside X.509's range).
    #[error("cannot encode {what}: {reason}")]
    Encoding {
        /// What was being encoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// Input bytes are not the expected DER / PEM structure.
    #[error("cannot parse {what}: {reason}")]
    Parse {
        /// What was being parsed.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

fn enc(what: &'static str) -> impl FnOnce(der::Error) -> X509Error {
    move |e| X509Error::Encoding {
        what,
        reason: e.to_string(),
    }
}

/// One attribute of a distinguished name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAttribute {
    /// Attribute type.
    pub oid: ObjectIdentifier,
    /// Attribute value (encoded as UTF8String; countryName as PrintableString).
    pub value: String,
}

/// Builds a distinguished name with one attribute per RDN, in the given order.
pub fn build_name(attributes: &[NameAttribute]) -> Result<Name, X509Error> {
    let mut rdns = RdnSequence::default();
    for attribute in attributes {
        let value = if attribute.oid == oid::COUNTRY {
            Any::encode_from(&PrintableString::new(&attribute.value).map_err(enc("countryName"))?)
        } else {
            Any::encode_from(&Utf8StringRef::new(&attribute.value).map_err(enc("name"))?)
        }
        .map_err(enc("name attribute"))?;
        let mut rdn = RelativeDistinguishedName::default();
        rdn.insert(AttributeTypeAndValue {
            oid: attribute.oid,
            value,
        })
        .map_err(enc("name attribute"))?;
        rdns.push(rdn);
    }
    Name::from_der(&rdns.to_der().map_err(enc("name"))?).map_err(enc("name"))
}

/// Renders a name in RFC 4514 style, most significant RDN first as written in the certificate
/// (`O=wire.com, CN=Alice`), with the short names openssl uses.
pub fn name_to_string(name: &Name) -> String {
    let mut parts = Vec::new();
    for atv in name.iter() {
        let key = match atv.oid {
            o if o == oid::COMMON_NAME => "CN".to_owned(),
            o if o == oid::ORGANIZATION => "O".to_owned(),
            o if o == oid::ORGANIZATIONAL_UNIT => "OU".to_owned(),
            o if o == oid::COUNTRY => "C".to_owned(),
            o if o == oid::DISPLAY_NAME => "displayName".to_owned(),
            o => o.to_string(),
        };
        parts.push(format!("{key}={}", attribute_value_string(&atv.value)));
    }
    parts.join(", ")
}

/// The text of a directory-string attribute value, or its hex DER if it is not a string.
pub fn attribute_value_string(value: &Any) -> String {
    if let Ok(s) = value.decode_as::<der::asn1::Utf8StringRef<'_>>() {
        return s.as_str().to_owned();
    }
    if let Ok(s) = value.decode_as::<der::asn1::PrintableStringRef<'_>>() {
        return s.as_str().to_owned();
    }
    if let Ok(s) = value.decode_as::<der::asn1::Ia5StringRef<'_>>() {
        return s.as_str().to_owned();
    }
    value
        .to_der()
        .map(|d| format!("#{}", hex::encode(d)))
        .unwrap_or_default()
}

/// The first value of attribute `oid` in `name`, as text.
pub fn name_attribute(name: &Name, attribute: ObjectIdentifier) -> Option<String> {
    name.iter()
        .find(|atv| atv.oid == attribute)
        .map(|atv| attribute_value_string(&atv.value))
}

/// A fresh random positive serial number of 16 bytes (≥ 126 bits of randomness; RFC 5280
/// §4.1.2.2 allows up to 20 octets, CA/B rules want ≥ 64 random bits).
pub fn random_serial() -> Result<SerialNumber, X509Error> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| X509Error::Encoding {
        what: "serial number",
        reason: "no randomness available".into(),
    })?;
    // Positive and exactly 16 octets: clear the sign bit, keep the first octet non-zero.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::new(&bytes).map_err(enc("serial number"))
}

/// Serial number from hex (as printed by openssl and `e2ei-ca inspect`).
pub fn serial_from_hex(text: &str) -> Result<SerialNumber, X509Error> {
    let cleaned: String = text.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&cleaned).map_err(|e| X509Error::Parse {
        what: "serial number",
        reason: e.to_string(),
    })?;
    SerialNumber::new(&bytes).map_err(|e| X509Error::Parse {
        what: "serial number",
        reason: e.to_string(),
    })
}

/// Serial number as lowercase hex without separators.
pub fn serial_to_hex(serial: &SerialNumber) -> String {
    hex::encode(serial.as_bytes())
}

/// X.509 time for `t`: UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5).
pub fn x509_time(t: OffsetDateTime) -> Result<Time, X509Error> {
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| X509Error::Encoding {
        what: "time",
        reason: "before 1970".into(),
    })?;
    let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(enc("time"))?;
    if dt.year() < 2050 {
        Ok(Time::UtcTime(
            der::asn1::UtcTime::from_date_time(dt).map_err(enc("time"))?,
        ))
    } else {
        Ok(Time::GeneralTime(
            der::asn1::GeneralizedTime::from_date_time(dt),
        ))
    }
}

/// The instant an X.509 time denotes.
pub fn time_to_offset(t: &Time) -> OffsetDateTime {
    let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A validity period.
pub fn validity(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Validity, X509Error> {
    Ok(Validity::new(x509_time(not_before)?, x509_time(not_after)?))
}

fn extension<T: Encode>(
    extn_id: ObjectIdentifier,
    critical: bool,
    value: &T,
    what: &'static str,
) -> Result<Extension, X509Error> {
    Ok(Extension {
        extn_id,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(enc(what))?).map_err(enc(what))?,
    })
}

/// basicConstraints, critical.
pub fn basic_constraints(ca: bool, path_len: Option<u8>) -> Result<Extension, X509Error> {
    extension(
        oid::BASIC_CONSTRAINTS,
        true,
        &BasicConstraints {
            ca,
            path_len_constraint: path_len,
        },
        "basicConstraints",
    )
}

/// keyUsage, critical.
pub fn key_usage(usages: der::flagset::FlagSet<KeyUsages>) -> Result<Extension, X509Error> {
    extension(oid::KEY_USAGE, true, &KeyUsage(usages), "keyUsage")
}

/// extKeyUsage, non-critical.
pub fn ext_key_usage(purposes: &[ObjectIdentifier]) -> Result<Extension, X509Error> {
    extension(
        oid::EXT_KEY_USAGE,
        false,
        &ExtendedKeyUsage(purposes.to_vec()),
        "extKeyUsage",
    )
}

/// subjectKeyIdentifier of `key`, non-critical.
pub fn subject_key_identifier(key: &PublicKey) -> Result<Extension, X509Error> {
    extension(
        oid::SUBJECT_KEY_IDENTIFIER,
        false,
        &SubjectKeyIdentifier(OctetString::new(key.key_identifier()).map_err(enc("SKI"))?),
        "subjectKeyIdentifier",
    )
}

/// authorityKeyIdentifier with the issuer's key identifier, non-critical.
pub fn authority_key_identifier(issuer_key_id: &[u8]) -> Result<Extension, X509Error> {
    extension(
        oid::AUTHORITY_KEY_IDENTIFIER,
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(issuer_key_id).map_err(enc("AKI"))?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
        "authorityKeyIdentifier",
    )
}

fn uri_general_name(uri: &str) -> Result<GeneralName, X509Error> {
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(uri).map_err(|e| X509Error::Encoding {
            what: "URI",
            reason: format!("`{uri}` is not IA5 (ASCII): {e}"),
        })?,
    ))
}

fn dns_general_name(name: &str) -> Result<GeneralName, X509Error> {
    Ok(GeneralName::DnsName(Ia5String::new(name).map_err(|e| {
        X509Error::Encoding {
            what: "DNS name",
            reason: format!("`{name}` is not IA5 (ASCII): {e}"),
        }
    })?))
}

/// nameConstraints with permitted DNS and URI subtrees, critical (RFC 5280 §4.2.1.10).
pub fn name_constraints(
    permitted_dns: &[String],
    permitted_uri: &[String],
) -> Result<Extension, X509Error> {
    let mut permitted = Vec::new();
    for dns in permitted_dns {
        permitted.push(GeneralSubtree {
            base: dns_general_name(dns)?,
            minimum: 0,
            maximum: None,
        });
    }
    for uri in permitted_uri {
        permitted.push(GeneralSubtree {
            base: uri_general_name(uri)?,
            minimum: 0,
            maximum: None,
        });
    }
    extension(
        oid::NAME_CONSTRAINTS,
        true,
        &NameConstraints {
            permitted_subtrees: Some(permitted),
            excluded_subtrees: None,
        },
        "nameConstraints",
    )
}

/// cRLDistributionPoints with one full-name URI per point, non-critical.
pub fn crl_distribution_points(urls: &[String]) -> Result<Extension, X509Error> {
    let mut points = Vec::new();
    for url in urls {
        points.push(DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![uri_general_name(
                url,
            )?])),
            reasons: None,
            crl_issuer: None,
        });
    }
    extension(
        oid::CRL_DISTRIBUTION_POINTS,
        false,
        &CrlDistributionPoints(points),
        "cRLDistributionPoints",
    )
}

/// subjectAltName holding URIs (non-critical: the subject is not empty).
pub fn subject_alt_name_uris(uris: &[String]) -> Result<Extension, X509Error> {
    let names = uris
        .iter()
        .map(|u| uri_general_name(u))
        .collect::<Result<Vec<_>, _>>()?;
    extension(
        oid::SUBJECT_ALT_NAME,
        false,
        &SubjectAltName(names),
        "subjectAltName",
    )
}

/// subjectAltName holding DNS names; critical exactly when the subject is empty (RFC 5280
/// §4.2.1.6).
pub fn subject_alt_name_dns(names: &[String], critical: bool) -> Result<Extension, X509Error> {
    let names = names
        .iter()
        .map(|n| dns_general_name(n))
        .collect::<Result<Vec<_>, _>>()?;
    extension(
        oid::SUBJECT_ALT_NAME,
        critical,
        &SubjectAltName(names),
        "subjectAltName",
    )
}

/// RFC 5280 §4.1 TBSCertificate as e2ei writes it (always v3, no unique ids).
#[derive(Clone, Debug, Sequence)]
struct TbsCertificateOut {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: Version,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

/// The parts of a certificate to be signed.
#[derive(Clone, Debug)]
pub struct CertificateParts {
    /// Serial number.
    pub serial: SerialNumber,
    /// Issuer name (the subject itself for a self-signed root).
    pub issuer: Name,
    /// Subject name.
    pub subject: Name,
    /// Validity.
    pub validity: Validity,
    /// The certified key.
    pub subject_public_key: PublicKey,
    /// The issuer key's algorithm, which fixes the signature algorithm.
    pub issuer_algorithm: KeyAlgorithm,
    /// Extensions, in order.
    pub extensions: Vec<Extension>,
}

/// A to-be-signed certificate: its DER (exactly what gets signed) and its parsed form.
#[derive(Clone, Debug)]
pub struct ToBeSigned {
    der: Vec<u8>,
    parsed: TbsCertificate,
    algorithm: KeyAlgorithm,
}

impl ToBeSigned {
    /// Encodes the parts.
    pub fn new(parts: CertificateParts) -> Result<Self, X509Error> {
        let tbs = TbsCertificateOut {
            version: Version::V3,
            serial_number: parts.serial,
            signature: parts.issuer_algorithm.signature_algorithm_identifier(),
            issuer: parts.issuer,
            validity: parts.validity,
            subject: parts.subject,
            subject_public_key_info: parts.subject_public_key.spki().clone(),
            extensions: if parts.extensions.is_empty() {
                None
            } else {
                Some(parts.extensions)
            },
        };
        let der = tbs.to_der().map_err(enc("TBSCertificate"))?;
        let parsed = TbsCertificate::from_der(&der).map_err(|e| X509Error::Parse {
            what: "TBSCertificate",
            reason: e.to_string(),
        })?;
        Ok(Self {
            der,
            parsed,
            algorithm: parts.issuer_algorithm,
        })
    }

    /// The exact bytes to sign.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed TBS, for profile checks and dry-run display.
    pub fn parsed(&self) -> &TbsCertificate {
        &self.parsed
    }

    /// Attaches an X.509-encoded signature, producing the certificate.
    pub fn into_certificate(self, signature_x509: &[u8]) -> Result<Certificate, X509Error> {
        let der = signed_der(&self.der, self.algorithm, signature_x509, "certificate")?;
        Certificate::from_der(&der).map_err(|e| X509Error::Parse {
            what: "certificate",
            reason: e.to_string(),
        })
    }
}

/// The DER of a signed structure (certificate, CRL): `SEQUENCE { tbs, signatureAlgorithm,
/// signature }`, with the to-be-signed bytes copied exactly as they were signed.
fn signed_der(
    tbs_der: &[u8],
    algorithm: KeyAlgorithm,
    signature_x509: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, X509Error> {
    #[derive(Sequence)]
    struct SignedOut<'a> {
        tbs: der::asn1::AnyRef<'a>,
        signature_algorithm: AlgorithmIdentifierOwned,
        signature: BitString,
    }
    SignedOut {
        tbs: der::asn1::AnyRef::from_der(tbs_der).map_err(enc(what))?,
        signature_algorithm: algorithm.signature_algorithm_identifier(),
        signature: BitString::from_bytes(signature_x509).map_err(enc("signature"))?,
    }
    .to_der()
    .map_err(enc(what))
}

/// Parses every `CERTIFICATE` block of a PEM text (or a single DER certificate).
pub fn certificates_from_pem_or_der(bytes: &[u8]) -> Result<Vec<Certificate>, X509Error> {
    if bytes.starts_with(b"-----") || bytes.iter().take(64).all(|b| b.is_ascii()) {
        Certificate::load_pem_chain(bytes).map_err(|e| X509Error::Parse {
            what: "PEM certificates",
            reason: e.to_string(),
        })
    } else {
        Certificate::from_der(bytes)
            .map(|c| vec![c])
            .map_err(|e| X509Error::Parse {
                what: "DER certificate",
                reason: e.to_string(),
            })
    }
}

/// PEM text of a certificate.
pub fn certificate_to_pem(cert: &Certificate) -> Result<String, X509Error> {
    let der = cert.to_der().map_err(enc("certificate"))?;
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).map_err(|e| {
        X509Error::Encoding {
            what: "PEM",
            reason: e.to_string(),
        }
    })
}

/// The certificate's public key.
pub fn certificate_public_key(cert: &Certificate) -> Result<PublicKey, crate::key::KeyError> {
    PublicKey::from_spki(cert.tbs_certificate().subject_public_key_info())
}

/// The subjectKeyIdentifier of a certificate, if present.
pub fn subject_key_id(tbs: &TbsCertificate) -> Option<Vec<u8>> {
    tbs.get_extension::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, ski)| ski.0.as_bytes().to_vec())
}

/// SHA-256 fingerprint of a DER structure, lowercase hex.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    hex::encode(crate::ciphersuite::HashAlgorithm::Sha256.digest(der))
}

/// CRL reason codes (RFC 5280 §5.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub enum CrlReason {
    Unspecified = 0,
    KeyCompromise = 1,
    #[serde(rename = "cACompromise")]
    CaCompromise = 2,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
    RemoveFromCrl = 8,
    PrivilegeWithdrawn = 9,
    #[serde(rename = "aACompromise")]
    AaCompromise = 10,
}

impl CrlReason {
    /// The x509-cert encoding type.
    pub fn to_x509(self) -> x509_cert::ext::pkix::CrlReason {
        use x509_cert::ext::pkix::CrlReason as X;
        match self {
            Self::Unspecified => X::Unspecified,
            Self::KeyCompromise => X::KeyCompromise,
            Self::CaCompromise => X::CaCompromise,
            Self::AffiliationChanged => X::AffiliationChanged,
            Self::Superseded => X::Superseded,
            Self::CessationOfOperation => X::CessationOfOperation,
            Self::CertificateHold => X::CertificateHold,
            Self::RemoveFromCrl => X::RemoveFromCRL,
            Self::PrivilegeWithdrawn => X::PrivilegeWithdrawn,
            Self::AaCompromise => X::AaCompromise,
        }
    }

    /// The reason with this code.
    pub fn from_code(code: u8) -> Option<Self> {
        use CrlReason::*;
        [
            Unspecified,
            KeyCompromise,
            CaCompromise,
            AffiliationChanged,
            Superseded,
            CessationOfOperation,
            CertificateHold,
            RemoveFromCrl,
            PrivilegeWithdrawn,
            AaCompromise,
        ]
        .into_iter()
        .find(|r| *r as u8 == code)
    }
}

/// One revoked certificate entry.
#[derive(Clone, Debug)]
pub struct RevokedEntry {
    /// Serial of the revoked certificate.
    pub serial: SerialNumber,
    /// When it was revoked.
    pub revocation_date: OffsetDateTime,
    /// Why; `None` or `Unspecified` omits the reasonCode extension, as RFC 5280 §5.3.1 asks.
    pub reason: Option<CrlReason>,
}

/// The parts of a CRL to be signed (RFC 5280 §5.1, v2).
#[derive(Clone, Debug)]
pub struct CrlParts {
    /// The CRL issuer's certificate.
    pub issuer: Certificate,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    pub next_update: OffsetDateTime,
    /// Monotonic CRL number.
    pub crl_number: u64,
    /// Revoked entries.
    pub revoked: Vec<RevokedEntry>,
    /// The issuing distribution point URL, if the CRL is published at one; written, with the
    /// scope, as a critical issuingDistributionPoint extension.
    pub distribution_point: Option<String>,
    /// Which certificates the CRL covers.
    pub scope: CrlScope,
}

/// Which certificates a CRL covers (RFC 5280 §5.2.5, issuingDistributionPoint).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrlScope {
    /// Every certificate of the issuer (no scope flag).
    #[default]
    All,
    /// End-entity certificates only (`onlyContainsUserCerts`): an intermediate's CRL of leaves.
    UserCertificates,
    /// CA certificates only (`onlyContainsCACerts`): a root's CRL of intermediates.
    CaCertificates,
}

/// Orders DER INTEGER contents (two's complement, minimal) by numeric value: the order of
/// revoked entries in the CRLs e2ei writes.
pub fn serial_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let negative = |x: &[u8]| x.first().is_some_and(|b| b & 0x80 != 0);
    match (negative(a), negative(b)) {
        (false, true) => std::cmp::Ordering::Greater,
        (true, false) => std::cmp::Ordering::Less,
        // Minimal encodings: a longer positive number is larger, a longer negative one smaller;
        // at equal length the bytes compare as the numbers do.
        (false, false) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
        (true, true) => b.len().cmp(&a.len()).then_with(|| a.cmp(b)),
    }
}

/// A to-be-signed CRL.
#[derive(Clone, Debug)]
pub struct CrlToBeSigned {
    der: Vec<u8>,
    parsed: x509_cert::crl::TbsCertList,
    algorithm: KeyAlgorithm,
}

impl CrlToBeSigned {
    /// Encodes the parts, with the revoked entries in serial number order (so the same list
    /// always gives the same bytes).
    pub fn new(mut parts: CrlParts) -> Result<Self, X509Error> {
        use x509_cert::crl::{RevokedCert, TbsCertList};
        use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
        let issuer_tbs = parts.issuer.tbs_certificate();
        let algorithm = PublicKey::from_spki(issuer_tbs.subject_public_key_info())
            .map_err(|e| X509Error::Encoding {
                what: "CRL issuer key",
                reason: e.to_string(),
            })?
            .algorithm();
        parts
            .revoked
            .sort_unstable_by(|a, b| serial_cmp(a.serial.as_bytes(), b.serial.as_bytes()));
        let mut revoked = Vec::with_capacity(parts.revoked.len());
        for entry in parts.revoked {
            let mut entry_exts = Vec::new();
            if let Some(reason) = entry.reason.filter(|r| *r != CrlReason::Unspecified) {
                entry_exts.push(extension(
                    oid::CRL_REASON,
                    false,
                    &reason.to_x509(),
                    "reasonCode",
                )?);
            }
            revoked.push(RevokedCert {
                serial_number: entry.serial,
                revocation_date: x509_time(entry.revocation_date)?,
                crl_entry_extensions: (!entry_exts.is_empty()).then_some(entry_exts),
            });
        }
        let issuer_key_id = subject_key_id(issuer_tbs).ok_or_else(|| X509Error::Encoding {
            what: "CRL",
            reason: "the issuer certificate has no subjectKeyIdentifier".into(),
        })?;
        let mut crl_extensions = vec![
            authority_key_identifier(&issuer_key_id)?,
            extension(
                oid::CRL_NUMBER,
                false,
                &der::asn1::Uint::new(&parts.crl_number.to_be_bytes()).map_err(enc("cRLNumber"))?,
                "cRLNumber",
            )?,
        ];
        if parts.distribution_point.is_some() || parts.scope != CrlScope::All {
            let distribution_point = match &parts.distribution_point {
                Some(url) => Some(DistributionPointName::FullName(vec![uri_general_name(
                    url,
                )?])),
                None => None,
            };
            crl_extensions.push(extension(
                oid::ISSUING_DISTRIBUTION_POINT,
                true,
                &IssuingDistributionPoint {
                    distribution_point,
                    only_contains_user_certs: parts.scope == CrlScope::UserCertificates,
                    only_contains_ca_certs: parts.scope == CrlScope::CaCertificates,
                    only_some_reasons: None,
                    indirect_crl: false,
                    only_contains_attribute_certs: false,
                },
                "issuingDistributionPoint",
            )?);
        }
        let tbs = TbsCertList {
            version: Version::V2,
            signature: algorithm.signature_algorithm_identifier(),
            issuer: issuer_tbs.subject().clone(),
            this_update: x509_time(parts.this_update)?,
            next_update: Some(x509_time(parts.next_update)?),
            revoked_certificates: (!revoked.is_empty()).then_some(revoked),
            crl_extensions: Some(crl_extensions),
        };
        let der = tbs.to_der().map_err(enc("TBSCertList"))?;
        Ok(Self {
            der,
            parsed: tbs,
            algorithm,
        })
    }

    /// The exact bytes to sign.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed TBS.
    pub fn parsed(&self) -> &x509_cert::crl::TbsCertList {
        &self.parsed
    }

    /// The signature algorithm (the issuer key's).
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// Attaches an X.509-encoded signature, giving the CRL's DER with the TBS bytes exactly
    /// as signed (no re-encoding of a large revoked list).
    pub fn into_der(self, signature_x509: &[u8]) -> Result<Vec<u8>, X509Error> {
        signed_der(&self.der, self.algorithm, signature_x509, "CRL")
    }

    /// Attaches an X.509-encoded signature.
    pub fn into_crl(
        self,
        signature_x509: &[u8],
    ) -> Result<x509_cert::crl::CertificateList, X509Error> {
        Ok(x509_cert::crl::CertificateList {
            tbs_cert_list: self.parsed,
            signature_algorithm: self.algorithm.signature_algorithm_identifier(),
            signature: BitString::from_bytes(signature_x509).map_err(enc("signature"))?,
        })
    }
}

/// A PKCS#10 request to be signed (subject and key only, as the cross-signing ceremony needs).
#[derive(Clone, Debug)]
pub struct CsrToBeSigned {
    der: Vec<u8>,
    info: x509_cert::request::CertReqInfo,
    algorithm: KeyAlgorithm,
}

impl CsrToBeSigned {
    /// A request for `subject` certifying `key`.
    pub fn new(subject: Name, key: &PublicKey) -> Result<Self, X509Error> {
        Self::with_extensions(subject, key, Vec::new())
    }

    /// A request that also asks for `extensions` (an `extensionRequest` attribute, RFC 2985),
    /// as a Wire client's CSR carries its subjectAltName (protocol doc §7.1).
    pub fn with_extensions(
        subject: Name,
        key: &PublicKey,
        extensions: Vec<Extension>,
    ) -> Result<Self, X509Error> {
        let mut attributes = x509_cert::attr::Attributes::new();
        if !extensions.is_empty() {
            let attribute =
                x509_cert::attr::Attribute::try_from(x509_cert::request::ExtensionReq(extensions))
                    .map_err(enc("extensionRequest"))?;
            attributes
                .insert(attribute)
                .map_err(enc("extensionRequest"))?;
        }
        let info = x509_cert::request::CertReqInfo {
            version: x509_cert::request::Version::V1,
            subject,
            public_key: key.spki().clone(),
            attributes,
        };
        Ok(Self {
            der: info.to_der().map_err(enc("CertificationRequestInfo"))?,
            info,
            algorithm: key.algorithm(),
        })
    }

    /// The exact bytes to sign.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Attaches the signature.
    pub fn into_csr(self, signature_x509: &[u8]) -> Result<x509_cert::request::CertReq, X509Error> {
        Ok(x509_cert::request::CertReq {
            info: self.info,
            algorithm: self.algorithm.signature_algorithm_identifier(),
            signature: BitString::from_bytes(signature_x509).map_err(enc("signature"))?,
        })
    }
}

/// The extensions a CSR asks for in its `extensionRequest` attribute(s).
pub fn csr_requested_extensions(
    csr: &x509_cert::request::CertReq,
) -> Result<Vec<Extension>, X509Error> {
    let mut out = Vec::new();
    for attribute in csr.info.attributes.iter() {
        if attribute.oid != <x509_cert::request::ExtensionReq as const_oid::AssociatedOid>::OID {
            continue;
        }
        for value in attribute.values.iter() {
            let request = value
                .decode_as::<x509_cert::request::ExtensionReq>()
                .map_err(|e: der::Error| X509Error::Parse {
                    what: "CSR extensionRequest",
                    reason: e.to_string(),
                })?;
            out.extend(request.0);
        }
    }
    Ok(out)
}

/// Verifies a CSR's self-signature and returns its key.
pub fn verify_csr(csr: &x509_cert::request::CertReq) -> Result<PublicKey, X509Error> {
    let key = PublicKey::from_spki(&csr.info.public_key).map_err(|e| X509Error::Parse {
        what: "CSR public key",
        reason: e.to_string(),
    })?;
    if csr.algorithm.oid != key.algorithm().signature_oid() {
        return Err(X509Error::Parse {
            what: "CSR",
            reason: format!(
                "signature algorithm {} does not match the {} key",
                csr.algorithm.oid,
                key.algorithm()
            ),
        });
    }
    let info = csr.info.to_der().map_err(enc("CSR"))?;
    let sig = csr.signature.as_bytes().ok_or_else(|| X509Error::Parse {
        what: "CSR",
        reason: "signature has unused bits".into(),
    })?;
    key.verify_x509(&info, sig).map_err(|_| X509Error::Parse {
        what: "CSR",
        reason: "its signature does not verify with its own public key".into(),
    })?;
    Ok(key)
}
