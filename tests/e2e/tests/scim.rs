//! SCIM end to end, against the backend and authority binaries.
//!
//! - Deprovisioning: a team admin makes a SCIM token; the "IdP" (these requests) provisions a
//!   user with SCIM; the user enrolls a device with `e2ei-client`; SCIM DELETE of the user
//!   revokes the device's certificate through the authority's admin API, the next CRL lists it
//!   (reason affiliationChanged) and `e2ei-client status` shows it Revoked.
//! - Deactivation (`active: false` by PATCH) does the same and the user can no longer log in.
//! - scim2-tester (the Python SCIM conformance suite) passes every check against the bridge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::idp::{self, REDIRECT_URI};
use common::{Stack, StackOptions};
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "e2e admin token for SCIM deprovisioning";
const SCIM_JSON: &str = "application/scim+json";

fn client(stack: &Stack, args: &[&str]) -> (bool, Value, String) {
    common::client_cli(stack, args)
}

async fn stack_with_authority_admin() -> Option<Stack> {
    let idp = idp::shared()?;
    let mut options = StackOptions::new(&idp.issuer);
    options.acme_extra = "[admin]\ntoken = \"file:admin.token\"\n".into();
    Stack::start_with_files(options, &[("admin.token", ADMIN_TOKEN)]).await
}

/// A team owner (not a SCIM user) and a SCIM token for the team.
async fn scim_token(stack: &Stack, owner: &str) -> String {
    stack.register_team_owner(owner, "Team Owner").await;
    let http = stack.http();
    let login: Value = http
        .post(format!("{}/login", stack.backend_url))
        .json(&json!({ "handle": owner, "password": common::PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access_token"].as_str().unwrap();
    let reply = http
        .post(format!("{}/scim/auth-tokens", stack.backend_url))
        .bearer_auth(access)
        .json(&json!({ "description": "e2e IdP", "password": common::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn scim(
    stack: &Stack,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = stack
        .http()
        .request(method, format!("{}/scim/v2{path}", stack.backend_url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", SCIM_JSON)
            .body(body.to_string());
    }
    let reply = request.send().await.unwrap();
    let status = reply.status().as_u16();
    let text = reply.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn provision_alice(stack: &Stack, token: &str) -> String {
    let (status, user) = scim(
        stack,
        token,
        reqwest::Method::POST,
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice_wire",
            "displayName": "Alice Smith",
            "externalId": "alice-idp-1",
            "emails": [{ "value": "alice@wire.example.com", "type": "work", "primary": true }],
            "password": common::PASSWORD,
            "active": true,
        })),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    user["id"].as_str().unwrap().to_owned()
}

fn enroll_alice(stack: &Stack) -> Value {
    let proxy = format!("{}/proxyCrl", stack.backend_url);
    let (ok, value, out) = client(
        stack,
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
            "p256",
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
    value
}

/// Alice's password login at the backend: (status, body).
async fn alice_login(stack: &Stack) -> (u16, Value) {
    let reply = stack
        .http()
        .post(format!("{}/login", stack.backend_url))
        .json(&json!({ "handle": "alice_wire", "password": common::PASSWORD }))
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// `e2ei-client status --refresh-crls` until it says revoked (the backend delivers the
/// revocation right after the SCIM request; the authority regenerates the CRL on it).
fn wait_until_revoked(stack: &Stack) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, value, out) = client(stack, &["status", "--state", "alice", "--refresh-crls"]);
        if value["status"]["status"] == "revoked" {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "never revoked: {out}\n{}\n{}",
            stack.backend.log(),
            stack.acme_log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_delete_of_an_enrolled_user_revokes_the_device_certificate() {
    let Some(stack) = stack_with_authority_admin().await else {
        return;
    };
    let token = scim_token(&stack, "owner_one").await;
    let alice = provision_alice(&stack, &token).await;
    let enrolled = enroll_alice(&stack);
    let serial = enrolled["identity"]["serial"].as_str().unwrap().to_owned();

    let (status, body) = scim(
        &stack,
        &token,
        reqwest::Method::DELETE,
        &format!("/Users/{alice}"),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let revoked = wait_until_revoked(&stack);
    assert_eq!(
        revoked["status"]["reason"], "affiliationChanged",
        "{revoked}"
    );
    assert_eq!(revoked["identity"]["serial"], serial.as_str());
    // The user is gone: SCIM says 404, the backend refuses the login.
    let (status, _) = scim(
        &stack,
        &token,
        reqwest::Method::GET,
        &format!("/Users/{alice}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = alice_login(&stack).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_deactivation_revokes_the_device_certificate_and_blocks_login() {
    let Some(stack) = stack_with_authority_admin().await else {
        return;
    };
    let token = scim_token(&stack, "owner_two").await;
    let alice = provision_alice(&stack, &token).await;
    enroll_alice(&stack);

    // Okta's and Entra ID's deactivation: a path-less replace of `active`.
    let (status, body) = scim(
        &stack,
        &token,
        reqwest::Method::PATCH,
        &format!("/Users/{alice}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Replace", "value": { "active": "False" } }],
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false);
    let revoked = wait_until_revoked(&stack);
    assert_eq!(
        revoked["status"]["reason"], "affiliationChanged",
        "{revoked}"
    );
    let (status, body) = alice_login(&stack).await;
    assert_eq!((status, body["label"].as_str()), (403, Some("suspended")));
}

/// scim2-tester's checks over the bridge; every check must be SUCCESS (its exit code).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_tester_passes_every_check() {
    let Some(venv) = common::tools::checks_venv_tool("scim2") else {
        common::missing("scim2 (scim2-cli and scim2-tester in the checks venv)");
        return;
    };
    let Some(stack) = stack_with_authority_admin().await else {
        return;
    };
    let token = scim_token(&stack, "owner_three").await;
    let ca = stack.tls_ca_path();
    let out = Command::new(&venv)
        .args(["--url", &format!("{}/scim/v2", stack.backend_url), "test"])
        // The token goes through the environment, never argv.
        .env("SCIM_CLI_HEADERS", format!("Authorization: Bearer {token}"))
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("SSL_CERT_FILE", &ca)
        .current_dir(stack.dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scim2-tester found failures:\n{text}\n{}",
        stack.backend.log()
    );
    // Every check ran and succeeded (none skipped).
    let verdicts: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_uppercase()) && w.len() > 3)
        .collect();
    let successes = verdicts.iter().filter(|v| **v == "SUCCESS").count();
    assert_eq!(successes, verdicts.len(), "{text}");
    assert!(successes >= 100, "only {successes} checks ran:\n{text}");
    println!("scim2-tester: {successes} checks, all SUCCESS");
}
