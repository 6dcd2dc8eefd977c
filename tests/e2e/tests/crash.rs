//! Crash safety: the authority is killed with SIGKILL while 100 enrollments run concurrently.
//! After a restart on the same database every certificate a client received is in the store, no
//! serial repeats, no order is left half-finalized (`processing`), and the enrollments the crash
//! interrupted succeed when run again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::idp::{self, REDIRECT_URI};
use common::{Stack, StackOptions};
use e2ei_client::{
    BackendAuth, Credentials, Device, EnrollmentSettings, Login, LoginHintLogin, enroll,
};
use e2ei_core::ciphersuite::Ciphersuite;
use e2ei_core::id::DeviceId;
use e2ei_core::x509::serial_to_hex;
use e2ei_signer::SecretString;
use sqlx::{Connection, Row};

const CONCURRENT: usize = 100;
/// The authority dies once this many enrollments have finished.
const KILL_AFTER: usize = 15;
/// Seconds after which a `processing` order counts as abandoned (set low for the test).
const STALE_SECS: u64 = 2;

fn settings(stack: &Stack, handle: &str, device: Device) -> EnrollmentSettings {
    let credentials = Credentials {
        login: Login::Handle(handle.to_owned()),
        password: SecretString::new(common::PASSWORD.to_owned()),
    };
    let mut settings = EnrollmentSettings::new(
        &stack.directory_url,
        &stack.backend_url,
        BackendAuth::Password(credentials),
        Ciphersuite::Mls128Dhkemp256Aes128gcmSha256P256,
    );
    settings.http = stack.http_config();
    settings.device = device;
    settings
}

/// The enrollments, each `(handle, device)`: four devices of each of two users.
async fn devices(stack: &Stack) -> Vec<(&'static str, DeviceId)> {
    let mut out = Vec::new();
    for (handle, name) in [("alice_wire", "Alice Smith"), ("bob_wire", "Bob Jones")] {
        stack.register_team_owner(handle, name).await;
        for _ in 0..4 {
            let login = LoginHintLogin::new(handle, REDIRECT_URI);
            let enrollment = enroll(settings(stack, handle, Device::Register), &login)
                .await
                .unwrap();
            out.push((handle, enrollment.identity().client_id().device()));
        }
    }
    out
}

async fn stored_serials(stack: &Stack) -> (Vec<String>, i64) {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", stack.acme_sqlite().display());
    let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
    let serials = sqlx::query("SELECT serial FROM certificates")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>("serial").unwrap())
        .collect();
    let processing: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE status = 'processing'")
            .fetch_one(&mut db)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
    (serials, processing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_authority_during_100_concurrent_enrollments_loses_nothing() {
    let Some(idp) = idp::shared() else { return };
    let mut options = StackOptions::new(&idp.issuer);
    options.acme_extra = format!("stale_processing_secs = {STALE_SECS}");
    let Some(mut stack) = Stack::start_with(options).await else {
        return;
    };
    let devices = devices(&stack).await;

    let finished = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new((
        stack.directory_url.clone(),
        stack.backend_url.clone(),
        stack.http_config(),
    ));
    let mut tasks = Vec::new();
    for i in 0..CONCURRENT {
        let (handle, device) = devices[i % devices.len()];
        let finished = finished.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let (directory, backend, http) = &*shared;
            let credentials = Credentials {
                login: Login::Handle(handle.to_owned()),
                password: SecretString::new(common::PASSWORD.to_owned()),
            };
            let mut settings = EnrollmentSettings::new(
                directory,
                backend,
                BackendAuth::Password(credentials),
                Ciphersuite::Mls128Dhkemp256Aes128gcmSha256P256,
            );
            settings.http = http.clone();
            settings.device = Device::Existing(device);
            let result = enroll(settings, &LoginHintLogin::new(handle, REDIRECT_URI)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            result
                .map(|e| serial_to_hex(e.leaf().tbs_certificate().serial_number()))
                .map_err(|e| e.to_string())
        }));
    }
    // Kill while the enrollments are in full flight.
    while finished.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stack.kill_acme(0);
    let mut handed_out = Vec::new();
    let mut interrupted = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(serial) => handed_out.push(serial),
            Err(_) => interrupted.push(i),
        }
    }
    assert!(
        !interrupted.is_empty() && handed_out.len() >= KILL_AFTER,
        "the kill must land mid-flight: {} done, {} interrupted",
        handed_out.len(),
        interrupted.len()
    );
    let (_, processing_at_crash) = stored_serials(&stack).await;
    eprintln!(
        "at the crash: {} certificates handed out, {} enrollments interrupted, {} orders in processing",
        handed_out.len(),
        interrupted.len(),
        processing_at_crash
    );

    stack.restart_acme(0).await;
    // The restarted authority sweeps orders left in `processing` once they are stale.
    tokio::time::sleep(Duration::from_secs(3 * STALE_SECS + 1)).await;
    let (stored, processing) = stored_serials(&stack).await;
    assert_eq!(processing, 0, "an order was left half-finalized");
    let stored_set: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(
        stored_set.len(),
        stored.len(),
        "a serial repeats in the store"
    );
    let handed_set: BTreeSet<&String> = handed_out.iter().collect();
    assert_eq!(
        handed_set.len(),
        handed_out.len(),
        "a serial was handed out twice"
    );
    for serial in &handed_out {
        assert!(
            stored_set.contains(serial),
            "certificate {serial} was handed out but not stored"
        );
    }

    // The interrupted enrollments go through once the authority is back.
    for i in interrupted {
        let (handle, device) = devices[i % devices.len()];
        let login = LoginHintLogin::new(handle, REDIRECT_URI);
        enroll(settings(&stack, handle, Device::Existing(device)), &login)
            .await
            .unwrap_or_else(|e| panic!("after the restart: {e}\n{}", stack.acme_log()));
    }
    let (stored, processing) = stored_serials(&stack).await;
    assert_eq!(processing, 0);
    assert_eq!(stored.iter().collect::<BTreeSet<_>>().len(), stored.len());
}
