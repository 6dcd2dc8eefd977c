//! A device enrolls with e2ei-client exactly as Wire's clients do (protocol doc §4) against the
//! real `e2ei-backend` and `e2ei-acme-server` binaries over HTTPS, with the real test IdP; the
//! chain it gets back is checked by the client (§8.1), by OpenSSL (`verify -x509_strict`, which
//! enforces the intermediate's URI name constraints) and by pkilint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::idp::{self, LOOPBACK_REDIRECT_URI, REDIRECT_URI};
use common::{DOMAIN, Stack, tools};
use e2ei_client::acme::{AcmeError, ProblemType, ResponseError};
use e2ei_client::verify::CertificateError;
use e2ei_client::{
    BackendAuth, Credentials, Device, EnrollError, Enrollment, EnrollmentSettings, LoginHintLogin,
    LoopbackLogin, TrustAnchors, enroll,
};
use e2ei_core::ciphersuite::Ciphersuite;
use e2ei_core::oid;
use e2ei_core::path::certificate_uris;
use e2ei_core::x509::name_attribute;
use e2ei_signer::SecretString;

/// A running stack and the shared IdP, or `None` when a tool is missing (skipped loudly).
async fn stack() -> Option<Stack> {
    let idp = idp::shared()?;
    Stack::start(&idp.issuer).await
}

fn settings(stack: &Stack, credentials: Credentials, suite: Ciphersuite) -> EnrollmentSettings {
    let mut settings = EnrollmentSettings::new(
        &stack.directory_url,
        &stack.backend_url,
        BackendAuth::Password(credentials),
        suite,
    );
    settings.http = stack.http_config();
    settings
}

/// What every issued chain must satisfy beyond the client's own checks: the identity of §7.3,
/// OpenSSL's verdict, and pkilint's findings exactly as allowlisted.
fn check_chain(stack: &Stack, enrollment: &Enrollment, handle: &str, name: &str) {
    let identity = enrollment.identity();
    assert_eq!(identity.handle().handle().as_str(), handle);
    assert_eq!(identity.name().as_str(), name);
    assert_eq!(identity.domain().as_str(), DOMAIN);
    assert!(enrollment.team().is_some());
    assert_eq!(enrollment.trust_anchor(), &stack.pki.root);
    assert_eq!(
        enrollment.intermediates(),
        std::slice::from_ref(&stack.pki.intermediate)
    );

    let leaf = enrollment.leaf();
    assert_eq!(
        &e2ei_core::x509::certificate_public_key(leaf).unwrap(),
        enrollment.mls_key().public_key(),
        "the leaf certifies the MLS key"
    );
    assert_ne!(
        enrollment.mls_key().public_key(),
        enrollment.acme_account_key().public_key(),
        "the MLS key and the ACME account key are two keys (§10 item 1)"
    );
    assert_eq!(
        enrollment.mls_key().algorithm(),
        enrollment.ciphersuite().key_algorithm()
    );
    let subject = leaf.tbs_certificate().subject();
    assert_eq!(name_attribute(subject, oid::COMMON_NAME).unwrap(), name);
    assert_eq!(name_attribute(subject, oid::ORGANIZATION).unwrap(), DOMAIN);
    let mut uris = certificate_uris(leaf);
    uris.sort();
    assert_eq!(
        uris,
        [
            format!("wireapp://%40{handle}@{DOMAIN}"),
            identity.client_id().to_certificate_uri(),
        ]
    );
    assert!(identity.client_id().to_certificate_uri().contains("%21"));
    assert!(
        enrollment
            .certificate_chain_pem()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(
        enrollment.certificates().len(),
        2,
        "leaf and intermediate, no root"
    );

    let dir = stack
        .dir
        .path()
        .join(format!("chain-{}", enrollment.ciphersuite().code()));
    tools::write_chain(&dir, &stack.pki, enrollment);
    tools::check_with_openssl(&dir);
    if let Some(findings) = tools::pkilint_leaf(&dir) {
        let codes: std::collections::BTreeSet<String> =
            findings.iter().map(|(code, _)| code.clone()).collect();
        assert_eq!(
            codes,
            tools::pkilint_allowlist(),
            "pkilint findings differ from pkilint-allowlist.txt (an unexpected pass fails too): {findings:#?}"
        );
    }
}

/// A fresh client of a new team owner enrolls for `suite` with the non-interactive login.
async fn enrolls_for(suite: Ciphersuite) {
    let Some(stack) = stack().await else { return };
    let credentials = stack.register_team_owner("alice_wire", "Alice Smith").await;
    let login = LoginHintLogin::new("alice_wire", REDIRECT_URI);
    let enrollment = enroll(settings(&stack, credentials, suite), &login)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{suite}: {e}\nauthority log:\n{}\nbackend log:\n{}",
                stack.acme_log(),
                stack.backend.log()
            )
        });
    assert_eq!(enrollment.ciphersuite(), suite);
    check_chain(&stack, &enrollment, "alice_wire", "Alice Smith");
}

