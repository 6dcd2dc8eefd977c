//! The shard maths as a property: random sequences of issue / revoke / let time pass / change
//! the shard count / regenerate, where every regeneration signs one real CRL per shard and
//! reads it back through verification and the index. After each regeneration, every revoked
//! certificate still within its grace period is on exactly one CRL — the one at the
//! distribution point its certificate names — and nothing else is on any.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::num::NonZeroU32;

use common::TestPki;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_crl::{CrlReason, RevokedCertificate, ShardId, Sharding, sign_crl, verify_crl};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};
use x509_cert::serial_number::SerialNumber;

const TEMPLATE: &str = "https://acme.wire.example.com/crl/{shard}";
const GRACE: Duration = Duration::hours(48);

#[derive(Clone, Debug)]
enum Op {
    /// Issue a certificate with this serial seed, valid for this many hours.
    Issue(u128, u16),
    /// Revoke the n-th issued certificate (modulo how many there are), with a reason.
    Revoke(usize, u8),
    /// Let hours pass.
    Advance(u16),
    /// Use this shard count for new certificates.
    Reshard(u32),
    /// Sign every shard's CRL and check them.
    Regenerate,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u128>(), 1u16..200).prop_map(|(s, h)| Op::Issue(s, h)),
        // Every code but 7 (unassigned) and removeFromCRL (8), which only delta CRLs carry.
        3 => (any::<usize>(), prop::sample::select(vec![0u8, 1, 2, 3, 4, 5, 6, 9, 10]))
            .prop_map(|(i, r)| Op::Revoke(i, r)),
        2 => (1u16..72).prop_map(Op::Advance),
        1 => (1u32..9).prop_map(Op::Reshard),
        2 => Just(Op::Regenerate),
    ]
}

struct Issued {
    serial: SerialNumber,
    shard: ShardId,
    url: String,
    not_after: OffsetDateTime,
    revoked: Option<(OffsetDateTime, Option<CrlReason>)>,
}

struct World {
    pki: TestPki,
    now: OffsetDateTime,
    sharding: Sharding,
    issued: Vec<Issued>,
    crl_number: u64,
}

impl World {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Issue(seed, hours) => {
                let mut bytes = seed.to_be_bytes();
                // Positive, 16 octets, as e2ei-core's random serials are.
                bytes[0] = (bytes[0] & 0x7f) | 0x40;
                if self.issued.iter().any(|c| c.serial.as_bytes() == bytes) {
                    return;
                }
                let serial = SerialNumber::new(&bytes).unwrap();
                let shard = self.sharding.shard_of(serial.as_bytes());
                assert!(shard.get() < self.sharding.count().get());
                self.issued.push(Issued {
                    url: self.sharding.distribution_point(shard),
                    serial,
                    shard,
                    not_after: self.now + Duration::hours(i64::from(hours)),
                    revoked: None,
                });
            }
            Op::Revoke(i, reason) => {
                if self.issued.is_empty() {
                    return;
                }
                let n = self.issued.len();
                let cert = &mut self.issued[i % n];
                if cert.revoked.is_none() {
                    cert.revoked = Some((self.now, CrlReason::from_code(reason)));
                }
            }
            Op::Advance(hours) => self.now += Duration::hours(i64::from(hours)),
            Op::Reshard(count) => {
                self.sharding =
                    Sharding::new(NonZeroU32::new(count).unwrap(), TEMPLATE, GRACE).unwrap();
            }
            Op::Regenerate => self.regenerate(),
        }
    }

    fn regenerate(&mut self) {
        let revocations: Vec<RevokedCertificate> = self
            .issued
            .iter()
            .filter_map(|c| {
                c.revoked.map(|(date, reason)| RevokedCertificate {
                    serial: c.serial.clone(),
                    shard: c.shard,
                    not_after: c.not_after,
                    revocation_date: date,
                    reason,
                })
            })
            .collect();
        let shards = self.sharding.partition(&revocations, self.now);
        let mut crls = Vec::new();
        for shard in shards {
            let url = shard.distribution_point.clone();
            assert_eq!(self.sharding.shard_for_url(&url), Some(shard.shard));
            self.crl_number += 1;
            let parts = shard.into_parts(
                self.pki.intermediate.clone(),
                self.now,
                self.now + Duration::days(1),
                self.crl_number,
            );
            let signed = sign_crl(parts, &self.pki.intermediate_key).unwrap();
            let verified = verify_crl(signed.der(), &self.pki.intermediate, self.now).unwrap();
            assert_eq!(verified.distribution_points(), std::slice::from_ref(&url));
            crls.push((url, verified));
        }
        // Every shard new certificates can land in is published.
        for k in 0..self.sharding.count().get() {
            let url = self.sharding.distribution_point(ShardId::new(k));
            assert!(crls.iter().any(|(u, _)| *u == url), "no CRL at {url}");
        }
        for cert in &self.issued {
            let listed: Vec<&String> = crls
                .iter()
                .filter(|(_, crl)| crl.index().is_revoked(cert.serial.as_bytes()).is_some())
                .map(|(url, _)| url)
                .collect();
            match cert.revoked {
                Some((date, reason)) if self.sharding.listed_at(cert.not_after, self.now) => {
                    assert_eq!(listed, [&cert.url], "serial {:?}", cert.serial);
                    let (_, crl) = crls.iter().find(|(u, _)| *u == cert.url).unwrap();
                    let entry = crl.index().is_revoked(cert.serial.as_bytes()).unwrap();
                    assert_eq!(entry.revocation_date(), date);
                    assert_eq!(
                        entry.reason(),
                        reason.filter(|r| *r != CrlReason::Unspecified)
                    );
                }
                // Unrevoked, or dropped after its grace period.
                _ => assert!(listed.is_empty(), "serial {:?} on {listed:?}", cert.serial),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_listed_revocation_is_on_exactly_its_own_shard(
        initial_count in 1u32..9,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut world = World {
            pki: TestPki::new(KeyAlgorithm::Ed25519),
            // Times must stay inside the test PKI's validity: start from now.
            now: common::now(),
            sharding: Sharding::new(NonZeroU32::new(initial_count).unwrap(), TEMPLATE, GRACE)
                .unwrap(),
            issued: Vec::new(),
            crl_number: 0,
        };
        for op in &ops {
            world.apply(op);
        }
        world.regenerate();
    }
}
