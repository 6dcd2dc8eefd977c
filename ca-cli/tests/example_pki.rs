//! Runs examples/pki/run.sh (file keys) and run-softhsm.sh (SoftHSM2 tokens) and checks every
//! artefact with OpenSSL, pkilint and `e2ei-ca verify`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const NAMES: [&str; 6] = [
    "root",
    "intermediate",
    "partner_root",
    "partner_intermediate",
    "cross_signed_intermediate",
    "root_crl",
];

fn run_example(script: &str, out: &Path) -> BTreeMap<String, PathBuf> {
    let output = Command::new(repo().join("examples/pki").join(script))
        .arg(out)
        .env("E2EI_CA", env!("CARGO_BIN_EXE_e2ei-ca"))
        .output()
        .expect("example script runs");
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let paths = name_paths(&stdout(&output));
    for name in NAMES {
        let path = paths
            .get(name)
            .unwrap_or_else(|| panic!("{script} printed no {name}="));
        assert!(path.is_file(), "{name}={} does not exist", path.display());
    }
    paths
}

fn openssl_ok(openssl: &Path, args: &[&str]) -> String {
    let out = run_tool(openssl, args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out) + &stderr(&out)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The acceptance checks shared by both runs.
fn check_pki(p: &BTreeMap<String, PathBuf>) {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let root = s(&p["root"]);
    let int = s(&p["intermediate"]);
    openssl_ok(&openssl, &["verify", "-x509_strict", "-CAfile", root, int]);
    let text = openssl_ok(&openssl, &["x509", "-in", int, "-noout", "-text"]);
    assert!(text.contains("X509v3 Name Constraints: critical"), "{text}");
    assert!(text.contains("DNS:acme.wire.example.com"), "{text}");
    assert!(text.contains("URI:wire.example.com"), "{text}");
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
    let root_text = openssl_ok(&openssl, &["x509", "-in", root, "-noout", "-text"]);
    assert!(root_text.contains("CA:TRUE, pathlen:1"), "{root_text}");
    assert!(
        root_text.contains("X509v3 Subject Key Identifier"),
        "{root_text}"
    );

    // The partner's own chain, and the cross-signed intermediate under wire.example.com's root.
    openssl_ok(
        &openssl,
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            s(&p["partner_root"]),
            s(&p["partner_intermediate"]),
        ],
    );
    let cross = s(&p["cross_signed_intermediate"]);
    openssl_ok(
        &openssl,
        &["verify", "-x509_strict", "-CAfile", root, cross],
    );
    let cross_text = openssl_ok(&openssl, &["x509", "-in", cross, "-noout", "-text"]);
    assert!(
        cross_text.contains("URI:partner.example.org"),
        "{cross_text}"
    );

    // The root CRL verifies and revokes the retired intermediate only.
    let crl = s(&p["root_crl"]);
    let crl_out = openssl_ok(
        &openssl,
        &[
            "crl", "-in", crl, "-inform", "DER", "-noout", "-verify", "-CAfile", root,
        ],
    );
    assert!(crl_out.contains("verify OK"), "{crl_out}");
    let crl_pem = Path::new(crl).with_extension("crl.pem");
    openssl_ok(
        &openssl,
        &["crl", "-in", crl, "-inform", "DER", "-out", s(&crl_pem)],
    );
    openssl_ok(
        &openssl,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            root,
            "-CRLfile",
            s(&crl_pem),
            int,
        ],
    );
    let retired = s(&p["retired_intermediate"]);
    let revoked = run_tool(
        &openssl,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            root,
            "-CRLfile",
            s(&crl_pem),
            retired,
        ],
    );
    assert!(!revoked.status.success());
    assert!(
        (stdout(&revoked) + &stderr(&revoked)).contains("certificate revoked"),
        "{}",
        stderr(&revoked)
    );

    // Our own verifier agrees.
    let ours = run_ca(&["verify", "--root", root, int]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    let ours = run_ca(&["verify", "--root", root, "--crl", crl, retired]);
    assert!(!ours.status.success(), "revoked intermediate verified");
    assert!(
        stderr(&ours).to_lowercase().contains("revoked"),
        "{}",
        stderr(&ours)
    );
    let ours = run_ca(&["verify", "--root", root, cross]);
    assert!(ours.status.success(), "{}", stderr(&ours));

    lint_all(p);
}

