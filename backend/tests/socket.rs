//! The `e2ei-backend` binary over real sockets: start-up from a config file, graceful shutdown,
//! and nonce single use across two processes sharing one PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::{DOMAIN, HttpDevice, PASSWORD};
use e2ei_core::ciphersuite::KeyAlgorithm;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_e2ei-backend");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, database: &str) -> std::path::PathBuf {
    let config = dir.join("backend.toml");
    std::fs::write(
        &config,
        format!(
            r#"domain = "{DOMAIN}"
listen = "127.0.0.1:1"
database = "{database}"

[tokens]
keys = ["file:keys/zauth-1.key"]

[[dpop.keys]]
alg = "ed25519"
uri = "file:keys/dpop-ed25519.key"

[[dpop.keys]]
alg = "p256"
uri = "file:keys/dpop-p256.key"
"#
        ),
    )
    .unwrap();
    let status = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "generate-keys"])
        .status()
        .unwrap();
    assert!(status.success());
    config
}

/// A running backend process, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(config: &Path) -> Self {
        let port = free_port();
        let child = Command::new(BIN)
            .args(["--config", config.to_str().unwrap()])
            .env("E2EI_BACKEND_LISTEN", format!("127.0.0.1:{port}"))
            .env("E2EI_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the backend did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, base }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn serves_from_a_config_file_and_shuts_down_gracefully_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "sqlite://backend.db");
    let server = Server::start(&config).await;
    let http = reqwest::Client::new();
    let d = HttpDevice::register(&http, &server.base, "alice_wire", KeyAlgorithm::P256).await;
    let nonce = d.nonce(&http, &server.base).await;
    let (status, body) = d.access_token(&http, &server.base, &d.proof(&nonce)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "DPoP");

    let metrics = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("e2ei_backend_dpop_access_tokens_issued_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/clients/{cid}/access-token\""),
        "{metrics}"
    );

    let keys = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "dpop-keys"])
        .output()
        .unwrap();
    let keys: Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);

    assert!(server.terminate().success());
    assert!(dir.path().join("backend.db").exists());
}

#[test]
fn example_config_generates_and_publishes_four_dpop_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("backend.toml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/backend.example.toml"),
        &config,
    )
    .unwrap();
    let generated = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "generate-keys"])
        .output()
        .unwrap();
    assert!(generated.status.success());
    assert_eq!(
        String::from_utf8_lossy(&generated.stdout).lines().count(),
        5
    );
    let keys = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "dpop-keys"])
        .output()
        .unwrap();
    let keys: Value = serde_json::from_slice(&keys.stdout).unwrap();
    let algs: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["EdDSA", "ES256", "ES384", "ES512"]);
    // Key files are private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("keys/dpop-p256.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second run creates nothing.
    let again = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "generate-keys"])
        .output()
        .unwrap();
    assert!(again.stdout.is_empty());
}

#[test]
fn refuses_a_config_with_unknown_fields() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("backend.toml");
    std::fs::write(&config, "domain = \"x.example\"\nlisten = \"127.0.0.1:1\"\ndatabase = \"sqlite://b.db\"\nsurprise = 1\n[tokens]\nkeys = []\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("surprise"));
}

#[tokio::test]
async fn serves_https_when_tls_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "sqlite://backend.db");
    std::fs::create_dir_all(dir.path().join("tls")).unwrap();
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tls/key.pem",
            "-out",
            "tls/cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .status();
    let Ok(made) = made else {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl is required under CI"
        );
        eprintln!("SKIPPED: openssl not found");
        return;
    };
    assert!(made.success());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "[tokens]",
        "[tls]\ncertificate = \"tls/cert.pem\"\nkey = \"tls/key.pem\"\n\n[tokens]",
    );
    std::fs::write(&config, text).unwrap();

    let port = free_port();
    let child = Command::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .env("E2EI_BACKEND_LISTEN", format!("127.0.0.1:{port}"))
        .env("E2EI_LOG", "warn")
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("https://localhost:{port}"),
    };
    let cert = dir.path().join("tls/cert.pem");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--cacert",
                cert.to_str().unwrap(),
                "--resolve",
                &format!("localhost:{port}:127.0.0.1"),
            ])
            .arg(format!("{}/healthz", server.base))
            .output()
            .expect("curl is installed by scripts/test.sh");
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no HTTPS answer: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Plain HTTP on the TLS port is refused.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
    );
    assert!(server.terminate().success());
}

