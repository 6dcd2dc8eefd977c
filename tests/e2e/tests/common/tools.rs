//! Independent checks of an issued chain: OpenSSL's verifier (which enforces the
//! intermediate's URI name constraints) and pkilint's RFC 5280 linter, with the findings we
//! expect on Wire leaves kept in `pkilint-allowlist.txt` beside `Cargo.toml`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use e2ei_client::Enrollment;
use e2ei_core::x509::certificate_to_pem;

/// Writes `root.pem`, `intermediate.pem` (every intermediate the authority returned),
/// `intermediate-unconstrained.pem` (the PKI's unconstrained twin) and `leaf.pem` into `dir`.
pub fn write_chain(dir: &Path, pki: &super::Pki, enrollment: &Enrollment) {
    std::fs::create_dir_all(dir).unwrap();
    let pem = |c| certificate_to_pem(c).unwrap();
    std::fs::write(dir.join("root.pem"), pem(&pki.root)).unwrap();
    let intermediates: String = enrollment.intermediates().iter().map(pem).collect();
    std::fs::write(dir.join("intermediate.pem"), intermediates).unwrap();
    std::fs::write(
        dir.join("intermediate-unconstrained.pem"),
        pem(&pki.unconstrained_twin),
    )
    .unwrap();
    std::fs::write(dir.join("leaf.pem"), pem(enrollment.leaf())).unwrap();
}

/// `openssl verify -x509_strict -purpose sslclient -CAfile root.pem -untrusted
/// <untrusted> leaf.pem` in `dir`: success, or the whole output.
fn openssl_verify(dir: &Path, untrusted: &str) -> Option<Result<(), String>> {
    let out = Command::new("openssl")
        .args([
            "verify",
            "-x509_strict",
            "-purpose",
            "sslclient",
            "-CAfile",
            "root.pem",
            "-untrusted",
            untrusted,
            "leaf.pem",
        ])
        .current_dir(dir)
        .output();
    let Ok(out) = out else {
        super::missing("openssl");
        return None;
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(if out.status.success() && text.trim() == "leaf.pem: OK" {
        Ok(())
    } else {
        Err(text)
    })
}

/// `(major, minor, patch)` of the `openssl` on the PATH.
fn openssl_version() -> Option<(u32, u32, u32)> {
    let out = Command::new("openssl").arg("version").output().ok()?;
    parse_version(
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)?,
    )
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// One entry of `openssl-divergences.txt`: OpenSSL below `below` fails a valid Wire chain
/// with `error {code} at {depth} depth lookup`.
struct Divergence {
    below: (u32, u32, u32),
    depth: u32,
    code: u32,
}

fn openssl_divergences() -> Vec<Divergence> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openssl-divergences.txt");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            Divergence {
                below: parse_version(fields[0]).unwrap(),
                depth: fields[1].parse().unwrap(),
                code: fields[2].parse().unwrap(),
            }
        })
        .collect()
}

/// OpenSSL's verdict on the chain in `dir` (see [`write_chain`]) must be what the divergence
/// ledger says for this OpenSSL: `OK`, or exactly the listed error — and then the leaf must
/// still verify under the intermediate's unconstrained twin, so that OpenSSL has checked its
/// signature, validity, encoding (`-x509_strict`) and purpose (`sslclient`) all the same. An
/// unexpected pass fails as loudly as an unexpected failure.
pub fn check_with_openssl(dir: &Path) {
    let Some(verdict) = openssl_verify(dir, "intermediate.pem") else {
        return;
    };
    let version = openssl_version().expect("openssl version");
    let expected = openssl_divergences()
        .into_iter()
        .find(|d| version < d.below);
    match (expected, verdict) {
        (None, Ok(())) => {}
        (None, Err(text)) => panic!("openssl verify failed: {text}"),
        (Some(d), Ok(())) => panic!(
            "openssl {version:?} verified the chain although openssl-divergences.txt expects error {} at depth {}: update the ledger",
            d.code, d.depth
        ),
        (Some(d), Err(text)) => {
            let errors: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("error ") && l.contains(" depth lookup"))
                .collect();
            let expected = format!("error {} at {} depth lookup", d.code, d.depth);
            assert!(
                errors.len() == 1 && errors[0].starts_with(&expected),
                "openssl verify should fail only with `{expected}` (openssl-divergences.txt): {text}"
            );
            if let Some(twin) = openssl_verify(dir, "intermediate-unconstrained.pem") {
                twin.unwrap_or_else(|t| panic!("openssl verify under the unconstrained twin: {t}"));
            }
        }
    }
}

fn checks_venv() -> PathBuf {
    std::env::var_os("E2EI_CHECKS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/e2ei-checks-venv")
        })
}

fn pkilint_binary() -> PathBuf {
    checks_venv().join("bin/lint_pkix_cert")
}

/// A program of the checks venv (scripts/test.sh installs it), if installed.
#[allow(dead_code)]
pub fn checks_venv_tool(name: &str) -> Option<PathBuf> {
    let path = checks_venv().join("bin").join(name);
    path.exists().then_some(path)
}

/// The findings pkilint reports on `dir/leaf.pem` at severity WARNING and above, as
/// `(code, message)`; `None` (skipped) without pkilint.
pub fn pkilint_leaf(dir: &Path) -> Option<Vec<(String, String)>> {
    let binary = pkilint_binary();
    if !binary.exists() {
        super::missing(&format!("pkilint ({})", binary.display()));
        return None;
    }
    let out = Command::new(&binary)
        .args(["lint", "-s", "WARNING", "-f", "JSON", "leaf.pem"])
        .current_dir(dir)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "pkilint output is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings: Vec<(String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["finding_descriptions"].as_array().unwrap().iter())
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    // The exit code is the number of findings.
    assert_eq!(
        out.status.code(),
        Some(i32::try_from(findings.len()).unwrap()),
        "pkilint's exit code and its report disagree"
    );
    Some(findings)
}

/// The expected finding codes of `pkilint-allowlist.txt` (`code  reason`, `#` comments).
pub fn pkilint_allowlist() -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pkilint-allowlist.txt");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}
