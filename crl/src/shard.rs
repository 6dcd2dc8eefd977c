//! Partitioning revocations over several CRLs (shards), so that a large deployment publishes
//! many small CRLs instead of one large one, and dropping entries once their certificates have
//! expired.
//!
//! - A certificate's shard is chosen when it is issued — its serial number modulo the shard
//!   count at that time ([`Sharding::shard_of`]) — and baked into its cRLDistributionPoints as
//!   [`Sharding::distribution_point`]. The issuer records the shard with the certificate, so
//!   that changing the count later moves nobody: each revocation stays on the CRL its
//!   certificate names.
//! - URLs come from a template ending in `/{shard}`: shard 0 is the template without that
//!   segment (`https://acme.example.com/crl`, the URL step-ca and Wire clients use, §2.5), shard
//!   `k > 0` is `…/crl/k`. Shard 0 always has the plain URL, so growing from one shard to many
//!   keeps every earlier certificate's URL valid.
//! - Each shard's CRL is a complete CRL for its scope, with a critical issuingDistributionPoint
//!   naming the shard's URL and `onlyContainsUserCerts`, so a relying party knows which CRL
//!   covers a leaf.
//! - A revoked certificate leaves the CRLs a grace period after its notAfter. RFC 5280 §5.1.2.6
//!   wants it on at least one CRL issued after it expires: choose a grace period of at least
//!   one publishing interval.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;

use e2ei_core::x509::{CrlParts, CrlReason, CrlScope, RevokedEntry, serial_cmp};
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::serial_number::SerialNumber;

/// The placeholder in a distribution point URL template.
pub const SHARD_PLACEHOLDER: &str = "{shard}";

/// A shard number: which CRL covers a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(u32);

impl ShardId {
    /// Shard `n`.
    pub fn new(n: u32) -> Self {
        Self(n)
    }