fn lint_all(p: &BTreeMap<String, PathBuf>) {
    let Some(lint_cert) = tool("lint_pkix_cert") else {
        return;
    };
    let Some(lint_crl) = tool("lint_crl") else {
        return;
    };
    let Some(lint_chain) = tool("lint_pkix_signer_signee_cert_chain") else {
        return;
    };
    for name in [
        "root",
        "intermediate",
        "partner_root",
        "partner_intermediate",
        "cross_signed_intermediate",
        "retired_intermediate",
    ] {
        let out = run_tool(&lint_cert, &["lint", "-s", "WARNING", s(&p[name])]);
        assert!(
            out.status.success(),
            "pkilint findings on {name}:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    for (issuer, subject) in [
        ("root", "intermediate"),
        ("root", "cross_signed_intermediate"),
        ("partner_root", "partner_intermediate"),
    ] {
        let out = run_tool(&lint_chain, &["lint", s(&p[issuer]), s(&p[subject])]);
        assert!(
            out.status.success(),
            "pkilint chain findings {issuer} -> {subject}:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    let out = run_tool(
        &lint_crl,
        &[
            "lint",
            "-t",
            "CRL",
            "-p",
            "PKIX",
            "-s",
            "WARNING",
            s(&p["root_crl"]),
        ],
    );
    assert!(
        out.status.success(),
        "pkilint findings on the root CRL:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn file_key_ceremony_passes_openssl_and_pkilint() {
    let dir = tempfile::tempdir().unwrap();
    let paths = run_example("run.sh", dir.path());
    check_pki(&paths);
    // Every ceremony left a transcript next to its output.
    let files = listing(dir.path());
    for out in ["wire.example.com/root.pem", "wire.example.com/root.crl"] {
        assert!(
            files.contains(&format!("{out}.transcript.json")),
            "no transcript for {out}: {files:?}"
        );
    }
}

#[test]
fn softhsm_ceremony_keeps_ca_keys_on_the_token() {
    if tool("softhsm2-util").is_none() || tool("pkcs11-tool").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let paths = run_example("run-softhsm.sh", dir.path());
    check_pki(&paths);
    // No private key left the tokens: the key folders are empty.
    for domain in ["wire.example.com", "partner.example.org"] {
        let keys = dir.path().join(domain).join("keys");
        assert_eq!(
            std::fs::read_dir(&keys).unwrap().count(),
            0,
            "{domain} keys on disk"
        );
    }
    // Every private key object is sensitive and never extractable.
    let conf = dir.path().join("softhsm/softhsm2.conf");
    let pin = std::fs::read_to_string(dir.path().join("softhsm/user.pin")).unwrap();
    for (domain, expected) in [("wire.example.com", 3), ("partner.example.org", 2)] {
        let out = Command::new(tool("pkcs11-tool").unwrap())
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "--module",
                "/usr/lib/softhsm/libsofthsm2.so",
                "--token-label",
                domain,
                "--login",
                "--pin",
                pin.trim(),
                "--list-objects",
                "--type",
                "privkey",
            ])
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(out.status.success(), "{text}{}", stderr(&out));
        let keys = text.matches("Private Key Object").count();
        assert_eq!(keys, expected, "{text}");
        let access_lines: Vec<&str> = text.lines().filter(|l| l.contains("Access:")).collect();
        assert_eq!(access_lines.len(), expected, "{text}");
        for line in access_lines {
            assert!(line.contains("sensitive"), "{line}");
            assert!(line.contains("never extractable"), "{line}");
        }
    }
    // The transcripts name the token key by URI, without the PIN.
    for file in listing(dir.path()) {
        if file.ends_with(".transcript.json") {
            let text = std::fs::read_to_string(dir.path().join(&file)).unwrap();
            assert!(!text.contains(pin.trim()), "PIN leaked into {file}");
        }
    }
}
