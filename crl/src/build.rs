//! Building and signing a v2 CRL (RFC 5280 §5.1): e2ei-core assembles the to-be-signed list
//! from [`CrlParts`] (issuer name and AKI from the issuing certificate, thisUpdate, nextUpdate,
//! cRLNumber, a critical issuingDistributionPoint with the URL and scope, entries in serial
//! order with a reasonCode unless unspecified), the CRL profile of `e2ei_core::profile` checks
//! it, and e2ei-signer signs the exact bytes (and verifies the signature before returning it).

use e2ei_core::key::PublicKey;
use e2ei_core::profile::{CrlProfileError, check_crl};
use e2ei_core::x509::{CrlParts, CrlToBeSigned, X509Error, certificate_public_key};
use e2ei_signer::{Signer, SignerError};
use time::OffsetDateTime;

/// Why a CRL could not be built or signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The caller's signer does not hold the issuing certificate's key.
    #[error("the key {key} is not the key of the CRL issuer certificate")]
    KeyMismatch {
        /// The signer's key, without secrets.
        key: String,
    },
    /// The issuing certificate's key is not one e2ei signs with.
    #[error("the CRL issuer certificate's key: {0}")]
    IssuerKey(String),
    /// The parts cannot be encoded (a non-ASCII URL, an issuer without subjectKeyIdentifier, a
    /// time outside X.509's range).
    #[error(transparent)]
    Encoding(#[from] X509Error),
    /// The assembled CRL breaks the CRL profile; nothing was signed.
    #[error("refusing to sign: {0}")]
    Profile(#[from] CrlProfileError),
    /// The key failed to sign.
    #[error("signing the CRL: {0}")]
    Signing(#[from] SignerError),
}

/// A CRL assembled and checked against the CRL profile, not yet signed (what a dry run shows).
#[derive(Debug)]
pub struct PreparedCrl {
    tbs: CrlToBeSigned,
    issuer_key: PublicKey,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    crl_number: u64,
    entries: usize,
}

impl PreparedCrl {
    /// Assembles the CRL and checks it against the CRL profile.
    pub fn new(parts: CrlParts) -> Result<Self, BuildError> {
        let issuer_key = certificate_public_key(&parts.issuer)
            .map_err(|e| BuildError::IssuerKey(e.to_string()))?;
        let issuer = parts.issuer.clone();
        let (this_update, next_update, crl_number, entries) = (
            parts.this_update,
            parts.next_update,
            parts.crl_number,
            parts.revoked.len(),
        );
        let tbs = CrlToBeSigned::new(parts)?;
        check_crl(tbs.parsed(), &issuer)?;
        Ok(Self {
            tbs,
            issuer_key,
            this_update,
            next_update,
            crl_number,
            entries,
        })
    }

    /// The to-be-signed list.
    pub fn tbs(&self) -> &CrlToBeSigned {
        &self.tbs
    }

    /// Signs with `signer`, which must hold the issuing certificate's key.
    pub fn sign(self, signer: &Signer) -> Result<SignedCrl, BuildError> {
        if *signer.public_key() != self.issuer_key {
            return Err(BuildError::KeyMismatch {
                key: signer.describe(),
            });
        }
        let signature = signer.sign(self.tbs.der())?.to_x509()?;
        Ok(SignedCrl {
            der: self.tbs.into_der(&signature)?,
            this_update: self.this_update,
            next_update: self.next_update,
            crl_number: self.crl_number,
            entries: self.entries,
        })
    }
}

/// Assembles, checks and signs a CRL in one step.
pub fn sign_crl(parts: CrlParts, signer: &Signer) -> Result<SignedCrl, BuildError> {
    PreparedCrl::new(parts)?.sign(signer)
}

/// A signed CRL, as served (`application/pkix-crl`, DER).
#[derive(Clone, Debug)]
pub struct SignedCrl {
    der: Vec<u8>,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    crl_number: u64,
    entries: usize,
}

impl SignedCrl {
    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER encoding, by value.
    pub fn into_der(self) -> Vec<u8> {
        self.der
    }

    /// The PEM encoding (`X509 CRL`), as OpenSSL's `-CRLfile` reads it.
    pub fn to_pem(&self) -> Result<String, X509Error> {
        der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &self.der).map_err(|e| {
            X509Error::Encoding {
                what: "PEM",
                reason: e.to_string(),
            }
        })
    }

    /// thisUpdate.
    pub fn this_update(&self) -> OffsetDateTime {
        self.this_update
    }

    /// nextUpdate: when clients fetch the next one.
    pub fn next_update(&self) -> OffsetDateTime {
        self.next_update
    }

    /// The cRLNumber.
    pub fn crl_number(&self) -> u64 {
        self.crl_number
    }

    /// How many certificates it lists.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether it lists no certificate.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
}
