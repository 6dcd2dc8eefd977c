//! Issuance: the Wire leaf of protocol doc §7.3 and the standard provisioner's TLS server leaf,
//! each built from its e2ei-core profile, checked against it, and signed through e2ei-signer by
//! the intermediate (a file, PKCS#11 or YubiKey key alike). With a CRL policy each leaf's
//! distribution point is its shard's (chosen from its serial), and the issuer signs the CRLs.

use std::time::Duration;

use e2ei_core::key::PublicKey;
use e2ei_core::profile::{
    IssuerRef, Profile, TlsLeafExpectations, WireLeafExpectations, check, check_tls_server_leaf,
    tls_server_leaf_parts, wire_leaf_parts,
};
use e2ei_core::x509::{
    CertificateParts, ToBeSigned, certificate_public_key, certificate_to_pem,
    crl_distribution_points, validity,
};
use e2ei_crl::Sharding;
use e2ei_signer::Signer;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::NameConstraints;
use x509_cert::ext::pkix::name::GeneralName;

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
    crl: Option<CrlPolicy>,
}

/// How the issuer's CRLs are published (issue: revocation and the CRL publisher).
#[derive(Debug, Clone)]
pub struct CrlPolicy {
    /// Shards, their distribution points (the `crl_url` for shard 0, `crl_url/{k}` for the
    /// others) and how long entries stay after expiry.
    pub sharding: Sharding,
    /// thisUpdate to nextUpdate.
    pub validity: Duration,
    /// The longest `Cache-Control: max-age` the CRL is served with: short, because a CRL is
    /// made anew at every revocation and caches should notice within minutes, not at
    /// nextUpdate (they revalidate cheaply with the ETag).
    pub max_age: Duration,
}

impl CrlPolicy {
    /// Default CRL lifetime: a day.
    pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(24 * 3600);
    /// Default time a revoked certificate stays listed after its notAfter: a day.
    pub const DEFAULT_KEEP_AFTER_EXPIRY: Duration = Duration::from_secs(24 * 3600);
    /// Default longest max-age of a served CRL: five minutes.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

