//! Our CRLs checked by independent tools (CHECKS.md): OpenSSL verifies their signatures and,
//! with `-crl_check`, agrees with our index (and with e2ei-core's path validation) on a good
//! and a revoked leaf; pkilint finds nothing to warn about. A missing tool skips the test
//! loudly, and fails it under CI=1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use der::Decode;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::path::{PathError, RevocationPolicy, ValidationOptions, validate_path};
use e2ei_core::x509::certificate_to_pem;
use e2ei_crl::{CrlReason, CrlScope, SignedCrl, sign_crl, verify_crl};

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

fn write_cert(dir: &Path, name: &str, cert: &x509_cert::Certificate) -> String {
    write(dir, name, certificate_to_pem(cert).unwrap())
}

#[test]
fn openssl_verifies_crl_signatures_of_every_key_algorithm() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for alg in KeyAlgorithm::ALL {
        let pki = TestPki::new(alg);
        let signed = sign_crl(pki.crl_parts(random_entries(20)), &pki.intermediate_key).unwrap();
        let crl = write(dir.path(), &format!("{alg}.crl"), signed.der());
        let issuer = write_cert(dir.path(), &format!("{alg}.pem"), &pki.intermediate);
        let out = run(
            &openssl,
            &[
                "crl", "-in", &crl, "-inform", "DER", "-noout", "-verify", "-CAfile", &issuer,
            ],
        );
        assert!(out.status.success(), "{alg}: {}", text(&out));
        assert!(text(&out).contains("verify OK"), "{alg}: {}", text(&out));
    }
}

#[test]
fn openssl_reads_our_fields_as_we_wrote_them() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(KeyAlgorithm::P256);
    let leaf = pki.leaf(CRL_URL);
    let signed = sign_crl(
        pki.crl_parts(vec![revoke(&leaf, Some(CrlReason::KeyCompromise))]),
        &pki.intermediate_key,
    )
    .unwrap();
    let crl = write(dir.path(), "leaf.crl", signed.der());
    let out = run(
        &openssl,
        &["crl", "-in", &crl, "-inform", "DER", "-noout", "-text"],
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    for expected in [
        "Version 2 (0x1)",
        "Issuer: O = wire.example.com, CN = Wire Intermediate CA",
        "X509v3 Authority Key Identifier",
        "X509v3 CRL Number: \n                7",
        "X509v3 Issuing Distribution Point: critical",
        "URI:https://acme.wire.example.com/crl",
        "Only User Certificates",
        "Key Compromise",
        &hex::encode_upper(leaf.tbs_certificate().serial_number().as_bytes()),
    ] {
        assert!(
            shown.contains(expected),
            "missing `{expected}` in:\n{shown}"
        );
    }
}

/// The leaf CRL as PEM, for `-CRLfile`.
fn leaf_crl_pem(signed: &SignedCrl, dir: &Path) -> String {
    write(dir, "leaf.crl.pem", signed.to_pem().unwrap())
}

#[test]
fn openssl_and_our_index_agree_on_a_good_and_a_revoked_leaf() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(KeyAlgorithm::P256);
    let good = pki.leaf(CRL_URL);
    let revoked = pki.leaf(CRL_URL);
    let mut entries = random_entries(100);
    entries.push(revoke(&revoked, Some(CrlReason::KeyCompromise)));
    let signed = sign_crl(pki.crl_parts(entries), &pki.intermediate_key).unwrap();

    // OpenSSL.
    let root = write_cert(dir.path(), "root.pem", &pki.root);
    let intermediate = write_cert(dir.path(), "intermediate.pem", &pki.intermediate);
    let crl = leaf_crl_pem(&signed, dir.path());
    let openssl_verify = |leaf: &x509_cert::Certificate, name: &str| {
        let leaf = write_cert(dir.path(), name, leaf);
        run(
            &openssl,
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                &root,
                "-untrusted",
                &intermediate,
                "-CRLfile",
                &crl,
                &leaf,
            ],
        )
    };
    let out = openssl_verify(&good, "good.pem");
    assert!(out.status.success(), "{}", text(&out));
    let out = openssl_verify(&revoked, "revoked.pem");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("error 23") && text(&out).contains("certificate revoked"),
        "{}",
        text(&out)
    );

    // Our index.
    let verified = verify_crl(signed.der(), &pki.intermediate, now()).unwrap();
    let serial =
        |c: &x509_cert::Certificate| c.tbs_certificate().serial_number().as_bytes().to_vec();
    assert_eq!(verified.index().is_revoked(&serial(&good)), None);
    assert_eq!(
        verified
            .index()
            .is_revoked(&serial(&revoked))
            .map(|r| r.reason()),
        Some(Some(CrlReason::KeyCompromise))
    );

    // e2ei-core's path validation, with the CRL required.
    let list = x509_cert::crl::CertificateList::from_der(signed.der()).unwrap();
    let root_crl = sign_crl(
        {
            let mut parts = pki.crl_parts(Vec::new());
            parts.issuer = pki.root.clone();
            parts.distribution_point = Some(ROOT_CRL_URL.into());
            parts.scope = CrlScope::CaCertificates;
            parts
        },
        &pki.root_key,
    )
    .unwrap();
    let crls = [
        list,
        x509_cert::crl::CertificateList::from_der(root_crl.der()).unwrap(),
    ];
    let options = ValidationOptions::default().with_crls(&crls, RevocationPolicy::Require);
    let validate = |leaf: &x509_cert::Certificate| {
        validate_path(
            std::slice::from_ref(&pki.root),
            std::slice::from_ref(&pki.intermediate),
            leaf,
            now(),
            &options,
        )
    };
    validate(&good).unwrap();
    assert!(matches!(
        validate(&revoked),
        Err(PathError::Revoked {
            reason: Some(x509_cert::ext::pkix::CrlReason::KeyCompromise),
            ..
        })
    ));
}

