//! Revocation checking against caller-supplied CRLs (RFC 5280 §6.3, simplified): complete,
//! direct CRLs only.
//!
//! For every certificate of the path below the trust anchor, the CRLs whose issuer name equals
//! the certificate's issuer (and whose authorityKeyIdentifier, when both are present, equals
//! the issuer's subjectKeyIdentifier) are checked: signed by the issuer's key (which must
//! assert cRLSign when it has a keyUsage), current at the validation time, well formed, no
//! unknown critical extension. A serial listed on any such CRL is revoked, whatever the CRL's
//! scope (serials are unique per issuer). A certificate counts as *checked* only when a CRL
//! whose scope covers it (issuingDistributionPoint: right certificate kind, all reasons, a
//! distribution point name matching the certificate's) does not list it.
//!
//! Not supported (the CRL is rejected as [`PathError::MalformedCrl`]): delta CRLs, indirect
//! CRLs (`indirectCRL`, `certificateIssuer` entries).

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CERTIFICATE_ISSUER, ID_CE_CRL_NUMBER, ID_CE_CRL_REASONS,
    ID_CE_DELTA_CRL_INDICATOR, ID_CE_FRESHEST_CRL, ID_CE_INVALIDITY_DATE, ID_CE_ISSUER_ALT_NAME,
    ID_CE_ISSUING_DISTRIBUTION_POINT, ID_PE_AUTHORITY_INFO_ACCESS,
};
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::certificate::Version;
use x509_cert::crl::CertificateList;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::name::DistributionPointName;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlReason, KeyUsages};

use super::{Node, PathError, RevocationPolicy, RevocationStatus, SigFailure, names};

/// What one usable CRL says about one certificate.
struct Verdict {
    revoked: Option<PathError>,
    /// The CRL's scope covers the certificate completely.
    complete: bool,
}

