//! The `e2ei-acme-server` binary from a configuration file over a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2ei_acme::jws::{KeyRef, sign_flattened};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::jwk::Jwk;
use e2ei_core::x509::certificate_to_pem;
use e2ei_signer::{GenerateOptions, KeyUri, Signer};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_e2ei-acme-server");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serves_from_a_config_file_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p);
    std::fs::create_dir_all(path("pki")).unwrap();
    std::fs::create_dir_all(path("keys")).unwrap();
    let key_uri: KeyUri = format!("file:{}", path("pki/intermediate.key").display())
        .parse()
        .unwrap();
    let intermediate_key =
        Signer::generate(&key_uri, KeyAlgorithm::P256, &GenerateOptions::default()).unwrap();
    let pki = common::TestPki::with_intermediate_key(intermediate_key);
    std::fs::write(path("pki/root.pem"), certificate_to_pem(&pki.root).unwrap()).unwrap();
    std::fs::write(
        path("pki/intermediate.pem"),
        certificate_to_pem(&pki.intermediate).unwrap(),
    )
    .unwrap();
    let backend = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
    std::fs::write(
        path("keys/dpop-ed25519.pub.pem"),
        backend.public_key().to_pem(),
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    std::fs::write(
        path("acme.toml"),
        format!(
            r#"base_url = "{base}/"
listen = "127.0.0.1:1"
database = "sqlite://acme.db"
roots = "pki/root.pem"

[issuer]
key = "file:pki/intermediate.key"
certificate = "pki/intermediate.pem"
crl_url = "{base}/crl"

[[provisioners]]
name = "wire"
[provisioners.wire]
dpop_target = "https://{{domain}}/clients/{{device_id}}/access-token"
oidc_issuer = "https://idp.wire.example.com"
backend_keys = ["keys/dpop-ed25519.pub.pem"]
"#
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["--config", path("acme.toml").to_str().unwrap()])
        .env("E2EI_ACME_LISTEN", format!("127.0.0.1:{port}"))
        .env("E2EI_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the authority did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let directory: Value = http
        .get(format!("{base}/acme/wire/directory"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        directory["newAccount"],
        format!("{base}/acme/wire/new-account")
    );
    let roots = http
        .get(format!("{base}/roots.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(roots, certificate_to_pem(&pki.root).unwrap());

    let nonce = http
        .head(format!("{base}/acme/wire/new-nonce"))
        .send()
        .await
        .unwrap();
    let nonce = nonce.headers()["replay-nonce"].to_str().unwrap().to_owned();
    let account = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let jwk = KeyRef::Jwk(Jwk::from_public_key(account.public_key().clone()));
    let url = format!("{base}/acme/wire/new-account");
    let jws = sign_flattened(
        &account,
        &jwk,
        Some(&nonce),
        &url,
        Some(&json!({ "termsOfServiceAgreed": true })),
    )
    .unwrap();
    let created = http
        .post(&url)
        .header("content-type", "application/jose+json")
        .body(jws.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    assert!(
        created.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{base}/acme/wire/account/"))
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(path("acme.db").exists());
}

#[test]
fn refuses_a_config_with_unknown_fields_or_a_foreign_issuer_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("acme.toml");
    std::fs::write(&config, "base_url = \"http://x\"\nlisten = \"127.0.0.1:1\"\ndatabase = \"sqlite://a.db\"\nprovisioners = []\nsurprise = 1\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("surprise"));

    // An issuer key that does not belong to the issuing certificate is refused at start.
    let pki = common::TestPki::new();
    std::fs::write(
        dir.path().join("intermediate.pem"),
        certificate_to_pem(&pki.intermediate).unwrap(),
    )
    .unwrap();
    let key_uri: KeyUri = format!("file:{}", dir.path().join("other.key").display())
        .parse()
        .unwrap();
    Signer::generate(&key_uri, KeyAlgorithm::P256, &GenerateOptions::default()).unwrap();
    std::fs::write(
        &config,
        "base_url = \"http://x\"\nlisten = \"127.0.0.1:1\"\ndatabase = \"sqlite://a.db\"\nprovisioners = []\n[issuer]\nkey = \"file:other.key\"\ncertificate = \"intermediate.pem\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not the key of the issuing certificate")
    );
}

#[test]
fn refuses_provisioners_without_a_kind_or_with_a_bad_standard_section() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("acme.toml");
    let head = "base_url = \"http://x\"\nlisten = \"127.0.0.1:1\"\ndatabase = \"sqlite://a.db\"\n[[provisioners]]\nname = \"p\"\n";
    for (section, error) in [
        (
            "",
            "exactly one of [provisioners.wire] and [provisioners.standard]",
        ),
        (
            "[provisioners.standard]\nallowed_domains = [\"*.Example.com\"]\n",
            "not a domain rule",
        ),
        (
            "[provisioners.standard]\nallowed_domains = [\"*.example.com\"]\nchallenges = [\"http-02\"]\n",
            "not a standard challenge type",
        ),
        (
            "[provisioners.standard]\nallowed_domains = [\"*.example.com\"]\ndns_resolver = \"not an address\"\n",
            "dns_resolver",
        ),
    ] {
        std::fs::write(&config, format!("{head}{section}")).unwrap();
        let out = Command::new(BIN)
            .args(["--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{section}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error), "{section}: {stderr}");
    }
}
