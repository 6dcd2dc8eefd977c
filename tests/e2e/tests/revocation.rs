//! Revocation end to end: devices enroll against the authority binary; `e2ei-ca revoke` revokes
//! one through the authority's admin API; the CRL the authority serves at the leaves' CRL
//! distribution point then lists it. OpenSSL (`crl -verify`, `verify -crl_check`), pkilint
//! (`lint_crl`) and e2ei's own path validation check the CRL and agree on good and revoked
//! leaves; the backend's CRL proxy serves the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::idp::{self, REDIRECT_URI};
use common::{Stack, StackOptions};
use e2ei_client::{
    BackendAuth, Credentials, Device, Enrollment, EnrollmentSettings, Login, LoginHintLogin, enroll,
};
use e2ei_core::ciphersuite::Ciphersuite;
use e2ei_core::path::{RevocationPolicy, RevocationStatus, ValidationOptions, validate_path};
use e2ei_core::x509::{certificate_to_pem, serial_to_hex};
use e2ei_signer::SecretString;
use time::OffsetDateTime;

const ADMIN_TOKEN: &str = "e2e admin token, long enough";

async fn enroll_user(stack: &Stack, handle: &str, suite: Ciphersuite) -> Enrollment {
    let credentials = Credentials {
        login: Login::Handle(handle.to_owned()),
        password: SecretString::new(common::PASSWORD.to_owned()),
    };
    let mut settings = EnrollmentSettings::new(
        &stack.directory_url,
        &stack.backend_url,
        BackendAuth::Password(credentials),
        suite,
    );
    settings.http = stack.http_config();
    settings.device = Device::Register;
    enroll(settings, &LoginHintLogin::new(handle, REDIRECT_URI))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", stack.acme_log()))
}

/// The CRL at the leaf's distribution point, written to `dir/crl.der` and `dir/crl.pem`.
async fn fetch_crl(stack: &Stack, url: &str, dir: &Path) -> Vec<u8> {
    let reply = stack.http().get(url).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"].to_str().unwrap(),
        "application/pkix-crl"
    );
    let der = reply.bytes().await.unwrap().to_vec();
    std::fs::write(dir.join("crl.der"), &der).unwrap();
    let pem = format!(
        "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
        base64_lines(&der)
    );
    std::fs::write(dir.join("crl.pem"), pem).unwrap();
    der
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    text.as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn openssl(dir: &Path, args: &[&str]) -> Option<(bool, String)> {
    let Ok(out) = Command::new("openssl").args(args).current_dir(dir).output() else {
        common::missing("openssl");
        return None;
    };
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// `openssl verify -crl_check` of `leaf` (under the unconstrained twin: OpenSSL 3.0 cannot
/// match `wireapp://` URIs against URI name constraints, see `openssl-divergences.txt`).
fn openssl_crl_check(dir: &Path, leaf: &str) -> Option<(bool, String)> {
    openssl(
        dir,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "intermediate-unconstrained.pem",
            "-CRLfile",
            "crl.pem",
            leaf,
        ],
    )
}

