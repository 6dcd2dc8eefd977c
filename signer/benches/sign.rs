//! Signing throughput of each backend and algorithm, with OpenSSL's `speed` on the same
//! machine as the baseline. A bench binary (no timing assertions anywhere):
//! `cargo bench -p e2ei-signer --bench sign`. SoftHSM2 rows appear when SoftHSM2 is installed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_signer::{GenerateOptions, KeyUri, Signer};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Signatures per second over about one second (every signature is also verified, as
/// `Signer::sign` always does).
fn rate(signer: &Signer) -> f64 {
    let message = [0x5au8; 512]; // the size of a typical leaf TBS
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(1) {
        signer.sign(&message).unwrap();
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn openssl_speed(alg: KeyAlgorithm) -> Option<f64> {
    let name = match alg {
        KeyAlgorithm::Ed25519 => "ed25519",
        KeyAlgorithm::P256 => "ecdsap256",
        KeyAlgorithm::P384 => "ecdsap384",
        KeyAlgorithm::P521 => "ecdsap521",
    };
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "1", "-mr", name])
        .output()
        .ok()?;
    // Machine-readable lines `+F4:…:sign/s:verify/s` (ECDSA) or `+F6:…` (EdDSA). Reported
    // as sign+verify per second, the unit of the e2ei columns.
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("+F4:") || l.starts_with("+F6:"))?;
    let fields: Vec<&str> = line.split(':').collect();
    let sign: f64 = fields.get(fields.len().checked_sub(2)?)?.parse().ok()?;
    let verify: f64 = fields.last()?.parse().ok()?;
    (sign > 0.0 && verify > 0.0).then(|| 1.0 / (1.0 / sign + 1.0 / verify))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut softhsm_pin = None;
    if std::path::Path::new(MODULE).exists() && std::env::var_os("SOFTHSM2_CONF").is_some() {
        softhsm_pin = std::env::var("E2EI_BENCH_PIN_FILE").ok();
    }
    println!(
        "| algorithm | e2ei software (sign+verify)/s | OpenSSL 3.0 speed (sign+verify)/s | e2ei SoftHSM2 (sign+verify)/s |"
    );
    println!("|---|---|---|---|");
    for alg in KeyAlgorithm::ALL {
        let file: KeyUri = format!("file:{}/{alg}.pem", dir.path().display())
            .parse()
            .unwrap();
        let software = Signer::generate(&file, alg, &GenerateOptions::default()).unwrap();
        let soft = rate(&software);
        let openssl = openssl_speed(alg)
            .map(|r| format!("{r:.0}"))
            .unwrap_or_else(|| "n/a".into());
        let hsm = softhsm_pin
            .as_ref()
            .map(|pin| {
                let uri: KeyUri = format!(
                    "pkcs11:token=bench;object=bench-{alg}?module-path={MODULE}&pin-source=file:{pin}"
                )
                .parse()
                .unwrap();
                let signer = Signer::generate(&uri, alg, &GenerateOptions::default()).unwrap();
                format!("{:.0}", rate(&signer))
            })
            .unwrap_or_else(|| "n/a (set SOFTHSM2_CONF and E2EI_BENCH_PIN_FILE)".into());
        println!("| {alg} | {soft:.0} | {openssl} | {hsm} |");
    }
}
