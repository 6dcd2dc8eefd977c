//! Verifying a CRL against its issuer certificate (RFC 5280 §5, §6.3.3; protocol doc §8.3), in
//! this order:
//!
//! 1. v2, the same signature algorithm inside and outside the signed part;
//! 2. the issuer name equals the certificate's subject (RFC 5280 §7.1 comparison);
//! 3. the extensions follow e2ei-core's CRL rules (cRLNumber present, no delta or indirect CRL,
//!    no critical extension that is not understood);
//! 4. the authorityKeyIdentifier equals the certificate's subjectKeyIdentifier (required when
//!    it has one), and its keyUsage, when present, allows cRLSign (RFC 5280 §4.2.1.3: without
//!    keyUsage every use is allowed);
//! 5. the signature verifies with its key over the to-be-signed bytes as received;
//! 6. `thisUpdate <= now < nextUpdate` (nextUpdate is required, RFC 5280 §5.1.2.5);
//! 7. every entry decodes, has no critical extension that is not understood, and no serial
//!    number is listed twice.
//!
//! The cheap structural checks come first so that a CRL of the wrong issuer is named as such
//! rather than as a bad signature. The revoked list is walked once, after the signature check,
//! straight into a [`RevocationIndex`].

use const_oid::ObjectIdentifier;
use e2ei_core::path::{CrlRuleError, names_equal, read_crl_extensions, read_entry_extension};
use e2ei_core::x509::{CrlReason, CrlScope, name_to_string, subject_key_id, time_to_offset};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsage;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::name::Name;

use crate::decode::{CrlIn, der_from_pem_or_der};
use crate::index::{IndexBuilder, RevocationIndex};

/// Why a CRL is not accepted. Most variants describe the CRL (the peer's fault); the issuer
/// mismatches may also mean the caller picked the wrong issuer; [`VerifyError::IssuerKey`] is
/// about the caller's issuer certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// PEM input that is not one `X509 CRL` block.
    #[error("not a PEM CRL: {0}")]
    Pem(String),
    /// The DER ends before the structure does.
    #[error("truncated {what}: {expected_len} bytes needed, {actual_len} present")]
    Truncated {
        /// The structure being decoded.
        what: &'static str,
        /// The length the encoding announces.
        expected_len: usize,
        /// The length available.
        actual_len: usize,
    },
    /// The bytes are not a DER CertificateList, or a known extension does not decode.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The structure or extension.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Not a v2 CRL.
    #[error("CRL version v{got}, expected v2")]
    UnsupportedVersion {
        /// The version the CRL states (1 when absent).
        got: u8,
    },
    /// `signature` inside tbsCertList differs from `signatureAlgorithm`.
    #[error("signature algorithm {inner} inside tbsCertList differs from {outer} outside")]
    SignatureAlgorithmMismatch {
        /// The OID inside.
        inner: String,
        /// The OID outside.
        outer: String,
    },
    /// A signature algorithm e2ei does not verify.
    #[error("unsupported signature: {0}")]
    UnsupportedSignatureAlgorithm(String),
    /// The signature does not verify with the issuer's key.
    #[error("the CRL signature does not verify with the key of {issuer}")]
    BadSignature {
        /// The issuer certificate's subject.
        issuer: String,
    },
    /// The CRL names another issuer than the certificate given.
    #[error("the CRL issuer is `{got}`, expected `{expected}`")]
    IssuerMismatch {
        /// The issuer certificate's subject.
        expected: String,
        /// The CRL's issuer.
        got: String,
    },
    /// The CRL's authorityKeyIdentifier is not the issuer's subjectKeyIdentifier.
    #[error("the CRL authorityKeyIdentifier is {}, expected {expected}", .got.as_deref().unwrap_or("absent"))]
    AuthorityKeyIdMismatch {
        /// The issuer's subjectKeyIdentifier, hex.
        expected: String,
        /// The CRL's keyIdentifier, hex, if any.
        got: Option<String>,
    },
    /// The issuer's keyUsage does not allow signing CRLs.
    #[error("{issuer} may not sign CRLs: its keyUsage lacks cRLSign")]
    IssuerNotCrlSigner {
        /// The issuer certificate's subject.
        issuer: String,
    },
    /// thisUpdate is in the future.
    #[error("the CRL is not yet valid: thisUpdate {this_update}, now {now}")]
    NotYetValid {
        /// thisUpdate.
        this_update: OffsetDateTime,
        /// The verification time.
        now: OffsetDateTime,
    },
    /// nextUpdate has passed.
    #[error("the CRL has expired: nextUpdate {next_update}, now {now}")]
    Expired {
        /// nextUpdate.
        next_update: OffsetDateTime,
        /// The verification time.
        now: OffsetDateTime,
    },
    /// No nextUpdate.
    #[error("the CRL has no nextUpdate (RFC 5280 §5.1.2.5 requires one)")]
    MissingNextUpdate,
    /// A critical CRL extension e2ei does not understand.
    #[error("unknown critical CRL extension {oid}")]
    UnknownCriticalExtension {
        /// Its OID.
        oid: ObjectIdentifier,
    },
    /// A critical entry extension e2ei does not understand.
    #[error("unknown critical extension {oid} on the entry for serial {serial}")]
    UnknownCriticalEntryExtension {
        /// The entry's serial, hex.
        serial: String,
        /// Its OID.
        oid: ObjectIdentifier,
    },
    /// A kind of CRL e2ei does not process (delta, indirect).
    #[error("{0} are not supported")]
    Unsupported(&'static str),
    /// A serial number is listed twice.
    #[error("serial {serial} is listed twice")]
    DuplicateSerial {
        /// The serial, hex.
        serial: String,
    },
    /// The caller's issuer certificate has a key e2ei cannot use.
    #[error("the issuer certificate's key: {0}")]
    IssuerKey(String),
}

