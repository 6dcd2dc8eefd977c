//! The `e2ei-client` command line refuses bad input with a clear message and a non-zero exit,
//! and keeps the password out of argv (the enrollment flow itself runs in `tests/e2e`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_e2ei-client");

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("E2EI_PASSWORD")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn status_without_an_enrollment_says_to_enroll_first() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(&["status", "--state", dir.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("enroll first"), "{out}");
}

#[test]
fn enroll_refuses_an_unknown_ciphersuite_and_a_missing_password() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let common = [
        "enroll",
        "--state",
        state.to_str().unwrap(),
        "--directory",
        "https://127.0.0.1:9/acme/wire/directory",
        "--backend",
        "https://127.0.0.1:9",
        "--login",
        "alice_wire",
    ];
    let (ok, out) = run(&[&common[..], &["--ciphersuite", "rsa"]].concat());
    assert!(!ok && out.contains("unknown ciphersuite"), "{out}");
    let (ok, out) = run(&common);
    assert!(!ok && out.contains("E2EI_PASSWORD"), "{out}");
    // There is no flag that takes the password itself.
    let (ok, out) = run(&[&common[..], &["--password", "secret"]].concat());
    assert!(!ok && out.contains("unexpected argument"), "{out}");
}

#[test]
fn verify_refuses_a_file_that_holds_no_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").unwrap();
    let path = empty.to_str().unwrap();
    let (ok, out) = run(&["verify", "--chain", path, "--roots", path]);
    assert!(!ok, "{out}");
}