#[tokio::test]
async fn enrolls_an_ed25519_device() {
    enrolls_for(Ciphersuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519).await;
}

#[tokio::test]
async fn enrolls_a_p256_device() {
    enrolls_for(Ciphersuite::Mls128Dhkemp256Aes128gcmSha256P256).await;
}

#[tokio::test]
async fn enrolls_a_p384_device() {
    enrolls_for(Ciphersuite::Mls256Dhkemp384Aes256gcmSha384P384).await;
}

#[tokio::test]
async fn enrolls_a_p521_device() {
    enrolls_for(Ciphersuite::Mls256Dhkemp521Aes256gcmSha512P521).await;
}

/// The interactive login: the URL goes to a "person" (a scripted browser), the redirect comes
/// back to the client's loopback listener. The backend session comes from an access token and
/// an existing client, the way an app that is already logged in enrolls.
#[tokio::test]
async fn enrolls_an_existing_client_through_the_loopback_login() {
    let Some(stack) = stack().await else { return };
    stack.register_team_owner("bob_wire", "Bob Jones").await;
    let http = stack.http();
    let login: serde_json::Value = http
        .post(format!("{}/login", stack.backend_url))
        .json(&serde_json::json!({ "handle": "bob_wire", "password": common::PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let client: serde_json::Value = http
        .post(format!("{}/clients", stack.backend_url))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "type": "permanent", "password": common::PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device = client["id"].as_str().unwrap().parse().unwrap();

    let suite = Ciphersuite::Mls128Dhkemp256Aes128gcmSha256P256;
    let mut settings = EnrollmentSettings::new(
        &stack.directory_url,
        &stack.backend_url,
        BackendAuth::AccessToken(SecretString::new(token)),
        suite,
    );
    settings.http = stack.http_config();
    settings.device = Device::Existing(device);
    let presented = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = presented.clone();
    let login = LoopbackLogin::bind()
        .await
        .unwrap()
        .with_timeout(std::time::Duration::from_secs(30))
        .with_presenter(Arc::new(move |url: &url::Url| {
            seen.lock().unwrap().push(url.clone());
            tokio::spawn(idp::browse(url.clone(), "bob_wire".into()));
        }));
    assert!(
        e2ei_client::IdpLogin::redirect_uri(&login)
            .starts_with(LOOPBACK_REDIRECT_URI.trim_end_matches("/callback"))
    );
    let enrollment = enroll(settings, &login)
        .await
        .unwrap_or_else(|e| panic!("{e}\nauthority log:\n{}", stack.acme_log()));
    assert_eq!(presented.lock().unwrap().len(), 1);
    assert_eq!(enrollment.identity().client_id().device(), device);
    check_chain(&stack, &enrollment, "bob_wire", "Bob Jones");
}

/// The backend says the user is "Robert Jones", the IdP says "Bob Jones": the authority refuses
/// `wire-oidc-01` (§6.3 step 5) and the client reports the invalid challenge with its reason.
#[tokio::test]
async fn reports_the_refused_oidc_challenge_when_the_idp_disagrees() {
    let Some(stack) = stack().await else { return };
    let credentials = stack.register_team_owner("bob_wire", "Robert Jones").await;
    let login = LoginHintLogin::new("bob_wire", REDIRECT_URI);
    let result = enroll(
        settings(
            &stack,
            credentials,
            Ciphersuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519,
        ),
        &login,
    )
    .await;
    match result {
        Err(EnrollError::Acme(AcmeError::Response(ResponseError::ChallengeInvalid {
            challenge,
            error: Some(problem),
        }))) => {
            assert_eq!(challenge, "wire-oidc-01");
            assert_eq!(problem.kind, ProblemType::RejectedIdentifier);
            assert!(problem.detail.contains("don't match"), "{}", problem.detail);
        }
        other => panic!("expected the refused wire-oidc-01, got {other:?}"),
    }
}

/// A chain that does not lead to the trust anchor the client pins is refused after download
/// (§8.1 step 2), even though the authority issued it correctly.
#[tokio::test]
async fn refuses_a_chain_that_does_not_reach_the_pinned_root() {
    let Some(stack) = stack().await else { return };
    let credentials = stack.register_team_owner("alice_wire", "Alice Smith").await;
    let other_root = common::Pki::create(&stack.dir.path().join("other")).root;
    let mut settings = settings(
        &stack,
        credentials,
        Ciphersuite::Mls256Dhkemp384Aes256gcmSha384P384,
    );
    settings.trust_anchors = TrustAnchors::Pinned(vec![other_root]);
    let result = enroll(settings, &LoginHintLogin::new("alice_wire", REDIRECT_URI)).await;
    assert!(
        matches!(
            result,
            Err(EnrollError::Certificate(CertificateError::Path(_)))
        ),
        "{result:?}"
    );
}
