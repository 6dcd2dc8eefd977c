//! The `e2ei-client` command line against the stack: `enroll` keeps key and chain in a 0600
//! state directory and shows the certificate Valid with its CRL checked (directly, or through
//! the backend's CRL proxy); once the device is revoked with `e2ei-ca revoke`, `status` and
//! `verify` show it Revoked; `renew` enrolls again when due.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::idp::{self, REDIRECT_URI};
use common::{Stack, StackOptions};
use serde_json::Value;

const ADMIN_TOKEN: &str = "e2e admin token for the client CLI";

fn client(stack: &Stack, args: &[&str]) -> (bool, Value, String) {
    common::client_cli(stack, args)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_status_revoke_and_renew_from_the_command_line() {
    let Some(idp) = idp::shared() else { return };
    let mut options = StackOptions::new(&idp.issuer);
    options.acme_extra = "[admin]\ntoken = \"file:admin.token\"\n".into();
    let Some(stack) = Stack::start_with_files(options, &[("admin.token", ADMIN_TOKEN)]).await
    else {
        return;
    };
    stack.register_team_owner("alice_wire", "Alice Smith").await;
    let acme = stack
        .directory_url
        .trim_end_matches("/acme/wire/directory")
        .to_owned();
    let proxy = format!("{}/proxyCrl", stack.backend_url);

    let (ok, value, out) = client(
        &stack,
        &[
            "enroll",
            "--state",
            "alice",
            "--directory",
            &stack.directory_url,
            "--backend",
            &stack.backend_url,
            "--login",
            "alice_wire",
            "--ciphersuite",
            "p384",
            "--login-hint",
            "alice_wire",
            "--redirect-uri",
            REDIRECT_URI,
            "--tls-ca",
            "tls/ca.pem",
            "--crl-proxy",
            &proxy,
        ],
    );
    assert!(ok, "{out}\n{}", stack.acme_log());
    assert_eq!(value["status"]["status"], "valid", "{out}");
    assert_eq!(value["status"]["revocation_checked"], true, "{out}");
    assert_eq!(
        value["identity"]["handle"],
        "wireapp://%40alice_wire@wire.example.com"
    );
    assert_eq!(value["identity"]["display_name"], "Alice Smith");
    let client_id = value["identity"]["client_id"].as_str().unwrap().to_owned();
    let serial = value["identity"]["serial"].as_str().unwrap().to_owned();
    let state = stack.dir.path().join("alice");
    assert_eq!(mode(&state), 0o700);
    for file in [
        "device.json",
        "mls.key",
        "chain.pem",
        "roots.pem",
        "crls/crl-0.der",
    ] {
        assert_eq!(mode(&state.join(file)), 0o600, "{file}");
    }
    // The CRL is kept by distribution point between runs.
    let index: Value =
        serde_json::from_slice(&std::fs::read(state.join("crls/index.json")).unwrap()).unwrap();
    assert_eq!(index[format!("{acme}/crl")], "crl-0.der");

    // Not due yet: renew does nothing.
    let (ok, _, out) = client(&stack, &["renew", "--state", "alice"]);
    assert!(ok && out.contains("not due"), "{out}");

    // Revoked by an operator: status and verify say so.
    let revoke = Command::new(&common::binaries().ca)
        .args(["revoke", "--authority", &acme, "--tls-ca", "tls/ca.pem"])
        .args(["--client-id", &client_id, "--reason", "keyCompromise"])
        .current_dir(stack.dir.path())
        .env("E2EI_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    // The kept CRL is used until its nextUpdate: still Valid without a refresh.
    let (ok, value, out) = client(&stack, &["status", "--state", "alice"]);
    assert!(ok, "{out}");
    assert_eq!(value["status"]["status"], "valid", "{out}");
    let (ok, value, out) = client(&stack, &["status", "--state", "alice", "--refresh-crls"]);
    assert!(ok, "{out}");
    assert_eq!(value["status"]["status"], "revoked", "{out}");
    assert_eq!(value["status"]["reason"], "keyCompromise", "{out}");
    let (ok, value, out) = client(
        &stack,
        &[
            "verify",
            "--chain",
            "alice/chain.pem",
            "--roots",
            "alice/roots.pem",
            "--tls-ca",
            "tls/ca.pem",
        ],
    );
    assert!(!ok, "verify fails for a revoked certificate: {out}");
    assert_eq!(value["status"]["status"], "revoked", "{out}");

    // Renewal re-enrolls the same device with a new key and certificate.
    let old_key = std::fs::read(state.join("mls.key")).unwrap();
    let (ok, _, out) = client(&stack, &["renew", "--state", "alice", "--force"]);
    assert!(ok, "{out}\n{}", stack.acme_log());
    let (ok, value, out) = client(&stack, &["status", "--state", "alice"]);
    assert!(ok, "{out}");
    assert_eq!(value["status"]["status"], "valid", "{out}");
    assert_eq!(
        value["identity"]["client_id"],
        client_id.as_str(),
        "the same device"
    );
    assert_ne!(value["identity"]["serial"], serial.as_str());
    assert_ne!(
        std::fs::read(state.join("mls.key")).unwrap(),
        old_key,
        "a new MLS key"
    );
}