impl VerifyError {
    fn from_rule(e: CrlRuleError, serial: Option<&[u8]>) -> Self {
        match e {
            CrlRuleError::UnknownCriticalExtension(oid) => Self::UnknownCriticalExtension { oid },
            CrlRuleError::UnknownCriticalEntryExtension(oid) => {
                Self::UnknownCriticalEntryExtension {
                    serial: serial.map(hex::encode).unwrap_or_default(),
                    oid,
                }
            }
            CrlRuleError::Unsupported(what) => Self::Unsupported(what),
            CrlRuleError::Malformed { what, reason } => Self::Malformed { what, reason },
            other => Self::Malformed {
                what: if serial.is_some() {
                    "crlEntryExtensions"
                } else {
                    "crlExtensions"
                },
                reason: other.to_string(),
            },
        }
    }
}

/// A cRLNumber (RFC 5280 §5.2.3): a non-negative integer of up to 20 octets, ordered by value,
/// so that a client can refuse a CRL older than the one it holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CrlNumber(Vec<u8>);

impl CrlNumber {
    fn from_uint(bytes: &[u8]) -> Self {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Self(bytes[start..].to_vec())
    }

    /// The value, if it fits in 64 bits (e2ei's own CRLs always do).
    pub fn to_u64(&self) -> Option<u64> {
        (self.0.len() <= 8).then(|| self.0.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
    }

    /// The value's big-endian bytes, without leading zeros.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Ord for CrlNumber {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // No leading zeros: the longer number is the larger.
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for CrlNumber {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for CrlNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_u64() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "0x{}", hex::encode(&self.0)),
        }
    }
}

/// A CRL that passed every check against its issuer at a given time; only
/// [`CrlIn::verify`] makes one.
#[derive(Clone, Debug)]
pub struct VerifiedCrl {
    issuer: Name,
    authority_key_id: Option<Vec<u8>>,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    crl_number: CrlNumber,
    distribution_points: Vec<String>,
    scope: CrlScope,
    index: RevocationIndex,
}

impl VerifiedCrl {
    /// The issuer name.
    pub fn issuer(&self) -> &Name {
        &self.issuer
    }

    /// The authorityKeyIdentifier's keyIdentifier.
    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.authority_key_id.as_deref()
    }

    /// thisUpdate.
    pub fn this_update(&self) -> OffsetDateTime {
        self.this_update
    }

    /// nextUpdate: when to fetch a fresh CRL (§8.3).
    pub fn next_update(&self) -> OffsetDateTime {
        self.next_update
    }

    /// The cRLNumber.
    pub fn crl_number(&self) -> &CrlNumber {
        &self.crl_number
    }

    /// The URIs of the issuingDistributionPoint's full name (empty without one).
    pub fn distribution_points(&self) -> &[String] {
        &self.distribution_points
    }

    /// The certificates the CRL covers, from the issuingDistributionPoint.
    pub fn scope(&self) -> CrlScope {
        self.scope
    }

    /// The revoked serial numbers.
    pub fn index(&self) -> &RevocationIndex {
        &self.index
    }

    /// The revoked serial numbers, by value.
    pub fn into_index(self) -> RevocationIndex {
        self.index
    }
}

/// Decodes `bytes` (DER or PEM) and verifies the CRL against `issuer` at `now`.
pub fn verify_crl(
    bytes: &[u8],
    issuer: &Certificate,
    now: OffsetDateTime,
) -> Result<VerifiedCrl, VerifyError> {
    let der = der_from_pem_or_der(bytes)?;
    CrlIn::from_der(&der)?.verify(issuer, now)
}

