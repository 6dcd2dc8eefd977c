//! A Wire device driven over real HTTP: register a team owner, log in, add a client, fetch
//! nonces, build proofs, ask for DPoP access tokens. Shared by the socket tests and the
//! round-trip benchmark.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::SystemClock;
use e2ei_core::id::{ClientId, DisplayName, QualifiedHandle, TeamId, UserId};
use e2ei_dpop::{ProofOptions, ProofRequest, build_proof};
use e2ei_signer::Signer;
use serde_json::{Value, json};

pub const DOMAIN: &str = "wire.example.com";
pub const PASSWORD: &str = "correct horse battery";

/// A logged-in team owner with one client and an ACME account key.
pub struct HttpDevice {
    pub handle: String,
    pub token: String,
    pub cid: String,
    pub client_id: ClientId,
    pub team: TeamId,
    pub account: Signer,
}

async fn post_json(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

impl HttpDevice {
    /// Registers `handle` as the owner of a new team on `base` and adds a permanent client.
    pub async fn register(
        http: &reqwest::Client,
        base: &str,
        handle: &str,
        alg: KeyAlgorithm,
    ) -> Self {
        let owner = json!({
            "name": "Alice Smith", "email": format!("{handle}@example.com"), "password": PASSWORD,
            "handle": handle, "team": { "name": "Wire" },
        });
        let reply = post_json(http, format!("{base}/register"), None, owner).await;
        let user: uuid::Uuid = reply["id"].as_str().unwrap().parse().unwrap();
        let team: TeamId = reply["team"].as_str().unwrap().parse().unwrap();
        let login = json!({ "handle": handle, "password": PASSWORD });
        let login = post_json(http, format!("{base}/login"), None, login).await;
        let token = login["access_token"].as_str().unwrap().to_owned();
        let client = json!({ "type": "permanent", "password": PASSWORD });
        let client = post_json(http, format!("{base}/clients"), Some(&token), client).await;
        let cid = client["id"].as_str().unwrap().to_owned();
        let client_id = format!(
            "wireapp://{}!{cid}@{DOMAIN}",
            UserId::new(user).to_base64url()
        )
        .parse()
        .unwrap();
        Self {
            handle: handle.to_owned(),
            token,
            cid,
            client_id,
            team,
            account: Signer::ephemeral(alg).unwrap(),
        }
    }

    /// A fresh backend nonce from `base`.
    pub async fn nonce(&self, http: &reqwest::Client, base: &str) -> String {
        let reply = http
            .get(format!("{base}/clients/{}/nonce", self.cid))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success(), "{}", reply.status());
        reply.headers()["replay-nonce"].to_str().unwrap().to_owned()
    }

    /// A proof for `nonce`, signed by the account key.
    pub fn proof(&self, nonce: &str) -> String {
        let handle: QualifiedHandle = format!("wireapp://%40{}@{DOMAIN}", self.handle)
            .parse()
            .unwrap();
        let name = DisplayName::new("Alice Smith").unwrap();
        let htu = format!("https://{DOMAIN}/clients/{}/access-token", self.cid);
        let request = ProofRequest {
            client_id: &self.client_id,
            handle: &handle,
            display_name: &name,
            team: Some(&self.team),
            backend_nonce: nonce,
            htu: &htu,
            challenge_url: "https://acme.wire.example.com/acme/wire/challenge/a/b",
            challenge_token: "OysCZNnV2iJTYfjmTUJZ6vavXXkzPFLf",
        };
        build_proof(
            &self.account,
            &request,
            &ProofOptions::default(),
            &SystemClock,
        )
        .unwrap()
    }

    /// `POST /clients/{cid}/access-token` on `base`: status and body.
    pub async fn access_token(
        &self,
        http: &reqwest::Client,
        base: &str,
        proof: &str,
    ) -> (u16, Value) {
        let reply = http
            .post(format!("{base}/clients/{}/access-token", self.cid))
            .bearer_auth(&self.token)
            .header("dpop", proof)
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    }
}