#[tokio::test]
async fn proxies_crls_as_its_config_file_says() {
    use common::upstream::{Scripted, TestCa, Upstream};
    let upstream = Upstream::start().await;
    let issuer = TestCa::new("Wire Intermediate CA");
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let der = issuer.crl(
        now - time::Duration::minutes(1),
        now + time::Duration::hours(1),
        2,
    );
    upstream.set("/1.0/crl", Scripted::crl(der.clone()));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "sqlite://backend.db");
    std::fs::write(dir.path().join("upstream-ca.pem"), &upstream.tls_ca_pem).unwrap();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[crl_proxy]\nallowed_hosts = [\"{}\"]\npath = \"/1.0/crl\"\ntrust_anchors = \"upstream-ca.pem\"\n",
        upstream.host
    ));
    std::fs::write(&config, text).unwrap();
    let server = Server::start(&config).await;
    let http = reqwest::Client::new();

    let reply = http
        .get(format!("{}/proxyCrl/{}", server.base, upstream.host))
        .header("origin", "https://app.wire.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["content-type"], "application/pkix-crl");
    assert_eq!(reply.headers()["access-control-allow-origin"], "*");
    let max_age: i64 = reply.headers()["cache-control"]
        .to_str()
        .unwrap()
        .strip_prefix("public, max-age=")
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&max_age), "{max_age}");
    assert_eq!(reply.bytes().await.unwrap(), der);

    let refused = http
        .get(format!("{}/proxyCrl/acme.elsewhere.example", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["label"], "crl-proxy-host-not-allowed");
    assert_eq!(upstream.total_hits(), 1);

    let metrics = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("e2ei_backend_crl_proxy_requests_total{outcome=\"fetched\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/proxyCrl/{host}\""), "{metrics}");
    assert!(
        !metrics.contains("acme.elsewhere"),
        "raw hosts stay out of the metrics"
    );
}

#[tokio::test]
async fn websocket_streams_new_client_events() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "sqlite://backend.db");
    let server = Server::start(&config).await;
    let http = reqwest::Client::new();
    let d = HttpDevice::register(&http, &server.base, "alice_wire", KeyAlgorithm::Ed25519).await;
    let ws_url = format!(
        "{}/await?client={}&access_token={}",
        server.base.replace("http://", "ws://"),
        d.cid,
        d.token
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let added: Value = http
        .post(format!("{}/clients", server.base))
        .bearer_auth(&d.token)
        .json(&json!({ "type": "temporary", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a notification within 10 s")
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
    assert_eq!(event["payload"][0]["type"], "user.client-add");
    assert_eq!(event["payload"][0]["client"]["id"], added["id"]);

    // Without a valid token the upgrade is refused.
    let bad = format!(
        "{}/await?client={}&access_token=nope",
        server.base.replace("http://", "ws://"),
        d.cid
    );
    assert!(tokio_tungstenite::connect_async(bad).await.is_err());
}

#[tokio::test]
async fn two_processes_on_one_postgres_consume_each_nonce_once() {
    let Some(database) = common::postgres_schema().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &database);
    let a = Server::start(&config).await;
    let b = Server::start(&config).await;
    let http = reqwest::Client::new();
    let d =
        Arc::new(HttpDevice::register(&http, &a.base, "alice_wire", KeyAlgorithm::Ed25519).await);

    // 100 nonces, each proof sent 10 times, alternating between the two processes.
    let mut proofs = Vec::new();
    for i in 0..100 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        proofs.push(d.proof(&d.nonce(&http, base).await));
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for round in 0..10 {
        for (i, proof) in proofs.iter().enumerate() {
            let base = if (i + round) % 2 == 0 {
                a.base.clone()
            } else {
                b.base.clone()
            };
            let (http, d, proof, limit) = (http.clone(), d.clone(), proof.clone(), limit.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                d.access_token(&http, &base, &proof).await
            }));
        }
    }
    let (mut ok, mut bad_nonce) = (0, 0);
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match (status, body["label"].as_str()) {
            (200, _) => ok += 1,
            (400, Some("client-token-bad-nonce")) => bad_nonce += 1,
            other => panic!("unexpected answer {other:?}: {body}"),
        }
    }
    assert_eq!((ok, bad_nonce), (100, 900));
}