/// Checks every certificate of `path` (leaf first, anchor last) except the anchor.
pub(super) fn check(
    path: &[&Node<'_>],
    crls: &[CertificateList],
    policy: RevocationPolicy,
    time: OffsetDateTime,
) -> Result<RevocationStatus, PathError> {
    if policy == RevocationPolicy::Ignore {
        return Ok(RevocationStatus::NotChecked);
    }
    let mut unchecked = Vec::new();
    for pair in path.windows(2) {
        let (cert, issuer) = (pair[0], pair[1]);
        let tbs = cert.cert.tbs_certificate();
        let issuer_ski = issuer.exts.as_ref().ok().and_then(|e| e.ski.as_deref());
        let relevant = crls.iter().filter(|crl| {
            names::names_equal(&crl.tbs_cert_list.issuer, tbs.issuer())
                && match (crl_aki(crl), issuer_ski) {
                    (Some(aki), Some(ski)) => aki == ski,
                    _ => true,
                }
        });
        let mut first_error = None;
        let mut complete = false;
        let mut any_usable = false;
        for crl in relevant {
            match check_one(cert, issuer, crl, time) {
                Ok(verdict) => {
                    if let Some(revoked) = verdict.revoked {
                        return Err(revoked);
                    }
                    any_usable = true;
                    complete |= verdict.complete;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if complete {
            continue;
        }
        if let (false, Some(error)) = (any_usable, first_error) {
            return Err(error);
        }
        if policy == RevocationPolicy::Require {
            return Err(PathError::RevocationUnavailable {
                subject: cert.subject.clone(),
            });
        }
        unchecked.push(cert.subject.clone());
    }
    Ok(if unchecked.is_empty() {
        RevocationStatus::Good
    } else {
        RevocationStatus::NotDetermined { unchecked }
    })
}

fn crl_aki(crl: &CertificateList) -> Option<Vec<u8>> {
    crl.tbs_cert_list
        .crl_extensions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|e| e.extn_id == ID_CE_AUTHORITY_KEY_IDENTIFIER)
        .and_then(|e| AuthorityKeyIdentifier::from_der(e.extn_value.as_bytes()).ok())
        .and_then(|aki| aki.key_identifier)
        .map(|k| k.as_bytes().to_vec())
}

fn check_one(
    cert: &Node<'_>,
    issuer: &Node<'_>,
    crl: &CertificateList,
    time: OffsetDateTime,
) -> Result<Verdict, PathError> {
    let list = &crl.tbs_cert_list;
    let issuer_name = issuer.subject.clone();
    let malformed = |reason: String| PathError::MalformedCrl {
        issuer: issuer_name.clone(),
        reason,
    };

    // RFC 5280 §6.3.3 (f): the CRL signer must be allowed to sign CRLs.
    let issuer_exts = issuer.exts.as_ref().map_err(Clone::clone)?;
    if let Some(ku) = &issuer_exts.key_usage {
        if !ku.0.contains(KeyUsages::CRLSign) {
            return Err(PathError::CrlIssuerMissingCrlSign {
                issuer: issuer.subject.clone(),
            });
        }
    }
    if list.signature != crl.signature_algorithm {
        return Err(malformed(format!(
            "signature algorithm {} in tbsCertList differs from {} outside",
            list.signature.oid, crl.signature_algorithm.oid
        )));
    }
    let key = issuer
        .key
        .as_ref()
        .map_err(|e| PathError::UnsupportedAlgorithm {
            subject: issuer.subject.clone(),
            algorithm: e.to_string(),
        })?;
    let tbs = list
        .to_der()
        .map_err(|e| malformed(format!("cannot re-encode tbsCertList: {e}")))?;
    match super::verify_signature(key, &crl.signature_algorithm, &tbs, &crl.signature) {
        Ok(()) => {}
        Err(SigFailure::Bad) => {
            return Err(PathError::CrlBadSignature {
                issuer: issuer.subject.clone(),
            });
        }
        Err(SigFailure::Unsupported(algorithm)) => {
            return Err(malformed(format!("unsupported signature: {algorithm}")));
        }
    }

    // Well-formedness and extensions (RFC 5280 §5.2).
    let has_entry_extensions = list
        .revoked_certificates
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|r| r.crl_entry_extensions.is_some());
    if (list.crl_extensions.is_some() || has_entry_extensions) && list.version != Version::V2 {
        return Err(malformed("extensions require a v2 CRL".into()));
    }
    let idp = read_crl_extensions(list.crl_extensions.as_deref().unwrap_or_default())
        .map_err(|e| malformed(e.to_string()))?
        .issuing_distribution_point;

    // RFC 5280 §6.3.3 (a)/(b): current at the validation time.
    let this_update = super::to_offset(&list.this_update);
    if time < this_update {
        return Err(PathError::CrlNotYetValid {
            issuer: issuer.subject.clone(),
            this_update,
            time,
        });
    }
    if let Some(next) = &list.next_update {
        let next_update = super::to_offset(next);
        if time > next_update {
            return Err(PathError::CrlExpired {
                issuer: issuer.subject.clone(),
                next_update,
                time,
            });
        }
    }

    // Scope (issuingDistributionPoint, RFC 5280 §5.2.5).
    let cert_exts = cert.exts.as_ref().map_err(Clone::clone)?;
    let is_ca = cert_exts.basic_constraints.as_ref().is_some_and(|bc| bc.ca);
    let complete = match &idp {
        None => true,
        Some(idp) => {
            if idp.only_contains_attribute_certs {
                // Covers attribute certificates only: says nothing about this one.
                return Ok(Verdict {
                    revoked: None,
                    complete: false,
                });
            }
            let kind_ok = if is_ca {
                !idp.only_contains_user_certs
            } else {
                !idp.only_contains_ca_certs
            };
            let reasons_ok = idp.only_some_reasons.is_none();
            let point_ok = match &idp.distribution_point {
                None => true,
                Some(DistributionPointName::FullName(idp_names)) => cert_exts
                    .crl_distribution_points
                    .iter()
                    .flatten()
                    .filter_map(|dp| match &dp.distribution_point {
                        Some(DistributionPointName::FullName(names)) => Some(names),
                        _ => None,
                    })
                    .flatten()
                    .any(|name| idp_names.contains(name)),
                Some(DistributionPointName::NameRelativeToCRLIssuer(_)) => false,
            };
            kind_ok && reasons_ok && point_ok
        }
    };

    // Entries.
    let serial = cert.cert.tbs_certificate().serial_number();
    let revoked = match list
        .revoked_certificates
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|r| r.serial_number.as_bytes() == serial.as_bytes())
    {
        None => None,
        Some(entry) => {
            let mut reason = None;
            let entry_exts = entry.crl_entry_extensions.as_deref().unwrap_or_default();
            check_duplicates(entry_exts)
                .map_err(|oid| malformed(format!("duplicate entry extension {oid}")))?;
            for ext in entry_exts {
                if let Some(r) =
                    read_entry_extension(ext.extn_id, ext.critical, ext.extn_value.as_bytes())
                        .map_err(|e| malformed(e.to_string()))?
                {
                    reason = Some(r);
                }
            }
            Some(PathError::Revoked {
                subject: cert.subject.clone(),
                serial: hex::encode(serial.as_bytes()),
                reason,
                revocation_date: super::to_offset(&entry.revocation_date),
            })
        }
    };
    Ok(Verdict { revoked, complete })
}

/// Why a CRL's extensions break the rules e2ei reads CRLs by (RFC 5280 §5.2, §5.3).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrlRuleError {
    /// An extension occurs twice.
    #[error("duplicate extension {0}")]
    DuplicateExtension(ObjectIdentifier),
    /// A critical CRL extension e2ei does not understand.
    #[error("unknown critical extension {0}")]
    UnknownCriticalExtension(ObjectIdentifier),
    /// A critical CRL entry extension e2ei does not understand.
    #[error("unknown critical entry extension {0}")]
    UnknownCriticalEntryExtension(ObjectIdentifier),
    /// A known extension that does not decode or has the wrong criticality.
    #[error("{what}: {reason}")]
    Malformed {
        /// The extension.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A kind of CRL e2ei does not process.
    #[error("{0} are not supported")]
    Unsupported(&'static str),
    /// No cRLNumber.
    #[error("cRLNumber is missing (RFC 5280 §5.2.3 requires it)")]
    MissingCrlNumber,
}

/// A CRL's own extensions, read and checked.
#[derive(Clone, Debug)]
pub struct CrlExtensions {
    /// The authorityKeyIdentifier's keyIdentifier.
    pub authority_key_id: Option<Vec<u8>>,
    /// The cRLNumber (non-negative, RFC 5280 §5.2.3).
    pub crl_number: der::asn1::Uint,
    /// The issuingDistributionPoint (RFC 5280 §5.2.5).
    pub issuing_distribution_point: Option<IssuingDistributionPoint>,
}

/// Reads a complete, direct CRL's extensions: no duplicates, a non-critical cRLNumber, no delta
/// or indirect CRL, and no critical extension other than those understood (AKI, cRLNumber,
/// issuingDistributionPoint, issuerAltName, freshestCRL, authorityInfoAccess).
pub fn read_crl_extensions(extensions: &[Extension]) -> Result<CrlExtensions, CrlRuleError> {
    check_duplicates(extensions).map_err(CrlRuleError::DuplicateExtension)?;
    let malformed = |what: &'static str| {
        move |e: der::Error| CrlRuleError::Malformed {
            what,
            reason: e.to_string(),
        }
    };
    let mut authority_key_id = None;
    let mut crl_number = None;
    let mut issuing_distribution_point = None;
    for ext in extensions {
        let value = ext.extn_value.as_bytes();
        match ext.extn_id {
            ID_CE_CRL_NUMBER => {
                if ext.critical {
                    return Err(CrlRuleError::Malformed {
                        what: "cRLNumber",
                        reason: "must be non-critical".into(),
                    });
                }
                crl_number =
                    Some(der::asn1::Uint::from_der(value).map_err(malformed("cRLNumber"))?);
            }
            ID_CE_ISSUING_DISTRIBUTION_POINT => {
                let idp = IssuingDistributionPoint::from_der(value)
                    .map_err(malformed("issuingDistributionPoint"))?;
                if idp.indirect_crl {
                    return Err(CrlRuleError::Unsupported("indirect CRLs"));
                }
                issuing_distribution_point = Some(idp);
            }
            ID_CE_DELTA_CRL_INDICATOR => return Err(CrlRuleError::Unsupported("delta CRLs")),
            ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                authority_key_id = AuthorityKeyIdentifier::from_der(value)
                    .map_err(malformed("authorityKeyIdentifier"))?
                    .key_identifier
                    .map(|k| k.as_bytes().to_vec());
            }
            ID_CE_ISSUER_ALT_NAME | ID_CE_FRESHEST_CRL | ID_PE_AUTHORITY_INFO_ACCESS => {}
            oid if ext.critical => return Err(CrlRuleError::UnknownCriticalExtension(oid)),
            _ => {}
        }
    }
    Ok(CrlExtensions {
        authority_key_id,
        crl_number: crl_number.ok_or(CrlRuleError::MissingCrlNumber)?,
        issuing_distribution_point,
    })
}

