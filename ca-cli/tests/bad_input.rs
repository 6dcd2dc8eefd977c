//! Bad input to every ceremony: a clear error naming the problem, a non-zero exit, and nothing
//! written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// A root and an intermediate key in `dir`, ready for an intermediate ceremony.
fn root_setup(dir: &Path) {
    std::fs::create_dir(dir.join("keys")).unwrap();
    write(
        dir,
        "root-key.toml",
        "key = \"file:keys/root.key\"\nalgorithm = \"p256\"\npublic_key_out = \"root.pub.pem\"\n",
    );
    write(
        dir,
        "int-key.toml",
        "key = \"file:keys/int.key\"\nalgorithm = \"p256\"\npublic_key_out = \"int.pub.pem\"\n",
    );
    write(
        dir,
        "root.toml",
        "key = \"file:keys/root.key\"\nout = \"root.pem\"\n[subject]\ncommon_name = \"Test Root\"\n[validity]\ndays = 30\n",
    );
    for args in [
        ["key", "root-key.toml"],
        ["key", "int-key.toml"],
        ["root", "root.toml"],
    ] {
        let out = run_ca(&[args[0], dir.join(args[1]).to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

fn intermediate_toml(extra_top: &str, constraints: &str) -> String {
    format!(
        "issuer_key = \"file:keys/root.key\"\nissuer_certificate = \"root.pem\"\nsubject_public_key = \"int.pub.pem\"\ncrl_distribution_points = [\"https://acme.wire.example.com/root.crl\"]\nout = \"int.pem\"\n{extra_top}\n[subject]\ncommon_name = \"Test Intermediate\"\n[validity]\ndays = 10\n{constraints}"
    )
}

const CONSTRAINTS: &str = "[name_constraints]\npermitted_dns = [\"acme.wire.example.com\"]\npermitted_uri = [\"wire.example.com\"]\n";

/// Runs a ceremony that must fail; returns stderr and asserts nothing new was written.
fn must_fail(dir: &Path, ceremony: &str, file: &str) -> String {
    let before = listing(dir);
    let out = run_ca(&[ceremony, dir.join(file).to_str().unwrap()]);
    assert!(!out.status.success(), "{ceremony} {file} succeeded");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(listing(dir), before, "{ceremony} {file} wrote files");
    stderr(&out)
}

#[test]
fn rejects_unknown_field_in_ceremony_file() {
    let dir = tempfile::tempdir().unwrap();
    root_setup(dir.path());
    write(
        dir.path(),
        "int.toml",
        &intermediate_toml("path_lenght = 0", CONSTRAINTS),
    );
    let err = must_fail(dir.path(), "intermediate", "int.toml");
    assert!(err.contains("unknown field `path_lenght`"), "{err}");
}

#[test]
fn rejects_unknown_field_in_nested_table() {
    let dir = tempfile::tempdir().unwrap();
    root_setup(dir.path());
    let constraints = format!("{CONSTRAINTS}excluded_uri = [\"evil.example.com\"]\n");
    write(dir.path(), "int.toml", &intermediate_toml("", &constraints));
    let err = must_fail(dir.path(), "intermediate", "int.toml");
    assert!(err.contains("unknown field `excluded_uri`"), "{err}");
}

#[test]
fn rejects_intermediate_without_name_constraints() {
    let dir = tempfile::tempdir().unwrap();
    root_setup(dir.path());
    write(dir.path(), "int.toml", &intermediate_toml("", ""));
    let err = must_fail(dir.path(), "intermediate", "int.toml");
    assert!(err.contains("refusing to sign"), "{err}");
    assert!(err.contains("missing nameConstraints"), "{err}");
}

#[test]
fn rejects_intermediate_with_pathlen_above_zero() {
    let dir = tempfile::tempdir().unwrap();
    root_setup(dir.path());
    write(
        dir.path(),
        "int.toml",
        &intermediate_toml("path_len = 1", CONSTRAINTS),
    );
    let err = must_fail(dir.path(), "intermediate", "int.toml");
    assert!(err.contains("pathlen:1"), "{err}");
    assert!(err.contains("expected CA:TRUE, pathlen:0"), "{err}");
}

#[test]
fn rejects_root_with_pathlen_other_than_one() {
    let dir = tempfile::tempdir().unwrap();
    root_setup(dir.path());
    write(
        dir.path(),
        "root2.toml",
        "key = \"file:keys/root.key\"\npath_len = 4\nout = \"root2.pem\"\n[subject]\ncommon_name = \"R\"\n[validity]\ndays = 1\n",
    );
    let err = must_fail(dir.path(), "root", "root2.toml");
    assert!(err.contains("root profile violated"), "{err}");
}

#[test]
fn rejects_missing_key() {
    let dir = tempfile::tempdir().unwrap();
    root_setup(dir.path());
    write(
        dir.path(),
        "int.toml",
        &intermediate_toml("", CONSTRAINTS).replace("keys/root.key", "keys/absent.key"),
    );
    let err = must_fail(dir.path(), "intermediate", "int.toml");
    assert!(err.contains("key not found"), "{err}");
    assert!(err.contains("absent.key"), "{err}");
}

#[test]
fn rejects_issuer_key_that_does_not_match_the_issuer_certificate() {
    let dir = tempfile::tempdir().unwrap();
    root_setup(dir.path());
    write(
        dir.path(),
        "int.toml",
        &intermediate_toml("", CONSTRAINTS).replace("keys/root.key", "keys/int.key"),
    );
    let err = must_fail(dir.path(), "intermediate", "int.toml");
    assert!(err.contains("does not match the public key of"), "{err}");
}

#[test]
fn rejects_wrong_key_file_password() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    write(dir.path(), "pw", "right password\n");
    write(
        dir.path(),
        "key.toml",
        "key = \"file:keys/enc.key?password-source=file:pw\"\nalgorithm = \"p384\"\nencrypt = true\npublic_key_out = \"enc.pub.pem\"\n",
    );
    let out = run_ca(&["key", dir.path().join("key.toml").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key_text = std::fs::read_to_string(dir.path().join("keys/enc.key")).unwrap();
    assert!(key_text.contains("ENCRYPTED PRIVATE KEY"));
    write(dir.path(), "pw", "wrong password\n");
    write(
        dir.path(),
        "root.toml",
        "key = \"file:keys/enc.key?password-source=file:pw\"\nout = \"root.pem\"\n[subject]\ncommon_name = \"R\"\n[validity]\ndays = 1\n",
    );
    let err = must_fail(dir.path(), "root", "root.toml");
    assert!(err.contains("wrong password"), "{err}");
    assert!(!err.contains("wrong password\n"), "password echoed: {err}");
}

#[test]
fn refuses_to_overwrite_existing_outputs() {
    let dir = tempfile::tempdir().unwrap();
    root_setup(dir.path());
    let before = std::fs::read(dir.path().join("root.pem")).unwrap();
    let err = must_fail(dir.path(), "root", "root.toml");
    assert!(
        err.contains("refusing to overwrite existing output"),
        "{err}"
    );
    assert!(err.contains("root.pem"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("root.pem")).unwrap(), before);
    // The key ceremony refuses too, before generating anything.
    let err = must_fail(dir.path(), "key", "root-key.toml");
    assert!(err.contains("refusing to overwrite"), "{err}");
}

#[test]
fn rejects_key_uri_with_pin_value() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "key.toml",
        "key = \"pkcs11:token=t;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234\"\nalgorithm = \"p256\"\npublic_key_out = \"k.pub.pem\"\n",
    );
    let err = must_fail(dir.path(), "key", "key.toml");
    assert!(err.contains("pin-source"), "{err}");
}

#[test]
fn dry_run_shows_the_tbs_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    root_setup(dir.path());
    write(dir.path(), "int.toml", &intermediate_toml("", CONSTRAINTS));
    let before = listing(dir.path());
    let out = run_ca(&[
        "intermediate",
        "--dry-run",
        dir.path().join("int.toml").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("DRY RUN"), "{text}");
    assert!(text.contains("URI:wire.example.com"), "{text}");
    assert!(text.contains("to_be_signed_sha256"), "{text}");
    assert_eq!(listing(dir.path()), before);
    // The real run then succeeds and writes the certificate and its transcript.
    let out = run_ca(&[
        "--json",
        "intermediate",
        dir.path().join("int.toml").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        report["outputs"]["certificate"]
            .as_str()
            .unwrap()
            .ends_with("int.pem")
    );
    let transcript: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("int.pem.transcript.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(transcript["ceremony"], "intermediate");
    assert!(
        transcript["key"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("file:")
    );
    assert_eq!(
        transcript["outputs"][0]["sha256"].as_str().unwrap().len(),
        64
    );
}

#[test]
fn inspect_reports_certificates_as_json() {
    let dir = tempfile::tempdir().unwrap();
    root_setup(dir.path());
    let out = run_ca(&[
        "inspect",
        "--json",
        dir.path().join("root.pem").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["subject"], "CN=Test Root");
    assert_eq!(v["issuer"], "CN=Test Root");
    let exts = v["extensions"].as_array().unwrap();
    assert!(
        exts.iter()
            .any(|e| e["name"] == "basicConstraints" && e["critical"] == true)
    );
    let bad = dir.path().join("garbage");
    std::fs::write(&bad, b"not a certificate").unwrap();
    let out = run_ca(&["inspect", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a certificate, CSR or CRL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rejects_wrong_pkcs11_pin() {
    if tool("softhsm2-util").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("tokens")).unwrap();
    let conf = d.join("softhsm2.conf");
    write(
        d,
        "softhsm2.conf",
        &format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            d.join("tokens").display()
        ),
    );
    let init = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "ca",
            "--so-pin",
            "12345678",
            "--pin",
            "1234",
        ])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", stderr(&init));
    write(d, "pin", "1234\n");
    write(d, "bad-pin", "4321\n");
    let key = |pin: &str| {
        format!(
            "key = \"pkcs11:token=ca;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:{pin}\"\n"
        )
    };
    write(
        d,
        "key.toml",
        &format!(
            "{}algorithm = \"p256\"\npublic_key_out = \"root.pub.pem\"\n",
            key("pin")
        ),
    );
    let out = e2ei_ca()
        .env("SOFTHSM2_CONF", &conf)
        .args(["key", d.join("key.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    write(
        d,
        "root.toml",
        &format!(
            "{}out = \"root.pem\"\n[subject]\ncommon_name = \"R\"\n[validity]\ndays = 1\n",
            key("bad-pin")
        ),
    );
    let before = listing(d);
    let out = e2ei_ca()
        .env("SOFTHSM2_CONF", &conf)
        .args(["root", d.join("root.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("refused the PIN"), "{err}");
    assert!(!err.contains("4321"), "PIN echoed: {err}");
    // SoftHSM keeps its own state files current; nothing of ours was written.
    let after: Vec<String> = listing(d)
        .into_iter()
        .filter(|f| !f.starts_with("tokens/"))
        .collect();
    let before: Vec<String> = before
        .into_iter()
        .filter(|f| !f.starts_with("tokens/"))
        .collect();
    assert_eq!(after, before);
}