    /// A policy for CRLs at `crl_url` (shard 0) in `shards` shards.
    pub fn new(
        crl_url: &str,
        shards: std::num::NonZeroU32,
        validity: Duration,
        keep_after_expiry: Duration,
    ) -> Result<Self, String> {
        if validity < Duration::from_secs(60) {
            return Err("CRL validity must be at least a minute".into());
        }
        let grace = time::Duration::try_from(keep_after_expiry).map_err(|e| e.to_string())?;
        let sharding = Sharding::new(
            shards,
            &format!("{}/{{shard}}", crl_url.trim_end_matches('/')),
            grace,
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            sharding,
            validity,
            max_age: Self::DEFAULT_MAX_AGE,
        })
    }

    /// Serves CRLs with at most this `max-age`.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// When a CRL should be made anew: at two thirds of its validity.
    pub fn refresh_after(&self) -> Duration {
        self.validity * 2 / 3
    }
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
            crl: None,
        })
    }

    /// Publishes CRLs by `policy`; leaves get the distribution point of their shard.
    pub fn with_crl(mut self, policy: CrlPolicy) -> Self {
        self.crl = Some(policy);
        self
    }

    /// The CRL publication policy, if CRLs are published.
    pub fn crl_policy(&self) -> Option<&CrlPolicy> {
        self.crl.as_ref()
    }

    /// Signs a CRL of this issuer (checked against the CRL profile first).
    pub fn sign_crl(&self, parts: e2ei_crl::CrlParts) -> Result<e2ei_crl::SignedCrl, String> {
        e2ei_crl::sign_crl(parts, &self.signer).map_err(|e| e.to_string())
    }

    /// The leaf's CRL distribution point: its shard's with a CRL policy (chosen from its
    /// serial), else the configured `crl_url`; returns the shard.
    fn add_distribution_point(&self, parts: &mut CertificateParts) -> Result<u32, String> {
        let (shard, url) = match (&self.crl, &self.crl_url) {
            (Some(policy), _) => {
                let shard = policy.sharding.shard_of(parts.serial.as_bytes());
                (shard.get(), Some(policy.sharding.distribution_point(shard)))
            }
            (None, url) => (0, url.clone()),
        };
        if let Some(url) = url {
            parts
                .extensions
                .push(crl_distribution_points(&[url]).map_err(|e| e.to_string())?);
        }
        Ok(shard)
    }

    /// Whether the issuing certificate's name constraints let it certify the DNS name `name`
    /// (RFC 5280 §4.2.1.10: a constraint covers the name and its subdomains, one with a
    /// leading period its subdomains only); no dNSName constraint permits every name.
    pub fn permits_dns_name(&self, name: &str) -> bool {
        self.permits(name, |g| match g {
            GeneralName::DnsName(d) => Some(d.as_str().to_owned()),
            _ => None,
        })
    }

    /// Whether the name constraints let it certify a URI with this host (a Wire domain).
    pub fn permits_uri_host(&self, host: &str) -> bool {
        self.permits(host, |g| match g {
            GeneralName::UniformResourceIdentifier(u) => Some(u.as_str().to_owned()),
            _ => None,
        })
    }

    /// `name` against the permitted and excluded subtrees of one name form.
    fn permits(&self, name: &str, form: impl Fn(&GeneralName) -> Option<String>) -> bool {
        use der::Decode;
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let matches = |constraint: &str| {
            let constraint = constraint.to_ascii_lowercase();
            match constraint.strip_prefix('.') {
                Some(suffix) => name.ends_with(&format!(".{suffix}")),
                None => name == constraint || name.ends_with(&format!(".{constraint}")),
            }
        };
        let Some(ext) = self
            .certificate
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id == e2ei_core::oid::NAME_CONSTRAINTS)
        else {
            return true;
        };
        let Ok(constraints) = NameConstraints::from_der(ext.extn_value.as_bytes()) else {
            return false;
        };
        let of_form =
            |subtrees: &Option<Vec<x509_cert::ext::pkix::constraints::name::GeneralSubtree>>| {
                subtrees
                    .iter()
                    .flatten()
                    .filter_map(|t| form(&t.base))
                    .collect::<Vec<_>>()
            };
        if of_form(&constraints.excluded_subtrees)
            .iter()
            .any(|c| matches(c))
        {
            return false;
        }
        let permitted = of_form(&constraints.permitted_subtrees);
        permitted.is_empty() || permitted.iter().any(|c| matches(c))
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
    ) -> Result<(Certificate, u32), String> {
        let window = validity(not_before, not_after).map_err(|e| e.to_string())?;
        let mut parts = wire_leaf_parts(identity, key, &self.certificate, window, None)
            .map_err(|e| e.to_string())?;
        let shard = self.add_distribution_point(&mut parts)?;
        let tbs = ToBeSigned::new(parts).map_err(|e| e.to_string())?;
        check(
            Profile::WireLeaf,
            tbs.parsed(),
            IssuerRef::Certificate(&self.certificate),
            Some(identity),
        )
        .map_err(|e| e.to_string())?;
        Ok((self.sign(tbs)?, shard))
    }

    /// Builds, checks and signs a TLS server leaf for `key` and the names of `expect`.
    pub fn issue_tls_leaf(
        &self,
        expect: &TlsLeafExpectations,
        key: PublicKey,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<(Certificate, u32), String> {
        let window = validity(not_before, not_after).map_err(|e| e.to_string())?;
        let mut parts = tls_server_leaf_parts(expect, key, &self.certificate, window, None)
            .map_err(|e| e.to_string())?;
        let shard = self.add_distribution_point(&mut parts)?;
        let tbs = ToBeSigned::new(parts).map_err(|e| e.to_string())?;
        check_tls_server_leaf(
            tbs.parsed(),
            IssuerRef::Certificate(&self.certificate),
            expect,
        )
        .map_err(|e| e.to_string())?;
        Ok((self.sign(tbs)?, shard))
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
