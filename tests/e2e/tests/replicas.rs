//! Two authority processes on one PostgreSQL, reached through a round-robin proxy with a new
//! connection for every request, so that consecutive requests of one enrollment alternate
//! between them: 200 Wire enrollments complete with no error. Nonces, orders, challenges and
//! certificates are rows both replicas share (ARCHITECTURE.md "Scaling past one machine").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::idp::{self, REDIRECT_URI};
use common::{Stack, StackDatabase, StackOptions};
use e2ei_client::{
    BackendAuth, Credentials, Device, EnrollmentSettings, Login, LoginHintLogin, enroll,
};
use e2ei_core::ciphersuite::Ciphersuite;
use e2ei_core::x509::serial_to_hex;
use e2ei_signer::SecretString;

const SUITES: [Ciphersuite; 4] = [
    Ciphersuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519,
    Ciphersuite::Mls128Dhkemp256Aes128gcmSha256P256,
    Ciphersuite::Mls256Dhkemp384Aes256gcmSha384P384,
    Ciphersuite::Mls256Dhkemp521Aes256gcmSha512P521,
];

/// Devices enrolling side by side, and enrollments each.
const DEVICES_PER_USER: usize = 4;
const ENROLLMENTS_PER_DEVICE: usize = 25;

fn settings(stack: &Stack, handle: &str, device: Device, suite: Ciphersuite) -> EnrollmentSettings {
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
    settings.http = stack.http_config().without_connection_reuse();
    settings.device = device;
    settings
}

/// Counts the ACME requests a replica served, from its own `/metrics`.
async fn acme_requests_served(stack: &Stack, replica: usize) -> u64 {
    let text = stack
        .http()
        .get(format!("{}/metrics", stack.acme_replica_url(replica)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("e2ei_acme_requests_total{") && l.contains("/acme/"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgresql_complete_200_enrollments() {
    let Some(idp) = idp::shared() else { return };
    let Some(url) = common::postgres_schema() else {
        return;
    };
    let mut options = StackOptions::new(&idp.issuer);
    options.database = StackDatabase::Postgres(url);
    options.acme_replicas = 2;
    let Some(stack) = Stack::start_with(options).await else {
        return;
    };
    let stack = Arc::new(stack);
    stack.register_team_owner("alice_wire", "Alice Smith").await;
    stack.register_team_owner("bob_wire", "Bob Jones").await;

    let mut workers = Vec::new();
    for (u, handle) in ["alice_wire", "bob_wire"].into_iter().enumerate() {
        for d in 0..DEVICES_PER_USER {
            let stack = stack.clone();
            workers.push(tokio::spawn(async move {
                let login = LoginHintLogin::new(handle, REDIRECT_URI);
                let mut device = Device::Register;
                let mut serials = Vec::new();
                for n in 0..ENROLLMENTS_PER_DEVICE {
                    let suite = SUITES[(u + d + n) % SUITES.len()];
                    let enrollment = enroll(settings(&stack, handle, device, suite), &login)
                        .await
                        .unwrap_or_else(|e| {
                            panic!(
                                "{handle} device {d} enrollment {n}: {e}\n{}",
                                stack.acme_log()
                            )
                        });
                    device = Device::Existing(enrollment.identity().client_id().device());
                    serials.push(serial_to_hex(
                        enrollment.leaf().tbs_certificate().serial_number(),
                    ));
                }
                serials
            }));
        }
    }
    let mut serials = BTreeSet::new();
    let mut total = 0;
    for worker in workers {
        for serial in worker.await.unwrap() {
            total += 1;
            serials.insert(serial);
        }
    }
    assert_eq!(total, 2 * DEVICES_PER_USER * ENROLLMENTS_PER_DEVICE);
    assert_eq!(total, 200);
    assert_eq!(serials.len(), total, "every certificate has its own serial");
    // One leader publishes the CRL; every replica serves the same stored bytes.
    let mut served = Vec::new();
    for replica in 0..2 {
        let reply = stack
            .http()
            .get(format!("{}/crl", stack.acme_replica_url(replica)))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        served.push(reply.bytes().await.unwrap());
    }
    assert_eq!(served[0], served[1], "both replicas serve the same CRL");
    // Both replicas did a large share of the work.
    for replica in 0..2 {
        let served = acme_requests_served(&stack, replica).await;
        assert!(
            served > 1000,
            "replica {replica} served only {served} ACME requests"
        );
    }
}
