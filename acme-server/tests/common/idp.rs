//! The real test IdP (`tests/idp`, panva's oidc-provider on Node) as a child process, and the
//! authorization-code + PKCE flow a Wire client runs against it, followed as plain redirects.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The redirect URI the test client is registered with; nothing needs to listen there.
pub const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";

pub struct TestIdp {
    child: Child,
    // Held open: the IdP exits when it closes, so an IdP in a static dies with the test binary.
    _stdin: Option<std::process::ChildStdin>,
    pub issuer: String,
}

/// One IdP shared by a test binary's tests (never rotated).
pub fn shared() -> Option<&'static TestIdp> {
    static SHARED: std::sync::OnceLock<Option<TestIdp>> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| TestIdp::start_with(&["--keys", shared_keys_file()]))
        .as_ref()
}

/// Where the shared IdP keeps its signing keys (so an impostor IdP can sign with them).
pub fn shared_keys_file() -> &'static str {
    static FILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("e2ei-test-idp-keys-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path.display().to_string()
    })
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/idp")
}

impl TestIdp {
    /// Starts the IdP, or `None` (skipped loudly) when Node or its packages are missing outside
    /// CI (`scripts/test.sh` runs `npm ci` there).
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Starts the IdP with extra `idp.mjs` flags (`--keys FILE`, `--id-token-alg ES256`, …).
    pub fn start_with(flags: &[&str]) -> Option<Self> {
        let dir = idp_dir();
        if !dir.join("node_modules/oidc-provider").exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "tests/idp needs `npm ci` under CI"
            );
            eprintln!("SKIPPED: tests/idp/node_modules missing (run npm ci in tests/idp)");
            return None;
        }
        let mut child = match Command::new("node")
            .args(["idp.mjs", "--port", "0", "--redirect-uri", REDIRECT_URI])
            .arg("--exit-on-stdin-close")
            .args(flags)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "node is required under CI: {e}"
                );
                eprintln!("SKIPPED: node not found ({e})");
                return None;
            }
        };
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line).expect("the IdP's readiness line");
        Some(Self {
            _stdin: child.stdin.take(),
            child,
            issuer: ready["issuer"].as_str().unwrap().to_owned(),
        })
    }

    /// Signs further ID tokens with a new key (a `kid` the authority has not seen).
    pub async fn rotate(&self) {
        let reply = reqwest::Client::new()
            .post(format!("{}/_test/rotate", self.issuer))
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success());
    }

    /// An ID token for `login_hint` carrying `keyauth` and `acme_aud` through the OIDC claims
    /// parameter, as Wire clients request them (protocol doc §4).
    pub async fn id_token(&self, login_hint: &str, keyauth: &str, acme_aud: &str) -> String {
        self.id_token_for("wireapp", login_hint, keyauth, acme_aud)
            .await
    }

    /// As [`Self::id_token`], for the OAuth client `client_id` (`wireapp` or `other-app`).
    pub async fn id_token_for(
        &self,
        client_id: &str,
        login_hint: &str,
        keyauth: &str,
        acme_aud: &str,
    ) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let discovery: Value = http
            .get(format!("{}/.well-known/openid-configuration", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut verifier_bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut verifier_bytes).unwrap();
        let verifier = URL_SAFE_NO_PAD.encode(verifier_bytes);
        let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            verifier.as_bytes(),
        ));
        let claims = json!({ "id_token": {
            "keyauth": { "essential": true, "value": keyauth },
            "acme_aud": { "essential": true, "value": acme_aud },
        }});
        let mut url =
            reqwest::Url::parse(discovery["authorization_endpoint"].as_str().unwrap()).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("scope", "openid profile")
            .append_pair("state", "state")
            .append_pair("nonce", "nonce")
            .append_pair("login_hint", login_hint)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("claims", &claims.to_string());
        let mut jar: BTreeMap<String, String> = BTreeMap::new();
        let mut next = url;
        let code = loop {
            let cookie = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let reply = http
                .get(next.clone())
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            for set in reply.headers().get_all("set-cookie") {
                let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
                if let Some((k, v)) = pair.split_once('=') {
                    jar.insert(k.trim().to_owned(), v.to_owned());
                }
            }
            let location = reply
                .headers()
                .get("location")
                .expect("a redirect")
                .to_str()
                .unwrap()
                .to_owned();
            next = next.join(&location).unwrap();
            if next.as_str().starts_with(REDIRECT_URI) {
                let pairs: BTreeMap<String, String> = next.query_pairs().into_owned().collect();
                break pairs
                    .get("code")
                    .cloned()
                    .unwrap_or_else(|| panic!("IdP error: {pairs:?}"));
            }
        };
        let tokens: Value = http
            .post(discovery["token_endpoint"].as_str().unwrap())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", client_id),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no id_token: {tokens}"))
            .to_owned()
    }
}