/// Reads one CRL entry extension (RFC 5280 §5.3): the reasonCode it carries, if it is one;
/// invalidityDate and unknown non-critical extensions are accepted and ignored;
/// certificateIssuer (indirect CRLs) and unknown critical extensions are refused. Callers check
/// for duplicates.
pub fn read_entry_extension(
    extn_id: ObjectIdentifier,
    critical: bool,
    value: &[u8],
) -> Result<Option<CrlReason>, CrlRuleError> {
    match extn_id {
        ID_CE_CRL_REASONS => {
            CrlReason::from_der(value)
                .map(Some)
                .map_err(|e| CrlRuleError::Malformed {
                    what: "reasonCode",
                    reason: e.to_string(),
                })
        }
        ID_CE_CERTIFICATE_ISSUER => Err(CrlRuleError::Unsupported(
            "certificateIssuer entries (indirect CRLs)",
        )),
        ID_CE_INVALIDITY_DATE => Ok(None),
        oid if critical => Err(CrlRuleError::UnknownCriticalEntryExtension(oid)),
        _ => Ok(None),
    }
}

/// The first OID that occurs twice.
fn check_duplicates(extensions: &[Extension]) -> Result<(), ObjectIdentifier> {
    for (i, ext) in extensions.iter().enumerate() {
        if extensions[..i].iter().any(|e| e.extn_id == ext.extn_id) {
            return Err(ext.extn_id);
        }
    }
    Ok(())
}