#[test]
fn openssl_rejects_our_expired_crl() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(KeyAlgorithm::P256);
    let leaf = pki.leaf(CRL_URL);
    let mut parts = pki.crl_parts(Vec::new());
    parts.this_update = now() - time::Duration::days(3);
    parts.next_update = now() - time::Duration::days(1);
    let signed = sign_crl(parts, &pki.intermediate_key).unwrap();
    let out = run(
        &openssl,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            &write_cert(dir.path(), "root.pem", &pki.root),
            "-untrusted",
            &write_cert(dir.path(), "intermediate.pem", &pki.intermediate),
            "-CRLfile",
            &leaf_crl_pem(&signed, dir.path()),
            &write_cert(dir.path(), "leaf.pem", &leaf),
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("error 12"), "{}", text(&out));
    assert!(matches!(
        verify_crl(signed.der(), &pki.intermediate, now()),
        Err(e2ei_crl::VerifyError::Expired { .. })
    ));
}

#[test]
fn pkilint_finds_nothing_in_our_crls() {
    let Some(lint_crl) = tool("lint_crl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(KeyAlgorithm::P256);
    let mut every_reason = random_entries(REASONS.len());
    for (entry, reason) in every_reason.iter_mut().zip(REASONS) {
        entry.reason = reason;
    }
    let mut root_parts = pki.crl_parts(vec![revoke(&pki.intermediate, None)]);
    root_parts.issuer = pki.root.clone();
    root_parts.distribution_point = Some(ROOT_CRL_URL.into());
    root_parts.scope = CrlScope::CaCertificates;
    let crls = [
        (
            "empty",
            sign_crl(pki.crl_parts(Vec::new()), &pki.intermediate_key),
        ),
        (
            "every-reason",
            sign_crl(pki.crl_parts(every_reason), &pki.intermediate_key),
        ),
        ("root", sign_crl(root_parts, &pki.root_key)),
    ];
    for (name, signed) in crls {
        let path = write(dir.path(), &format!("{name}.crl"), signed.unwrap().der());
        let out = run(
            &lint_crl,
            &["lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", &path],
        );
        assert!(
            out.status.success(),
            "pkilint findings on the {name} CRL:\n{}",
            text(&out)
        );
    }
}

/// A CRL of another PKI, made by `openssl ca -gencrl` with an RSA key (PKCS#1 v1.5, SHA-256),
/// and one listing a revoked serial: e2ei-crl verifies and indexes both; a flipped signature
/// byte is refused.
#[test]
fn verifies_an_openssl_made_rsa_crl() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&openssl)
            .args(args)
            .current_dir(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    write(
        path,
        "ca.cnf",
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
         default_md = sha256\ncrl_extensions = ext\n[ext]\nauthorityKeyIdentifier = keyid:always\n",
    );
    write(path, "index.txt", "");
    write(path, "crlnumber", "01\n");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/O=Other PKI/CN=Other RSA CA",
        "-days",
        "2",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "subjectKeyIdentifier=hash",
    ]);
    // Revoke a serial straight in the database openssl keeps (`R` line), then issue the CRL.
    let now = time::OffsetDateTime::now_utc();
    let stamp = |t: time::OffsetDateTime| {
        format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}Z",
            t.year() % 100,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    };
    write(
        path,
        "index.txt",
        format!(
            "R\t{}\t{},keyCompromise\t0BADC0DE\tunknown\t/CN=revoked\n",
            stamp(now + time::Duration::days(30)),
            stamp(now - time::Duration::hours(1))
        ),
    );
    run(&[
        "ca", "-gencrl", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem", "-crldays",
        "1", "-out", "crl.pem",
    ]);
    let ca_pem = std::fs::read(path.join("ca.pem")).unwrap();
    let ca = x509_cert::Certificate::from_der(&der::pem::decode_vec(&ca_pem).unwrap().1).unwrap();
    let crl = std::fs::read(path.join("crl.pem")).unwrap();
    let verified = verify_crl(&crl, &ca, now).unwrap();
    let listed = verified
        .index()
        .is_revoked(&[0x0b, 0xad, 0xc0, 0xde])
        .unwrap();
    assert_eq!(listed.reason(), Some(CrlReason::KeyCompromise));
    assert!(verified.index().is_revoked(&[0x01]).is_none());

    // The same CRL with one signature byte flipped.
    let mut der = der::pem::decode_vec(&crl).unwrap().1;
    let last = der.len() - 1;
    der[last] ^= 1;
    assert!(matches!(
        verify_crl(&der, &ca, now),
        Err(e2ei_crl::VerifyError::BadSignature { .. })
    ));
}
