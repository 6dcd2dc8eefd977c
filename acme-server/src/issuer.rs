//! Issuance: the Wire leaf of protocol doc §7.3 and the standard provisioner's TLS server leaf,
//! each built from its e2ei-core profile, checked against it, and signed through e2ei-signer by
//! the intermediate (a file, PKCS#11 or YubiKey key alike).

use std::time::Duration;

use e2ei_core::key::PublicKey;
use e2ei_core::profile::{
    IssuerRef, Profile, TlsLeafExpectations, WireLeafExpectations, check, check_tls_server_leaf,
    tls_server_leaf_parts, wire_leaf_parts,
};
use e2ei_core::x509::{ToBeSigned, certificate_public_key, certificate_to_pem, validity};
use e2ei_signer::Signer;
use time::OffsetDateTime;
use x509_cert::Certificate;

/// Longest leaf validity (step-ca's Wire default: 90 days).
pub const DEFAULT_MAX_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);

/// The issuing intermediate.
#[derive(Debug)]
pub struct Issuer {
    signer: Signer,
    certificate: Certificate,
    chain: Vec<Certificate>,
    crl_url: Option<String>,
    max_validity: Duration,
}

impl Issuer {
    /// `signer` must hold the key of `certificate`; `chain` holds further intermediates up to
    /// (not including) the root, in order.
    pub fn new(
        signer: Signer,
        certificate: Certificate,
        chain: Vec<Certificate>,
        crl_url: Option<String>,
        max_validity: Duration,
    ) -> Result<Self, String> {
        let key = certificate_public_key(&certificate).map_err(|e| e.to_string())?;
        if &key != signer.public_key() {
            return Err(format!(
                "{} is not the key of the issuing certificate",
                signer.describe()
            ));
        }
        Ok(Self {
            signer,
            certificate,
            chain,
            crl_url,
            max_validity,
        })
    }

    /// The issuing certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The end of the issuing certificate's validity.
    pub fn not_after(&self) -> OffsetDateTime {
        let end = self
            .certificate
            .tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration();
        OffsetDateTime::from_unix_timestamp(i64::try_from(end.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The longest validity it grants.
    pub fn max_validity(&self) -> Duration {
        self.max_validity
    }

    /// Builds, checks and signs a Wire leaf for `key`.
    pub fn issue_wire_leaf(
        &self,
        identity: &WireLeafExpectations,
        key: PublicKey,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Certificate, String> {
        let window = validity(not_before, not_after).map_err(|e| e.to_string())?;
        let parts = wire_leaf_parts(
            identity,
            key,
            &self.certificate,
            window,
            self.crl_url.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        let tbs = ToBeSigned::new(parts).map_err(|e| e.to_string())?;
        check(
            Profile::WireLeaf,
            tbs.parsed(),
            IssuerRef::Certificate(&self.certificate),
            Some(identity),
        )
        .map_err(|e| e.to_string())?;
        self.sign(tbs)
    }

    /// Builds, checks and signs a TLS server leaf for `key` and the names of `expect`.
    pub fn issue_tls_leaf(
        &self,
        expect: &TlsLeafExpectations,
        key: PublicKey,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Certificate, String> {
        let window = validity(not_before, not_after).map_err(|e| e.to_string())?;
        let parts = tls_server_leaf_parts(
            expect,
            key,
            &self.certificate,
            window,
            self.crl_url.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        let tbs = ToBeSigned::new(parts).map_err(|e| e.to_string())?;
        check_tls_server_leaf(
            tbs.parsed(),
            IssuerRef::Certificate(&self.certificate),
            expect,
        )
        .map_err(|e| e.to_string())?;
        self.sign(tbs)
    }

    /// Signs a checked TBS (the signer verifies its own signature before returning it).
    fn sign(&self, tbs: ToBeSigned) -> Result<Certificate, String> {
        let signature = self
            .signer
            .sign(tbs.der())
            .and_then(|s| s.to_x509())
            .map_err(|e| e.to_string())?;
        tbs.into_certificate(&signature).map_err(|e| e.to_string())
    }

    /// The PEM chain served for `leaf`: leaf first, then the intermediates, no root (§15.7).
    pub fn chain_pem(&self, leaf: &Certificate) -> Result<String, String> {
        let mut pem = String::new();
        for cert in std::iter::once(leaf)
            .chain(std::iter::once(&self.certificate))
            .chain(&self.chain)
        {
            pem.push_str(&certificate_to_pem(cert).map_err(|e| e.to_string())?);
        }
        Ok(pem)
    }
}
