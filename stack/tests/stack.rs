//! The dev stack in process on a temporary directory with free ports: `stack.json` describes
//! it, a device enrolls through the dev IdP with e2ei-client, the dev DNS responder answers,
//! and a restart on the same directory keeps the PKI and the team.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use e2ei_client::{
    BackendAuth, Credentials, EnrollmentSettings, HttpConfig, Login, LoginHintLogin, enroll,
};
use e2ei_core::ciphersuite::Ciphersuite;
use e2ei_core::path::certificate_uris;
use e2ei_signer::SecretString;
use e2ei_stack::pki::read_certificate;
use e2ei_stack::{Options, Running, StackJson, start};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};

async fn start_in(dir: &Path) -> Running {
    start(Options::new(dir.to_owned(), 0)).await.unwrap()
}

fn http(stack: &StackJson) -> HttpConfig {
    HttpConfig::new()
        .with_root_certificates_pem(&std::fs::read(&stack.tls_ca_pem).unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_enrolls_through_the_dev_idp() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_in(dir.path()).await;
    let stack = StackJson::read(dir.path()).unwrap();
    assert_eq!(stack, running.contract);
    let mode = std::fs::metadata(dir.path().join("stack.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "stack.json holds a password");
    assert!(stack.data_dir.is_absolute() && stack.acme.roots_pem.is_absolute());

    // The team's feature points clients at the stack's authority and CRL proxy (§2.2).
    let client = http(&stack).build().unwrap();
    // stack.json's SCIM endpoint and token reach the dev team.
    let scim = stack
        .scim
        .as_ref()
        .expect("stack.json names the SCIM endpoint");
    let users = client
        .get(format!("{}/Users", scim.url))
        .bearer_auth(&scim.token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200);
    let users: serde_json::Value = users.json().await.unwrap();
    assert_eq!(users["totalResults"], 0, "{users}");
    let login: serde_json::Value = client
        .post(format!("{}/login", stack.backend.url))
        .json(&serde_json::json!({
            "email": stack.backend.admin.email, "password": stack.backend.admin.password,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let features: serde_json::Value = client
        .get(format!("{}/feature-configs", stack.backend.url))
        .bearer_auth(login["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let e2ei = &features["mlsE2EId"];
    assert_eq!(e2ei["status"], "enabled", "{features}");
    assert_eq!(
        e2ei["config"]["acmeDiscoveryUrl"],
        stack.acme.wire_directory
    );
    assert_eq!(
        e2ei["config"]["crlProxy"],
        format!("{}/proxyCrl", stack.backend.url)
    );

    let admin = &stack.backend.admin;
    let mut settings = EnrollmentSettings::new(
        &stack.acme.wire_directory,
        &stack.backend.url,
        BackendAuth::Password(Credentials {
            login: Login::Handle(admin.handle.clone()),
            password: SecretString::new(admin.password.clone()),
        }),
        Ciphersuite::Mls128Dhkemp256Aes128gcmSha256P256,
    );
    settings.http = http(&stack);
    let enrollment = enroll(
        settings,
        &LoginHintLogin::new(&admin.handle, &stack.idp.redirect_uri),
    )
    .await
    .unwrap();
    let identity = enrollment.identity();
    assert_eq!(identity.handle().handle().as_str(), admin.handle);
    assert_eq!(identity.domain().as_str(), stack.backend.domain);
    assert_eq!(identity.name().as_str(), "Dev Admin");
    assert_eq!(
        enrollment.team().map(|t| t.to_string()),
        Some(stack.backend.team_id.clone())
    );
    assert_eq!(
        enrollment.trust_anchor(),
        &read_certificate(&stack.acme.roots_pem).unwrap()
    );
    assert_eq!(
        enrollment.intermediates(),
        [read_certificate(&stack.data_dir.join("pki/intermediate.pem")).unwrap()]
    );
    let mut uris = certificate_uris(enrollment.leaf());
    uris.sort();
    assert_eq!(
        uris,
        [
            format!("wireapp://%40{}@{}", admin.handle, stack.backend.domain),
            identity.client_id().to_certificate_uri(),
        ]
    );
    running.shutdown().await.unwrap();
}

async fn ask(resolver: &str, name: &str, kind: RecordType) -> Message {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut query = Message::new();
    query
        .set_id(7)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    socket
        .send_to(&query.to_vec().unwrap(), resolver)
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        socket.recv_from(&mut buf),
    )
    .await
    .unwrap()
    .unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(reply.id(), 7);
    reply
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dns_responder_answers_loopback_and_the_txt_records_set_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_in(dir.path()).await;
    let stack = running.contract.clone();
    let resolver = stack.acme.dns_resolver.as_str();

    let a = ask(resolver, "www.wire.e2ei.test.", RecordType::A).await;
    assert!(matches!(
        a.answers()[0].data(),
        RData::A(a) if a.0 == Ipv4Addr::LOCALHOST
    ));
    let aaaa = ask(resolver, "anything.example.", RecordType::AAAA).await;
    assert!(matches!(
        aaaa.answers()[0].data(),
        RData::AAAA(a) if a.0 == Ipv6Addr::LOCALHOST
    ));

    let name = "_acme-challenge.www.wire.e2ei.test.";
    assert!(
        ask(resolver, name, RecordType::TXT)
            .await
            .answers()
            .is_empty()
    );
    let reply = reqwest::Client::new()
        .post(format!("{}/set-txt", stack.acme.dns_control_url))
        .json(&serde_json::json!({ "host": name, "value": "token-digest" }))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    let txt = ask(
        resolver,
        "_ACME-challenge.www.wire.e2ei.test.",
        RecordType::TXT,
    )
    .await;
    let values: Vec<String> = txt
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::TXT(t) => Some(t.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(values, ["token-digest"]);

    let reply = reqwest::Client::new()
        .post(format!("{}/clear-txt", stack.acme.dns_control_url))
        .json(&serde_json::json!({ "host": name }))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    assert!(
        ask(resolver, name, RecordType::TXT)
            .await
            .answers()
            .is_empty()
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_on_the_same_directory_keeps_the_pki_and_the_team() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_in(dir.path()).await;
    let before = first.contract.clone();
    let root = std::fs::read(&before.acme.roots_pem).unwrap();
    let intermediate = std::fs::read(dir.path().join("pki/intermediate.pem")).unwrap();
    first.shutdown().await.unwrap();

    let second = start_in(dir.path()).await;
    let after = second.contract.clone();
    assert_eq!(std::fs::read(&after.acme.roots_pem).unwrap(), root);
    assert_eq!(
        std::fs::read(dir.path().join("pki/intermediate.pem")).unwrap(),
        intermediate
    );
    assert_eq!(after.backend.team_id, before.backend.team_id);
    assert_eq!(after.backend.admin, before.backend.admin);
    assert_eq!(after.tls_ca_pem, before.tls_ca_pem);
    // The authority serves the kept root.
    let served = http(&after)
        .build()
        .unwrap()
        .get(format!("{}/roots.pem", after.acme.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served.as_bytes(), root.as_slice());
    second.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_enrolls_two_users_and_revokes_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path().to_owned(), 0);
    // The revocation wakes the publisher; a short poll only bounds the wait if it did not.
    options.crl_poll = std::time::Duration::from_secs(1);
    let running = start(options).await.unwrap();
    let (kept, revoked) = e2ei_stack::demo::run(&running.contract).await.unwrap();
    assert_eq!(
        kept,
        e2ei_client::status::DeviceStatus::Valid {
            revocation_checked: true
        }
    );
    assert!(
        matches!(revoked, e2ei_client::status::DeviceStatus::Revoked { .. }),
        "{revoked:?}"
    );
    running.shutdown().await.unwrap();
}