fn e2ei_ca(stack: &Stack, args: &[&str]) -> (bool, String) {
    let out = Command::new(&common::binaries().ca)
        .arg("revoke")
        .args([
            "--authority",
            stack.directory_url.trim_end_matches("/acme/wire/directory"),
        ])
        .args(["--tls-ca", "tls/ca.pem"])
        .args(args)
        .current_dir(stack.dir.path())
        .env("E2EI_ADMIN_TOKEN", ADMIN_TOKEN)
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

fn pkilint_crl(dir: &Path) -> Option<String> {
    let venv = std::env::var_os("E2EI_CHECKS_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/e2ei-checks-venv")
        });
    let binary = venv.join("bin/lint_crl");
    if !binary.exists() {
        common::missing(&format!("pkilint ({})", binary.display()));
        return None;
    }
    let out = Command::new(binary)
        .args([
            "lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", "crl.pem",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pkilint lint_crl found something: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `openssl crl -verify` against the intermediate and pkilint's `lint_crl` on `dir/crl.*`.
fn check_crl_with_tools(dir: &Path) {
    let verify = [
        "crl",
        "-in",
        "crl.der",
        "-inform",
        "DER",
        "-noout",
        "-verify",
        "-CAfile",
        "intermediate.pem",
    ];
    if let Some((ok, text)) = openssl(dir, &verify) {
        assert!(ok && text.contains("verify OK"), "{text}");
    }
    pkilint_crl(dir);
}

/// What e2ei's own path validation says of `leaf` with the CRL (which covers leaves only; the
/// intermediate's status stays undetermined). `Ok` only when the leaf itself was checked.
fn own_verdict(stack: &Stack, leaf: &x509_cert::Certificate, crl_der: &[u8]) -> Result<(), String> {
    use der::Decode;
    let crl = x509_cert::crl::CertificateList::from_der(crl_der).unwrap();
    let crls = [crl];
    let options = ValidationOptions::default().with_crls(&crls, RevocationPolicy::CheckIfAvailable);
    let path = validate_path(
        std::slice::from_ref(&stack.pki.root),
        std::slice::from_ref(&stack.pki.intermediate),
        leaf,
        OffsetDateTime::now_utc(),
        &options,
    )
    .map_err(|e| e.to_string())?;
    match path.revocation() {
        RevocationStatus::NotDetermined { unchecked }
            if unchecked.iter().all(|s| s.contains("Intermediate")) =>
        {
            Ok(())
        }
        other => panic!("the leaf's revocation was not checked: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_revoked_with_e2ei_ca_is_on_the_next_crl() {
    let Some(idp) = idp::shared() else { return };
    let mut options = StackOptions::new(&idp.issuer);
    options.acme_extra = "[admin]\ntoken = \"file:admin.token\"\n".into();
    let Some(stack) = ({
        // The token file must exist before the authority starts; the stack writes its config
        // into its own directory, so the token goes there through the config's relative path.
        Stack::start_with_files(options, &[("admin.token", ADMIN_TOKEN)]).await
    }) else {
        return;
    };
    stack.register_team_owner("alice_wire", "Alice Smith").await;
    stack.register_team_owner("bob_wire", "Bob Jones").await;
    let alice = enroll_user(
        &stack,
        "alice_wire",
        Ciphersuite::Mls128Dhkemp256Aes128gcmSha256P256,
    )
    .await;
    let bob = enroll_user(
        &stack,
        "bob_wire",
        Ciphersuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519,
    )
    .await;

    let dir = stack.dir.path().join("revocation");
    std::fs::create_dir_all(&dir).unwrap();
    let pem = |c: &x509_cert::Certificate| certificate_to_pem(c).unwrap();
    std::fs::write(dir.join("root.pem"), pem(&stack.pki.root)).unwrap();
    std::fs::write(dir.join("intermediate.pem"), pem(&stack.pki.intermediate)).unwrap();
    std::fs::write(
        dir.join("intermediate-unconstrained.pem"),
        pem(&stack.pki.unconstrained_twin),
    )
    .unwrap();
    std::fs::write(dir.join("alice.pem"), pem(alice.leaf())).unwrap();
    std::fs::write(dir.join("bob.pem"), pem(bob.leaf())).unwrap();
    let crl_url = format!(
        "{}/crl",
        stack.directory_url.trim_end_matches("/acme/wire/directory")
    );

    // Before: a valid, empty CRL; both leaves good for OpenSSL and for e2ei.
    let crl = fetch_crl(&stack, &crl_url, &dir).await;
    check_crl_with_tools(&dir);
    for (leaf, file) in [(alice.leaf(), "alice.pem"), (bob.leaf(), "bob.pem")] {
        own_verdict(&stack, leaf, &crl).unwrap();
        if let Some((ok, text)) = openssl_crl_check(&dir, file) {
            assert!(ok, "{file}: {text}");
        }
    }

    // Revoke Alice's device with the ceremony CLI, through the admin API.
    let client_id = alice.identity().client_id().to_uri();
    let (ok, out) = e2ei_ca(
        &stack,
        &["--client-id", &client_id, "--reason", "keyCompromise"],
    );
    assert!(ok, "{out}\n{}", stack.acme_log());
    let serial = serial_to_hex(alice.leaf().tbs_certificate().serial_number());
    assert!(out.contains(&serial), "{out}");
    let (ok, out) = e2ei_ca(&stack, &["--client-id", &client_id]);
    assert!(!ok && out.contains("alreadyRevoked"), "{out}");
    let (ok, out) = e2ei_ca(&stack, &["--serial", "0badc0de"]);
    assert!(!ok && out.contains("404"), "{out}");

    // After: the next CRL lists Alice, not Bob; OpenSSL and e2ei agree.
    let crl = fetch_crl(&stack, &crl_url, &dir).await;
    check_crl_with_tools(&dir);
    let alice_verdict = own_verdict(&stack, alice.leaf(), &crl);
    assert!(alice_verdict.is_err(), "e2ei must find Alice revoked");
    own_verdict(&stack, bob.leaf(), &crl).unwrap();
    if let Some((ok, text)) = openssl_crl_check(&dir, "alice.pem") {
        assert!(
            !ok && text.contains("error 23"),
            "OpenSSL must report Alice revoked: {text}"
        );
    }
    if let Some((ok, text)) = openssl_crl_check(&dir, "bob.pem") {
        assert!(ok, "bob.pem: {text}");
    }
    let verified =
        e2ei_crl::verify_crl(&crl, &stack.pki.intermediate, OffsetDateTime::now_utc()).unwrap();
    let listed = verified
        .index()
        .is_revoked(alice.leaf().tbs_certificate().serial_number().as_bytes())
        .unwrap();
    assert_eq!(
        listed.reason(),
        Some(e2ei_core::x509::CrlReason::KeyCompromise)
    );
}
