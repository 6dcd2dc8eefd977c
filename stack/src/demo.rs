//! `e2ei-stack demo`: against a running stack (read from `DIR/stack.json`), the dev admin adds
//! two users to the dev team; each enrolls a device through e2ei-client and the dev IdP; both
//! show identity and status; one is revoked through the authority's admin API
//! (`POST /admin/revocations`) and shows Revoked once the CRL, fetched through the backend's
//! CRL proxy, lists it.

use std::time::Duration;

use e2ei_client::status::{CrlStore, DeviceStatus, device_status, identity_of};
use e2ei_client::{
    BackendAuth, Credentials, Enrollment, EnrollmentSettings, HttpConfig, Login, LoginHintLogin,
    enroll,
};
use e2ei_core::ciphersuite::Ciphersuite;
use e2ei_signer::SecretString;
use serde_json::json;
use time::OffsetDateTime;

use crate::StackJson;

/// How long the demo waits for the revocation to reach the CRL.
const REVOCATION_WAIT: Duration = Duration::from_secs(30);

/// One demo user.
struct DemoUser {
    handle: String,
    name: String,
    password: String,
}

/// Runs the demo against the stack `stack` describes; prints what happens, returns the final
/// statuses of the kept and the revoked device.
pub async fn run(stack: &StackJson) -> Result<(DeviceStatus, DeviceStatus), String> {
    let ca = std::fs::read(&stack.tls_ca_pem)
        .map_err(|e| format!("{}: {e}", stack.tls_ca_pem.display()))?;
    let http_config = HttpConfig::new()
        .with_root_certificates_pem(&ca)
        .map_err(|e| e.to_string())?;
    let http = http_config.build().map_err(|e| e.to_string())?;

    // Fresh handles each run: the team keeps the users of earlier demos.
    let mut suffix = [0u8; 3];
    aws_lc_rs::rand::fill(&mut suffix).map_err(|_| "no randomness")?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let users = [("alice", "Alice Demo"), ("bob", "Bob Demo")].map(|(h, n)| DemoUser {
        handle: format!("{h}_{suffix}"),
        name: n.to_owned(),
        password: format!("demo-{suffix}-{h}-password"),
    });
    let admin_token = backend_login(&http, stack).await?;
    for user in &users {
        let reply = http
            .post(format!(
                "{}/teams/{}/members",
                stack.backend.url, stack.backend.team_id
            ))
            .bearer_auth(&admin_token)
            .json(&json!({
                "name": user.name,
                "handle": user.handle,
                "email": format!("{}@{}", user.handle, stack.backend.domain),
                "password": user.password,
            }))
            .send()
            .await
            .map_err(|e| format!("adding {}: {e}", user.handle))?;
        if !reply.status().is_success() {
            return Err(format!("adding {}: HTTP {}", user.handle, reply.status()));
        }
        println!("team member added: @{} ({})", user.handle, user.name);
    }

    let mut enrollments = Vec::new();
    for user in &users {
        let mut settings = EnrollmentSettings::new(
            &stack.acme.wire_directory,
            &stack.backend.url,
            BackendAuth::Password(Credentials {
                login: Login::Handle(user.handle.clone()),
                password: SecretString::new(user.password.clone()),
            }),
            Ciphersuite::Mls128Dhkemp256Aes128gcmSha256P256,
        );
        settings.http = http_config.clone();
        let login = LoginHintLogin::new(&user.handle, &stack.idp.redirect_uri);
        let enrollment = enroll(settings, &login)
            .await
            .map_err(|e| format!("enrolling @{}: {e}", user.handle))?;
        show(&enrollment, &status(&http, stack, &enrollment).await)?;
        enrollments.push(enrollment);
    }

    let revoked = &enrollments[1];
    let serial = e2ei_core::x509::serial_to_hex(revoked.leaf().tbs_certificate().serial_number());
    let token = std::fs::read_to_string(&stack.acme.admin_token_file)
        .map_err(|e| format!("{}: {e}", stack.acme.admin_token_file.display()))?;
    let reply = http
        .post(format!("{}/admin/revocations", stack.acme.url))
        .bearer_auth(token.trim())
        .json(&json!({ "serial": serial, "reason": "keyCompromise" }))
        .send()
        .await
        .map_err(|e| format!("revoking: {e}"))?;
    if !reply.status().is_success() {
        return Err(format!("revoking: HTTP {}", reply.status()));
    }
    println!("\nrevoked serial {serial} through the admin API; waiting for the CRL …");
    let deadline = tokio::time::Instant::now() + REVOCATION_WAIT;
    let after = loop {
        let s = status(&http, stack, revoked).await;
        if matches!(s, DeviceStatus::Revoked { .. }) || tokio::time::Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    show(revoked, &after)?;
    let kept = status(&http, stack, &enrollments[0]).await;
    show(&enrollments[0], &kept)?;
    Ok((kept, after))
}

async fn backend_login(http: &reqwest::Client, stack: &StackJson) -> Result<String, String> {
    let admin = &stack.backend.admin;
    let reply = http
        .post(format!("{}/login", stack.backend.url))
        .json(&json!({ "handle": admin.handle, "password": admin.password }))
        .send()
        .await
        .map_err(|e| format!("backend login: {e}"))?;
    if !reply.status().is_success() {
        return Err(format!("backend login: HTTP {}", reply.status()));
    }
    let body: serde_json::Value = reply
        .json()
        .await
        .map_err(|e| format!("backend login: {e}"))?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "backend login: no access_token".into())
}

/// The device's status, its CRL fetched through the backend's CRL proxy as Wire clients do.
async fn status(http: &reqwest::Client, stack: &StackJson, e: &Enrollment) -> DeviceStatus {
    let now = OffsetDateTime::now_utc();
    let mut crls = CrlStore::new();
    let proxy = format!("{}/proxyCrl", stack.backend.url);
    if let Some(issuer) = e.intermediates().first() {
        if let Err(err) = crls
            .refresh_for(http, e.leaf(), issuer, Some(&proxy), now)
            .await
        {
            tracing::warn!(error = %err, "no CRL: the status is not revocation-checked");
        }
    }
    let chain: Vec<_> = e.certificates().into_iter().cloned().collect();
    device_status(
        &chain,
        std::slice::from_ref(e.trust_anchor()),
        &crls.current(now),
        now,
    )
}

fn show(e: &Enrollment, status: &DeviceStatus) -> Result<(), String> {
    let id = identity_of(e.leaf()).ok_or("the leaf is not a Wire certificate")?;
    let status = match status {
        DeviceStatus::Valid {
            revocation_checked: true,
        } => "Valid".to_owned(),
        DeviceStatus::Valid { .. } => "Valid (revocation not checked)".to_owned(),
        DeviceStatus::Expired => "Expired".to_owned(),
        DeviceStatus::Revoked { at, reason } => format!(
            "Revoked at {at} ({})",
            reason
                .map(|r| format!("{r:?}"))
                .unwrap_or("no reason".into())
        ),
        DeviceStatus::Invalid { reason } => format!("Invalid: {reason}"),
    };
    println!(
        "\n{}\n  handle     {}\n  client id  {}\n  serial     {}\n  not after  {}\n  status     {status}",
        id.display_name, id.handle, id.client_id, id.serial, id.not_after
    );
    Ok(())
}
