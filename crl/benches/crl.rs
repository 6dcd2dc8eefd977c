//! A CRL of 1,000,000 entries: build + profile check + sign (P-256, verify-after-sign
//! included), decode + verify + index, and one membership check; with `openssl crl -noout`
//! reading the same file and x509-cert's owned decoding of it as baselines.
//! `cargo bench -p e2ei-crl`. Under `cargo test` (criterion's one-pass smoke mode) the list
//! has 10,000 entries, so that it stays quick.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use common::{TestPki, now, random_entries};
use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use der::Decode;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::x509::random_serial;
use e2ei_crl::{sign_crl, verify_crl};

fn entries() -> usize {
    // Cargo passes `--bench` to bench targets only under `cargo bench`.
    if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    }
}

fn bench(c: &mut Criterion) {
    let n = entries();
    let pki = TestPki::new(KeyAlgorithm::P256);
    let listed = random_entries(n);
    let parts = pki.crl_parts(listed.clone());
    let signed = sign_crl(parts.clone(), &pki.intermediate_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.crl");
    std::fs::write(&file, signed.der()).unwrap();
    let at = now();

    let mut group = c.benchmark_group(format!("crl_{n}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("build_check_sign", |b| {
        b.iter_batched(
            || parts.clone(),
            |parts| sign_crl(parts, &pki.intermediate_key).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("decode_verify_index", |b| {
        b.iter(|| verify_crl(black_box(signed.der()), &pki.intermediate, at).unwrap())
    });
    group.bench_function("baseline_x509_cert_owned_decode", |b| {
        b.iter(|| <x509_cert::crl::CertificateList>::from_der(black_box(signed.der())).unwrap())
    });
    if Command::new("openssl").arg("version").output().is_ok() {
        let path = file.to_str().unwrap();
        group.bench_function("baseline_openssl_crl_noout", |b| {
            b.iter(|| {
                let status = Command::new("openssl")
                    .args(["crl", "-in", path, "-inform", "DER", "-noout"])
                    .status()
                    .unwrap();
                assert!(status.success());
            })
        });
        group.bench_function("baseline_openssl_version_process", |b| {
            b.iter(|| Command::new("openssl").arg("version").output().unwrap())
        });
    } else {
        eprintln!("SKIPPED: openssl baseline (openssl is not installed)");
    }
    group.finish();

    let index = verify_crl(signed.der(), &pki.intermediate, at)
        .unwrap()
        .into_index();
    // Many different probes (a quarter of the list), so that the measurement pays the cache
    // misses a real lookup pays rather than finding a few hot keys in cache.
    let probes = (n / 4).max(1);
    // Stored flat (e2ei serials are 16 octets), so that reading a probe costs no extra miss.
    let flat = |serial: &[u8]| -> [u8; 16] { serial.try_into().unwrap() };
    let hits: Vec<[u8; 16]> = listed
        .iter()
        .step_by(n / probes)
        .map(|e| flat(e.serial.as_bytes()))
        .collect();
    let misses: Vec<[u8; 16]> = (0..probes)
        .map(|_| flat(random_serial().unwrap().as_bytes()))
        .collect();
    let mut group = c.benchmark_group(format!("is_revoked_{n}"));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for (name, serials, expect) in [("listed", &hits, true), ("not_listed", &misses, false)] {
        group.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % serials.len();
                let found = index.is_revoked(black_box(&serials[i]));
                debug_assert_eq!(found.is_some(), expect);
                found
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