    /// Its number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a sharding configuration is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardingError {
    /// The URL template is not `http(s)://…/{shard}`.
    #[error("CRL URL template `{template}`: {reason}")]
    Template {
        /// The template.
        template: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// How revocations are spread over CRLs: the shard count for new certificates, the URL
/// template, and how long entries stay after their certificate expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sharding {
    count: NonZeroU32,
    base: String,
    grace: Duration,
}

impl Sharding {
    /// `count` shards for new certificates, URLs from `template` (an HTTP(S) URL whose last path
    /// segment is `{shard}`), entries kept `grace` after notAfter.
    pub fn new(count: NonZeroU32, template: &str, grace: Duration) -> Result<Self, ShardingError> {
        let refuse = |reason: &str| ShardingError::Template {
            template: template.to_owned(),
            reason: reason.to_owned(),
        };
        let base = template
            .strip_suffix(SHARD_PLACEHOLDER)
            .and_then(|b| b.strip_suffix('/'))
            .ok_or_else(|| refuse("must end with `/{shard}`"))?;
        if base.contains(SHARD_PLACEHOLDER) {
            return Err(refuse("`{shard}` may appear once only"));
        }
        if !template.is_ascii() {
            return Err(refuse(
                "must be ASCII (a cRLDistributionPoints URI is an IA5String)",
            ));
        }
        let url = url::Url::parse(base).map_err(|e| refuse(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(refuse("must be an http or https URL with a host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse("must have no query or fragment"));
        }
        if grace.is_negative() {
            return Err(refuse("the grace period after expiry must not be negative"));
        }
        Ok(Self {
            count,
            base: base.to_owned(),
            grace,
        })
    }

    /// The shard count for new certificates.
    pub fn count(&self) -> NonZeroU32 {
        self.count
    }

    /// How long a revoked certificate stays listed after its notAfter.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The shard of a new certificate: its serial number (DER INTEGER contents, read as an
    /// unsigned big-endian number) modulo the shard count. Stable: the same serial and count
    /// always give the same shard.
    pub fn shard_of(&self, serial: &[u8]) -> ShardId {
        let n = u64::from(self.count.get());
        let rest = serial
            .iter()
            .fold(0u64, |r, b| ((r << 8) | u64::from(*b)) % n);
        // `rest < n <= u32::MAX`.
        ShardId(u32::try_from(rest).unwrap_or(0))
    }

    /// The distribution point URL of a shard: the plain URL for shard 0, `…/{k}` for shard `k`.
    pub fn distribution_point(&self, shard: ShardId) -> String {
        if shard.0 == 0 {
            self.base.clone()
        } else {
            format!("{}/{}", self.base, shard.0)
        }
    }

    /// The shard whose distribution point is `url`, if any (to route a CRL request).
    pub fn shard_for_url(&self, url: &str) -> Option<ShardId> {
        if url == self.base {
            return Some(ShardId(0));
        }
        let digits = url.strip_prefix(self.base.as_str())?.strip_prefix('/')?;
        // Canonical numbers only, so that one shard has one URL.
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(ShardId)
    }

    /// Whether a certificate revoked and expiring at `not_after` is still listed at `now`.
    pub fn listed_at(&self, not_after: OffsetDateTime, now: OffsetDateTime) -> bool {
        now <= not_after + self.grace
    }

    /// Splits the revocations into one entry list per shard, as of `now` (the thisUpdate of
    /// the CRLs to be made): every shard below the count, even when empty (its certificates'
    /// relying parties still fetch it), plus any higher shard that still lists a revocation
    /// (from a time the count was larger); entries in serial number order; revocations listed
    /// at `now` only ([`Sharding::listed_at`]).
    ///
    /// Lowering the count leaves unrevoked certificates in the higher shards without a
    /// published CRL until one of them is revoked: keep the count until they have expired.
    pub fn partition<'a>(
        &self,
        revocations: impl IntoIterator<Item = &'a RevokedCertificate>,
        now: OffsetDateTime,
    ) -> Vec<ShardCrl> {
        let mut shards: BTreeMap<ShardId, Vec<RevokedEntry>> = (0..self.count.get())
            .map(|k| (ShardId(k), Vec::new()))
            .collect();
        for revoked in revocations {
            if self.listed_at(revoked.not_after, now) {
                shards.entry(revoked.shard).or_default().push(RevokedEntry {
                    serial: revoked.serial.clone(),
                    revocation_date: revoked.revocation_date,
                    reason: revoked.reason,
                });
            }
        }
        shards
            .into_iter()
            .map(|(shard, mut revoked)| {
                revoked
                    .sort_unstable_by(|a, b| serial_cmp(a.serial.as_bytes(), b.serial.as_bytes()));
                ShardCrl {
                    shard,
                    distribution_point: self.distribution_point(shard),
                    revoked,
                }
            })
            .collect()
    }
}

/// A revocation as the issuer records it.
#[derive(Clone, Debug)]
pub struct RevokedCertificate {
    /// The certificate's serial number.
    pub serial: SerialNumber,
    /// Its shard, recorded at issuance.
    pub shard: ShardId,
    /// Its notAfter.
    pub not_after: OffsetDateTime,
    /// When it was revoked.
    pub revocation_date: OffsetDateTime,
    /// Why; `None` or unspecified writes no reasonCode.
    pub reason: Option<CrlReason>,
}

/// The entries of one shard's CRL.
#[derive(Clone, Debug)]
pub struct ShardCrl {
    /// The shard.
    pub shard: ShardId,
    /// Its distribution point URL.
    pub distribution_point: String,
    /// Its entries, in serial number order.
    pub revoked: Vec<RevokedEntry>,
}

impl ShardCrl {
    /// The parts of this shard's CRL: leaves only, at the shard's distribution point.
    /// `crl_number` must grow with every CRL for the shard; one counter shared by all shards
    /// does.
    pub fn into_parts(
        self,
        issuer: Certificate,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        crl_number: u64,
    ) -> CrlParts {
        CrlParts {
            issuer,
            this_update,
            next_update,
            crl_number,
            revoked: self.revoked,
            distribution_point: Some(self.distribution_point),
            scope: CrlScope::UserCertificates,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sharding(count: u32) -> Sharding {
        Sharding::new(
            NonZeroU32::new(count).unwrap(),
            "https://acme.example.com/crl/{shard}",
            Duration::days(1),
        )
        .unwrap()
    }

    #[test]
    fn one_shard_is_the_plain_step_ca_url() {
        let one = sharding(1);
        assert_eq!(one.shard_of(&[0x40, 0xff, 0x12]), ShardId(0));
        assert_eq!(
            one.distribution_point(ShardId(0)),
            "https://acme.example.com/crl"
        );
    }

    #[test]
    fn shard_urls_round_trip() {
        let four = sharding(4);
        assert_eq!(
            four.distribution_point(ShardId(3)),
            "https://acme.example.com/crl/3"
        );
        for k in 0..4 {
            let url = four.distribution_point(ShardId(k));
            assert_eq!(four.shard_for_url(&url), Some(ShardId(k)));
        }
        for url in [
            "https://acme.example.com/crl/03",
            "https://acme.example.com/crl/x",
            "https://acme.example.com/crl/",
            "https://acme.example.com/crlx",
            "https://other.example.com/crl",
        ] {
            assert_eq!(four.shard_for_url(url), None, "{url}");
        }
    }

    #[test]
    fn shard_is_the_serial_modulo_the_count() {
        let seven = sharding(7);
        // 0x0100 = 256 = 36 * 7 + 4.
        assert_eq!(seven.shard_of(&[0x01, 0x00]), ShardId(4));
        let big = [0x7f; 20];
        assert_eq!(seven.shard_of(&big), seven.shard_of(&big));
        assert!(seven.shard_of(&big).get() < 7);
    }

    #[test]
    fn rejects_templates_without_a_final_shard_segment() {
        for template in [
            "https://acme.example.com/crl",
            "https://acme.example.com/crl{shard}",
            "https://acme.example.com/{shard}/crl",
            "https://acme.example.com/{shard}/{shard}",
            "ftp://acme.example.com/crl/{shard}",
            "https://acme.example.com/crl?x=1/{shard}",
            "https://acmé.example.com/crl/{shard}",
            "not a url/{shard}",
        ] {
            assert!(
                Sharding::new(NonZeroU32::MIN, template, Duration::ZERO).is_err(),
                "{template}"
            );
        }
    }

    fn revoked(serial: u8, shard: u32, not_after: OffsetDateTime) -> RevokedCertificate {
        RevokedCertificate {
            serial: SerialNumber::new(&[serial]).unwrap(),
            shard: ShardId(shard),
            not_after,
            revocation_date: OffsetDateTime::UNIX_EPOCH,
            reason: None,
        }
    }

    #[test]
    fn partitions_into_every_shard_and_leftover_higher_shards() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(10);
        let live = now + Duration::days(1);
        let list = [
            revoked(9, 1, live),
            revoked(3, 1, live),
            // From a time the count was 5.
            revoked(4, 4, live),
            // Expired more than the grace period ago.
            revoked(5, 0, now - Duration::days(2)),
        ];
        let crls = sharding(3).partition(&list, now);
        let summary: Vec<(u32, &str, Vec<u8>)> = crls
            .iter()
            .map(|c| {
                (
                    c.shard.get(),
                    c.distribution_point.as_str(),
                    c.revoked.iter().map(|e| e.serial.as_bytes()[0]).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (0, "https://acme.example.com/crl", vec![]),
                (1, "https://acme.example.com/crl/1", vec![3, 9]),
                (2, "https://acme.example.com/crl/2", vec![]),
                (4, "https://acme.example.com/crl/4", vec![4]),
            ]
        );
    }

    #[test]
    fn keeps_entries_for_the_grace_period_after_expiry() {
        let s = sharding(1);
        let not_after = OffsetDateTime::UNIX_EPOCH + Duration::days(100);
        assert!(s.listed_at(not_after, not_after));
        assert!(s.listed_at(not_after, not_after + Duration::days(1)));
        assert!(!s.listed_at(not_after, not_after + Duration::days(1) + Duration::SECOND));
    }
}