impl CrlIn<'_> {
    /// Verifies the CRL against `issuer` at `now` (see the module documentation for the
    /// checks) and indexes its entries.
    pub fn verify(
        &self,
        issuer: &Certificate,
        now: OffsetDateTime,
    ) -> Result<VerifiedCrl, VerifyError> {
        let itbs = issuer.tbs_certificate();
        let issuer_subject = name_to_string(itbs.subject());

        if self.version != Some(1) {
            return Err(VerifyError::UnsupportedVersion {
                got: self.version.map_or(1, |v| v.saturating_add(1)),
            });
        }
        if self.inner_signature != self.signature_algorithm {
            return Err(VerifyError::SignatureAlgorithmMismatch {
                inner: self.inner_signature.oid.to_string(),
                outer: self.signature_algorithm.oid.to_string(),
            });
        }
        if !names_equal(&self.issuer, itbs.subject()) {
            return Err(VerifyError::IssuerMismatch {
                expected: issuer_subject,
                got: name_to_string(&self.issuer),
            });
        }
        let extensions = read_crl_extensions(self.extensions.as_deref().unwrap_or_default())
            .map_err(|e| VerifyError::from_rule(e, None))?;
        if let Some(ski) = subject_key_id(itbs) {
            if extensions.authority_key_id.as_deref() != Some(ski.as_slice()) {
                return Err(VerifyError::AuthorityKeyIdMismatch {
                    expected: hex::encode(ski),
                    got: extensions.authority_key_id.as_ref().map(hex::encode),
                });
            }
        }
        // RFC 5280 §6.3.3 (f).
        if let Ok(Some((_, usage))) = itbs.get_extension::<KeyUsage>() {
            if !usage.crl_sign() {
                return Err(VerifyError::IssuerNotCrlSigner {
                    issuer: issuer_subject,
                });
            }
        }

        // Any issuer key path validation accepts, RSA included (CRLs of other PKIs).
        let key = e2ei_core::key::CertificateKey::from_spki(
            issuer.tbs_certificate().subject_public_key_info(),
        )
        .map_err(|e| VerifyError::IssuerKey(e.to_string()))?;
        let signature = self.signature.as_bytes().ok_or(VerifyError::BadSignature {
            issuer: issuer_subject.clone(),
        })?;
        key.verify_x509_with(&self.signature_algorithm, self.tbs_der, signature)
            .map_err(|failure| match failure {
                e2ei_core::key::X509SignatureFailure::Bad => VerifyError::BadSignature {
                    issuer: issuer_subject.clone(),
                },
                e2ei_core::key::X509SignatureFailure::Unsupported(what) => {
                    VerifyError::UnsupportedSignatureAlgorithm(what)
                }
            })?;

        let this_update = time_to_offset(&self.this_update);
        let next_update = time_to_offset(
            self.next_update
                .as_ref()
                .ok_or(VerifyError::MissingNextUpdate)?,
        );
        if now < this_update {
            return Err(VerifyError::NotYetValid { this_update, now });
        }
        if now >= next_update {
            return Err(VerifyError::Expired { next_update, now });
        }

        let (distribution_points, scope) = match &extensions.issuing_distribution_point {
            None => (Vec::new(), CrlScope::All),
            Some(idp) => {
                let uris = match &idp.distribution_point {
                    Some(DistributionPointName::FullName(names)) => names
                        .iter()
                        .filter_map(|n| match n {
                            GeneralName::UniformResourceIdentifier(u) => {
                                Some(u.as_str().to_owned())
                            }
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let scope = if idp.only_contains_user_certs {
                    CrlScope::UserCertificates
                } else if idp.only_contains_ca_certs {
                    CrlScope::CaCertificates
                } else {
                    CrlScope::All
                };
                (uris, scope)
            }
        };

        Ok(VerifiedCrl {
            issuer: self.issuer.clone(),
            authority_key_id: extensions.authority_key_id,
            this_update,
            next_update,
            crl_number: CrlNumber::from_uint(extensions.crl_number.as_bytes()),
            distribution_points,
            scope,
            index: self.index_entries()?,
        })
    }

    /// Walks the revoked list into an index, checking every entry's extensions.
    fn index_entries(&self) -> Result<RevocationIndex, VerifyError> {
        let mut builder = IndexBuilder::default();
        for entry in self.revoked_entries() {
            let entry = entry?;
            let mut reason = None;
            for (i, extension) in entry.extensions().enumerate() {
                let extension = extension?;
                // Entries carry one or two extensions: a quadratic duplicate check is cheaper
                // than collecting them.
                if entry
                    .extensions()
                    .take(i)
                    .any(|earlier| earlier.is_ok_and(|e| e.oid == extension.oid))
                {
                    return Err(VerifyError::Malformed {
                        what: "crlEntryExtensions",
                        reason: format!(
                            "extension {} appears twice on the entry for serial {}",
                            extension.oid,
                            hex::encode(entry.serial)
                        ),
                    });
                }
                if let Some(r) =
                    read_entry_extension(extension.oid, extension.critical, extension.value)
                        .map_err(|e| VerifyError::from_rule(e, Some(entry.serial)))?
                {
                    reason = CrlReason::from_code(r as u8);
                }
            }
            let seconds = i64::try_from(entry.revocation_date.to_unix_duration().as_secs())
                .unwrap_or(i64::MAX);
            builder
                .push(entry.serial, seconds, reason)
                .map_err(|e| VerifyError::Malformed {
                    what: "userCertificate",
                    reason: e,
                })?;
        }
        builder
            .finish()
            .map_err(|serial| VerifyError::DuplicateSerial { serial })
    }
}
