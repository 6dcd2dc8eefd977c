//! The load generator (issue 5). In one run, on this machine, at each concurrency:
//!
//! 1. **Wire enrollments per second**: `e2ei-client`'s [`enroll`] — backend session, ACME
//!    account and order, `wire-dpop-01`, the OIDC login at the real test IdP (Node; it takes part
//!    in every enrollment), `wire-oidc-01`, finalize, download, the §8.1 chain checks — against
//!    the `e2ei-backend` and `e2ei-acme-server` binaries over HTTPS.
//! 2. **Standard `http-01` issuances per second** at the authority's standard provisioner, with
//!    instant-acme as the client: one order per certificate for a name never used before, the
//!    `http-01` responder in this process, names resolved by an in-process DNS responder.
//! 3. **The same `http-01` load against pebble** (Let's Encrypt's test CA, everything in
//!    memory), with the identical client code, and the ratio e2ei / pebble.
//!
//! The authority runs on SQLite and, when the test database is reachable, on PostgreSQL (the
//! backend stays on SQLite). Next to each figure: latency p50/p99, the CPU time each process
//! spent per operation, and how busy the machine was with other processes meanwhile (read
//! from `/proc`), because the figures are only as quiet as the machine.
//!
//! A measurement stops at its first failed operation (or one unanswered for 30 s) and counts
//! as failed; failures against e2ei make the bench exit non-zero. pebble 2.4.0 stops answering
//! now and then under concurrent orders: such a measurement is reported as failed, pebble's
//! goroutine dump is kept, and a fresh pebble serves the next measurement.
//!
//! `scripts/bench-load.sh` builds the release service binaries and runs this with
//! `E2EI_SERVICE_BIN_DIR` pointing at them. Settings (environment):
//! `E2EI_LOAD_CONCURRENCY` (default `8,32`), `E2EI_LOAD_ENROLLMENTS` (400 per measurement),
//! `E2EI_LOAD_ISSUANCES` (1000), `E2EI_LOAD_RUNS` (2: each configuration is measured this many
//! times, the concurrencies interleaved), `E2EI_LOAD_DATABASES` (`sqlite,postgres`),
//! `E2EI_LOAD_PARTS` (`wire,http01,pebble`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
// The authority tests' DNS and `http-01` responders, shared rather than copied.
#[path = "../../../acme-server/tests/common/responders.rs"]
#[allow(dead_code, unreachable_pub)]
mod responders;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::idp::{self, REDIRECT_URI};
use common::{Stack, StackDatabase, StackOptions, StandardOptions};
use der::Encode;
use e2ei_client::{BackendAuth, Device, EnrollmentSettings, HttpConfig, LoginHintLogin, enroll};
use e2ei_core::ciphersuite::{Ciphersuite, KeyAlgorithm};
use e2ei_core::id::DeviceId;
use e2ei_core::oid;
use e2ei_core::x509::{
    CsrToBeSigned, NameAttribute, build_name, certificates_from_pem_or_der, subject_alt_name_dns,
};
use e2ei_signer::{SecretString, Signer};
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use responders::{DnsResponder, HttpResponder};
use serde_json::{Value, json};

/// Wire's default MLS ciphersuite (1): Ed25519 keys, EdDSA proofs.
const SUITE: Ciphersuite = Ciphersuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519;

/// The backend's limit of permanent clients per user; every device of both IdP users enrolls.
const DEVICES_PER_USER: usize = 7;

/// Names of the `http-01` load. Under the PKI's domain, because the issuing intermediate's
/// name constraints permit DNS names below `wire.example.com` only (the authority signs
/// whatever its `allowed_domains` admit, so a name outside would yield a chain that fails
/// path validation).
const LOAD_SUFFIX: &str = "load.wire.example.com";

/// Turns the authority's new-account and new-order limits off: the load opens thousands of
/// accounts and orders from 127.0.0.1 within minutes.
const RATE_LIMITS_OFF: &str = "[rate_limits]
new_accounts_per_ip = { count = 0, period_secs = 1 }
new_orders_per_account = { count = 0, period_secs = 1 }
new_orders_per_ip = { count = 0, period_secs = 1 }
";

/// How the `http-01` client polls an order that is not ready or not issued yet (pebble
/// validates and issues in the background): from 5 ms, doubling. instant-acme's default
/// first sleep of 250 ms would measure the client's patience, not the server.
fn poll_policy() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(5))
        .backoff(2.0)
        .timeout(Duration::from_secs(60))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

struct Settings {
    concurrency: Vec<usize>,
    enrollments: usize,
    issuances: usize,
    runs: usize,
    databases: Vec<String>,
    parts: Vec<String>,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            concurrency: env_list("E2EI_LOAD_CONCURRENCY", "8,32")
                .iter()
                .map(|c| c.parse().expect("E2EI_LOAD_CONCURRENCY: numbers"))
                .collect(),
            enrollments: env_or("E2EI_LOAD_ENROLLMENTS", 400),
            issuances: env_or("E2EI_LOAD_ISSUANCES", 1000),
            runs: env_or("E2EI_LOAD_RUNS", 2),
            databases: env_list("E2EI_LOAD_DATABASES", "sqlite,postgres"),
            parts: env_list("E2EI_LOAD_PARTS", "wire,http01,pebble"),
        }
    }

    fn part(&self, name: &str) -> bool {
        self.parts.iter().any(|p| p == name)
    }

    /// Clients of the `http-01` load: one per task at the highest concurrency.
    fn workers(&self) -> usize {
        self.concurrency.iter().copied().max().unwrap_or(1)
    }
}

/// CPU time under `/proc`, to show where the cores went during a measurement.
mod cpu {
    use std::collections::BTreeMap;
    use std::process::Command;

    /// Clock ticks per second of `/proc`'s CPU times.
    pub(crate) fn ticks_per_second() -> f64 {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    }

    /// User + system ticks of process `pid` (all its threads), or of this process for `self`.
    pub(crate) fn process_ticks(pid: &str) -> u64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return 0;
        };
        // The command name (field 2) is in parentheses and may hold spaces; utime and stime
        // are fields 14 and 15, the 12th and 13th after it.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return 0;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        field(11).unwrap_or(0) + field(12).unwrap_or(0)
    }

    /// User + system ticks of every process whose command name is `command`, by process id.
    pub(crate) fn command_ticks(command: &str) -> BTreeMap<String, u64> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return BTreeMap::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == command)
            })
            .map(|pid| {
                let ticks = process_ticks(&pid);
                (pid, ticks)
            })
            .collect()
    }

    /// Busy ticks of the whole machine, all cores (everything but idle and iowait).
    pub(crate) fn machine_busy_ticks() -> u64 {
        let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
            return 0;
        };
        let Some(line) = stat.lines().next() else {
            return 0;
        };
        let values: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        [0, 1, 2, 5, 6, 7]
            .iter()
            .filter_map(|&i| values.get(i))
            .sum()
    }
}

/// Processes whose CPU time a measurement reports under one name.
#[derive(Clone)]
enum Probe {
    /// One process.
    Pid(&'static str, String),
    /// Every process with this command name (PostgreSQL runs one per connection).
    Command(&'static str, &'static str),
}

impl Probe {
    fn new(name: &'static str, pid: u32) -> Self {
        Self::Pid(name, pid.to_string())
    }

    /// This process: the clients and the in-process DNS and `http-01` responders.
    fn bench() -> Self {
        Self::Pid("bench process", "self".into())
    }

    /// The local PostgreSQL server, all its processes (other users of it included).
    fn postgres() -> Self {
        Self::Command("PostgreSQL", "postgres")
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Pid(name, _) | Self::Command(name, _) => name,
        }
    }

    /// CPU ticks so far, by process id.
    fn ticks(&self) -> BTreeMap<String, u64> {
        match self {
            Self::Pid(_, pid) => BTreeMap::from([(pid.clone(), cpu::process_ticks(pid))]),
            Self::Command(_, command) => cpu::command_ticks(command),
        }
    }

    /// Ticks spent between two [`Probe::ticks`] (a process that started in between counts
    /// fully; one that ended in between is lost).
    fn spent(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> u64 {
        after
            .iter()
            .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
            .sum()
    }
}

/// One measurement's figures.
struct Figures {
    done: usize,
    failures: Vec<String>,
    wall: Duration,
    latencies: Vec<Duration>,
    /// CPU seconds per probe.
    cpu: Vec<(&'static str, f64)>,
    /// Average cores busy with processes other than the probes.
    others_cores: f64,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.done as f64 / self.wall.as_secs_f64()
    }

    /// The `p`-th percentile latency (nearest rank).
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    fn report(&self, label: &str) -> String {
        let per_op = |secs: f64| secs * 1000.0 / self.done.max(1) as f64;
        let cpu = self
            .cpu
            .iter()
            .map(|(name, secs)| format!("{name} {:.1}", per_op(*secs)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut line = format!(
            "{label}: {} in {:.1} s = {:.1} /s, p50 {} ms, p99 {} ms; CPU ms per op: {cpu}; other processes {:.2} cores",
            self.done,
            self.wall.as_secs_f64(),
            self.rate(),
            self.percentile(50.0).as_millis(),
            self.percentile(99.0).as_millis(),
            self.others_cores,
        );
        if !self.failures.is_empty() {
            line.push_str(&format!(
                "\n    FAILED {} times, first: {}",
                self.failures.len(),
                self.failures[0]
            ));
        }
        line
    }
}

/// The longest one operation may take before it counts as failed: a server that stops
/// answering must end the measurement, not hang it.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `count` operations from `concurrency` tasks (each takes the next index until all are
/// taken); `op(worker, index)`. The first failure stops the measurement (the tasks take no new
/// work), so that a broken server is reported at once. Reports the CPU time of `probes` over
/// the same interval.
async fn drive<F, Fut>(concurrency: usize, count: usize, probes: &[Probe], op: F) -> Figures
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let ticks = cpu::ticks_per_second();
    let machine_before = cpu::machine_busy_ticks();
    let before: Vec<_> = probes.iter().map(Probe::ticks).collect();
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (op, next) = (op.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return (latencies, failures);
                    }
                    let began = Instant::now();
                    match tokio::time::timeout(OPERATION_TIMEOUT, op(worker, i)).await {
                        Ok(Ok(())) => latencies.push(began.elapsed()),
                        Ok(Err(e)) => failures.push(e),
                        Err(_) => failures.push(format!(
                            "operation {i} unanswered after {OPERATION_TIMEOUT:?}"
                        )),
                    }
                    if !failures.is_empty() {
                        next.store(count, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    for task in tasks {
        let (l, f) = task.await.unwrap();
        latencies.extend(l);
        failures.extend(f);
    }
    let wall = start.elapsed();
    let after: Vec<_> = probes.iter().map(Probe::ticks).collect();
    let machine = cpu::machine_busy_ticks().saturating_sub(machine_before);
    let spent: Vec<u64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| Probe::spent(b, a))
        .collect();
    let ours: u64 = spent.iter().sum();
    latencies.sort();
    Figures {
        done: latencies.len(),
        failures,
        wall,
        latencies,
        cpu: probes
            .iter()
            .zip(&spent)
            .map(|(p, t)| (p.name(), *t as f64 / ticks))
            .collect(),
        others_cores: machine.saturating_sub(ours) as f64 / ticks / wall.as_secs_f64(),
    }
}

/// Concurrency → the rate of each run, `None` for a run that failed.
type RatesByConcurrency = BTreeMap<usize, Vec<Option<f64>>>;

/// Every measurement of the run, for the summary, by (part, server).
#[derive(Default)]
struct Results {
    rates: BTreeMap<(String, String), RatesByConcurrency>,
    /// Failed operations against e2ei: they fail the bench.
    failures: usize,
    /// Failed operations against pebble, the baseline: reported, but no failure of e2ei's.
    pebble_failures: usize,
}

impl Results {
    fn record(&mut self, part: &str, server: &str, concurrency: usize, figures: &Figures) {
        self.count_failures(server, figures);
        self.rates
            .entry((part.to_owned(), server.to_owned()))
            .or_default()
            .entry(concurrency)
            .or_default()
            .push(figures.failures.is_empty().then(|| figures.rate()));
    }

    fn count_failures(&mut self, server: &str, figures: &Figures) {
        if server == "pebble" {
            self.pebble_failures += figures.failures.len();
        } else {
            self.failures += figures.failures.len();
        }
    }

    fn best(&self, part: &str, server: &str, concurrency: usize) -> Option<f64> {
        self.rates
            .get(&(part.to_owned(), server.to_owned()))?
            .get(&concurrency)?
            .iter()
            .flatten()
            .copied()
            .reduce(f64::max)
    }
}

fn machine_line() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("{cores} cores, load average {}", load.join(" "))
}

// ----- Wire enrollments -------------------------------------------------------------------

/// A device that enrolls again and again, as a logged-in Wire app renews its certificate.
struct WireDevice {
    handle: &'static str,
    device: DeviceId,
    /// The user's Wire access token (valid 15 minutes; fetched anew for each measurement).
    token: SecretString,
}

/// Logs `handle` in at the backend; the password goes in the body only.
async fn access_token(stack: &Stack, handle: &str) -> SecretString {
    let reply: Value = stack
        .http()
        .post(format!("{}/login", stack.backend_url))
        .json(&json!({ "handle": handle, "password": common::PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    SecretString::new(reply["access_token"].as_str().unwrap().to_owned())
}

fn wire_settings(
    directory: &str,
    backend: &str,
    http: &HttpConfig,
    auth: BackendAuth,
    device: Device,
) -> EnrollmentSettings {
    let mut settings = EnrollmentSettings::new(directory, backend, auth, SUITE);
    settings.http = http.clone();
    settings.device = device;
    settings
}

/// Registers every device of both users through a first enrollment each (this also warms up
/// the services and the IdP); returns each device's user and id.
async fn register_devices(stack: &Stack) -> Vec<(&'static str, DeviceId)> {
    let mut registrations = Vec::new();
    for (handle, name) in [("alice_wire", "Alice Smith"), ("bob_wire", "Bob Jones")] {
        let credentials = stack.register_team_owner(handle, name).await;
        for _ in 0..DEVICES_PER_USER {
            let settings = wire_settings(
                &stack.directory_url,
                &stack.backend_url,
                &stack.http_config(),
                BackendAuth::Password(credentials.clone()),
                Device::Register,
            );
            registrations.push(tokio::spawn(async move {
                let login = LoginHintLogin::new(handle, REDIRECT_URI);
                let enrollment = enroll(settings, &login).await.unwrap();
                (handle, enrollment.identity().client_id().device())
            }));
        }
    }
    let mut devices = Vec::new();
    for registration in registrations {
        devices.push(registration.await.unwrap());
    }
    devices
}

/// The devices with fresh access tokens of their users.
async fn with_tokens(stack: &Stack, devices: &[(&'static str, DeviceId)]) -> Vec<WireDevice> {
    let mut tokens = BTreeMap::new();
    for handle in ["alice_wire", "bob_wire"] {
        tokens.insert(handle, access_token(stack, handle).await);
    }
    devices
        .iter()
        .map(|&(handle, device)| WireDevice {
            handle,
            device,
            token: tokens[handle].clone(),
        })
        .collect()
}

async fn wire_part(
    settings: &Settings,
    results: &mut Results,
    idp: &idp::TestIdp,
    database: StackDatabase,
    server: &str,
) {
    let mut options = StackOptions::new(&idp.issuer);
    let postgres = matches!(database, StackDatabase::Postgres(_));
    options.database = database;
    options.acme_extra = RATE_LIMITS_OFF.to_owned();
    let Some(stack) = Stack::start_with(options).await else {
        return;
    };
    let registered = register_devices(&stack).await;
    let mut probes = vec![
        Probe::new("authority", stack.acme[0].pid()),
        Probe::new("backend", stack.backend.pid()),
        Probe::new("IdP", idp.pid()),
        Probe::bench(),
    ];
    if postgres {
        probes.push(Probe::postgres());
    }
    let shared = Arc::new((
        stack.directory_url.clone(),
        stack.backend_url.clone(),
        stack.http_config(),
    ));
    for run in 1..=settings.runs {
        for &concurrency in &settings.concurrency {
            let devices = Arc::new(with_tokens(&stack, &registered).await);
            let shared = shared.clone();
            let figures = drive(
                concurrency,
                settings.enrollments,
                &probes,
                move |worker, _| {
                    let (devices, shared) = (devices.clone(), shared.clone());
                    async move {
                        let device = &devices[worker % devices.len()];
                        let (directory, backend, http) = &*shared;
                        let settings = wire_settings(
                            directory,
                            backend,
                            http,
                            BackendAuth::AccessToken(device.token.clone()),
                            Device::Existing(device.device),
                        );
                        let login = LoginHintLogin::new(device.handle, REDIRECT_URI);
                        enroll(settings, &login)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    }
                },
            )
            .await;
            let name = format!("e2ei {server}");
            print_and_record(results, "wire", &name, concurrency, run, &figures);
            if !figures.failures.is_empty() {
                eprintln!("{}", stack.acme_log());
            }
        }
    }
}

// ----- http-01 issuances ------------------------------------------------------------------

/// What the `http-01` load needs besides the server: the responders both servers use.
struct Responders {
    dns: DnsResponder,
    http: Arc<HttpResponder>,
    /// Numbers the names, so that no two orders of a run share one (no authorization reuse).
    next_name: AtomicU64,
}

/// One certificate: a new order for a fresh name, its `http-01` challenge, finalize with a
/// CSR for a new P-256 key, download. Identical for both servers.
async fn issue(account: &Account, http: &HttpResponder, name: String) -> Result<(), String> {
    let fail = |step: &str, e: instant_acme::Error| format!("{name}: {step}: {e}");
    let identifiers = [Identifier::Dns(name.clone())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| fail("new-order", e))?;
    {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| fail("authorization", e))?;
            if authz.status != AuthorizationStatus::Pending {
                return Err(format!("{name}: authorization {:?}", authz.status));
            }
            let mut challenge = authz
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| format!("{name}: no http-01 challenge"))?;
            http.challenge(&challenge.token, challenge.key_authorization().as_str());
            challenge
                .set_ready()
                .await
                .map_err(|e| fail("challenge", e))?;
        }
    }
    // e2ei validates before it answers the challenge POST; pebble validates afterwards.
    let status = order.refresh().await.map_err(|e| fail("order", e))?.status;
    let status = match status {
        OrderStatus::Pending => order
            .poll_ready(&poll_policy())
            .await
            .map_err(|e| fail("poll order", e))?,
        other => other,
    };
    if status != OrderStatus::Ready {
        return Err(format!("{name}: order {status:?}"));
    }
    let key = Signer::ephemeral(KeyAlgorithm::P256).map_err(|e| e.to_string())?;
    let tbs = CsrToBeSigned::with_extensions(
        build_name(&[NameAttribute {
            oid: oid::COMMON_NAME,
            value: name.clone(),
        }])
        .map_err(|e| e.to_string())?,
        key.public_key(),
        vec![subject_alt_name_dns(std::slice::from_ref(&name), false).map_err(|e| e.to_string())?],
    )
    .map_err(|e| e.to_string())?;
    let signature = key
        .sign(tbs.der())
        .and_then(|s| s.to_x509())
        .map_err(|e| e.to_string())?;
    let csr = tbs
        .into_csr(&signature)
        .map_err(|e| e.to_string())?
        .to_der()
        .map_err(|e| e.to_string())?;
    order
        .finalize_csr(&csr)
        .await
        .map_err(|e| fail("finalize", e))?;
    // e2ei issues before it answers finalize; pebble issues afterwards.
    let chain = match order
        .certificate()
        .await
        .map_err(|e| fail("certificate", e))?
    {
        Some(chain) => chain,
        None => order
            .poll_certificate(&poll_policy())
            .await
            .map_err(|e| fail("poll certificate", e))?,
    };
    if !chain.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!("{name}: no certificate in {chain:?}"));
    }
    Ok(())
}

/// An ACME account builder whose HTTPS client trusts `tls_ca` and sends every request at once
/// (TCP_NODELAY). instant-acme's own client (`Account::builder_with_root`) leaves Nagle's
/// algorithm on: each request then waits ~40 ms for a delayed ACK on loopback, which made every
/// issuance take ~270 ms against either server whatever their speed.
fn account_builder(tls_ca: &Path) -> instant_acme::AccountBuilder {
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates_from_pem_or_der(&std::fs::read(tls_ca).unwrap()).unwrap() {
        roots
            .add(rustls::pki_types::CertificateDer::from(
                certificate.to_der().unwrap(),
            ))
            .unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .wrap_connector(tcp);
    let client: Client<_, instant_acme::BodyWrapper<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build(https);
    Account::builder_with_http(Box::new(client))
}

/// The `http-01` load's clients at one server: one account per worker.
struct Http01Clients {
    accounts: Arc<Vec<Account>>,
    responders: Arc<Responders>,
    probes: Vec<Probe>,
}

impl Http01Clients {
    /// Opens `workers` accounts at `directory` (trusting `tls_ca` for HTTPS).
    async fn open(
        responders: &Arc<Responders>,
        directory: &str,
        tls_ca: &Path,
        workers: usize,
        probes: Vec<Probe>,
    ) -> Self {
        let mut accounts = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (account, _) = account_builder(tls_ca)
                .create(
                    &NewAccount {
                        contact: &["mailto:load@wire.example.com"],
                        terms_of_service_agreed: true,
                        only_return_existing: false,
                    },
                    directory.to_owned(),
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("new account at {directory}: {e}"));
            accounts.push(account);
        }
        Self {
            accounts: Arc::new(accounts),
            responders: responders.clone(),
            probes,
        }
    }

    /// `count` issuances, `concurrency` in flight, each for a name never used before.
    async fn measure(&self, concurrency: usize, count: usize) -> Figures {
        let (accounts, responders) = (self.accounts.clone(), self.responders.clone());
        drive(concurrency, count, &self.probes, move |worker, _| {
            let (accounts, responders) = (accounts.clone(), responders.clone());
            async move {
                let n = responders.next_name.fetch_add(1, Ordering::Relaxed);
                let name = format!("n{n}.{LOAD_SUFFIX}");
                issue(&accounts[worker], &responders.http, name).await
            }
        })
        .await
    }

    /// A few issuances with every worker, not counted: connections, caches, first allocations.
    async fn warm_up(&self) -> Figures {
        let workers = self.accounts.len();
        self.measure(workers, 2 * workers).await
    }
}

fn print_and_record(
    results: &mut Results,
    part: &str,
    server: &str,
    concurrency: usize,
    run: usize,
    figures: &Figures,
) {
    let what = if part == "wire" {
        "Wire enrollments"
    } else {
        "http-01 issuances"
    };
    println!(
        "  {}",
        figures.report(&format!(
            "{what}, {server}, {concurrency} in flight, run {run}"
        ))
    );
    results.record(part, server, concurrency, figures);
}

async fn e2ei_http01_part(
    settings: &Settings,
    results: &mut Results,
    responders: &Arc<Responders>,
    idp_issuer: &str,
    database: StackDatabase,
    server: &str,
) {
    let mut options = StackOptions::new(idp_issuer);
    let postgres = matches!(database, StackDatabase::Postgres(_));
    options.database = database;
    options.acme_extra = RATE_LIMITS_OFF.to_owned();
    options.standard = Some(StandardOptions {
        allowed_domains: vec![format!(".{LOAD_SUFFIX}")],
        http01_port: responders.http.port,
        dns_resolver: responders.dns.addr,
    });
    let Some(stack) = Stack::start_with(options).await else {
        return;
    };
    let server = format!("e2ei {server}");
    let clients = Http01Clients::open(
        responders,
        &stack.standard_directory_url(),
        &stack.tls_ca_path(),
        settings.workers(),
        if postgres {
            vec![
                Probe::new("authority", stack.acme[0].pid()),
                Probe::bench(),
                Probe::postgres(),
            ]
        } else {
            vec![Probe::new("authority", stack.acme[0].pid()), Probe::bench()]
        },
    )
    .await;
    let warm_up = clients.warm_up().await;
    if !warm_up.failures.is_empty() {
        println!("  {}", warm_up.report(&format!("{server} warm-up")));
        results.count_failures(&server, &warm_up);
        eprintln!("{}", stack.acme_log());
        return;
    }
    for run in 1..=settings.runs {
        for &concurrency in &settings.concurrency {
            let figures = clients.measure(concurrency, settings.issuances).await;
            print_and_record(results, "http01", &server, concurrency, run, &figures);
            if !figures.failures.is_empty() {
                eprintln!("{}", stack.acme_log());
            }
        }
    }
}

/// The same load against pebble. pebble 2.4.0 can stop answering under concurrent orders
/// (its handlers wait on its in-memory store's lock for good); a measurement where it did
/// counts as failed, its goroutine dump is kept, and the next measurement starts a new pebble.
async fn pebble_part(settings: &Settings, results: &mut Results, responders: &Arc<Responders>) {
    let mut current: Option<(Pebble, Http01Clients)> = None;
    for run in 1..=settings.runs {
        for &concurrency in &settings.concurrency {
            if current.is_none() {
                let Some(mut pebble) =
                    Pebble::start(responders.dns.addr, responders.http.port).await
                else {
                    return;
                };
                let clients = Http01Clients::open(
                    responders,
                    &pebble.directory,
                    &pebble.tls_ca(),
                    settings.workers(),
                    vec![Probe::new("pebble", pebble.child.id()), Probe::bench()],
                )
                .await;
                let warm_up = clients.warm_up().await;
                if !warm_up.failures.is_empty() {
                    println!("  {}", warm_up.report("pebble warm-up"));
                    results.count_failures("pebble", &warm_up);
                    println!("    pebble stopped answering; {}", pebble.stop_with_dump());
                    continue;
                }
                current = Some((pebble, clients));
            }
            let Some((pebble, clients)) = &mut current else {
                continue;
            };
            let figures = clients.measure(concurrency, settings.issuances).await;
            print_and_record(results, "http01", "pebble", concurrency, run, &figures);
            if !figures.failures.is_empty() {
                println!("    pebble stopped answering; {}", pebble.stop_with_dump());
                current = None;
            }
        }
    }
}

/// pebble (Debian's 2.4.0) with its listener certificate from a private TLS CA, validating
/// `http-01` on the responder's port and resolving through the DNS responder.
struct Pebble {
    child: Child,
    dir: tempfile::TempDir,
    directory: String,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pebble {
    async fn start(dns: SocketAddr, http01_port: u16) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        common::create_tls(dir.path())?;
        let port = free_port();
        let config = json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{}", free_port()),
            "certificate": dir.path().join("tls/server.pem"),
            "privateKey": dir.path().join("tls/server.key"),
            "httpPort": http01_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("pebble.log")).unwrap();
        let child = match Command::new("pebble")
            .arg("-config")
            .arg(dir.path().join("pebble.json"))
            .args(["-dnsserver", &dns.to_string()])
            // Full speed, no deliberately rejected nonces, no authorization reuse.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                common::missing(&format!("pebble ({e}; Debian package `pebble`)"));
                return None;
            }
        };
        let mut pebble = Self {
            child,
            directory: format!("https://127.0.0.1:{port}/dir"),
            dir,
        };
        let http = HttpConfig::new()
            .with_root_certificates_pem(&std::fs::read(pebble.tls_ca()).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http
            .get(&pebble.directory)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            let exited = pebble.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "pebble did not start ({exited:?}): {}",
                std::fs::read_to_string(pebble.dir.path().join("pebble.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Some(pebble)
    }

    fn tls_ca(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    /// Stops pebble with SIGQUIT, on which Go prints every goroutine's stack, and keeps its log
    /// (with that dump) outside the temporary directory; says where.
    fn stop_with_dump(&mut self) -> String {
        let quit = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while quit.is_ok() && Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let kept = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "pebble-stuck-{}.log",
            time::OffsetDateTime::now_utc().unix_timestamp()
        ));
        match std::fs::copy(self.dir.path().join("pebble.log"), &kept) {
            Ok(_) => format!("its log and goroutine dump: {}", kept.display()),
            Err(e) => format!("its log could not be kept: {e}"),
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The schema a `postgres_schema()` URL selects, dropped after the load (thousands of rows).
fn drop_postgres_schema(url: &str) {
    let Some((base, options)) = url.split_once("?options=") else {
        return;
    };
    let Some(schema) = options.split("search_path%3D").nth(1) else {
        return;
    };
    let _ = Command::new("psql")
        .arg(base)
        .args(["-q", "-c", &format!("DROP SCHEMA {schema} CASCADE")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

// ----- the run ----------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: run only under bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let failures = runtime.block_on(run(settings));
    if failures > 0 {
        eprintln!("{failures} operations against e2ei failed");
        std::process::exit(1);
    }
}

async fn run(settings: Settings) -> usize {
    let binaries = match std::env::var(common::ENV_SERVICE_BIN_DIR) {
        Ok(dir) => dir,
        Err(_) => "cargo test --workspace --no-run (debug builds; scripts/bench-load.sh uses release builds)".into(),
    };
    println!("load generator: {}", machine_line());
    println!("  service binaries: {binaries}");
    println!(
        "  {} Wire enrollments ({SUITE:?}) and {} http-01 issuances per measurement, concurrency {:?}, {} runs each",
        settings.enrollments, settings.issuances, settings.concurrency, settings.runs
    );
    let mut results = Results::default();
    let idp = if settings.part("wire") {
        idp::shared()
    } else {
        None
    };
    let responders = Arc::new(Responders {
        dns: DnsResponder::start().await,
        http: Arc::new(HttpResponder::start().await),
        next_name: AtomicU64::new(0),
    });

    for database in &settings.databases {
        let (stack_database, server, schema) = match database.as_str() {
            "sqlite" => (StackDatabase::Sqlite, "SQLite", None),
            "postgres" => {
                let Some(url) = common::postgres_schema() else {
                    continue;
                };
                (
                    StackDatabase::Postgres(url.clone()),
                    "PostgreSQL",
                    Some(url),
                )
            }
            other => panic!("E2EI_LOAD_DATABASES: unknown database {other}"),
        };
        if let Some(idp) = idp {
            println!("Wire enrollments, e2ei on {server} ({})", machine_line());
            wire_part(&settings, &mut results, idp, stack_database.clone(), server).await;
        }
        if settings.part("http01") {
            println!("http-01 issuances, e2ei on {server} ({})", machine_line());
            // The Wire provisioner is configured but unused here; its IdP is not contacted.
            let issuer = idp.map_or("https://idp.invalid", |i| i.issuer.as_str());
            e2ei_http01_part(
                &settings,
                &mut results,
                &responders,
                issuer,
                stack_database,
                server,
            )
            .await;
        }
        if let Some(url) = schema {
            drop_postgres_schema(&url);
        }
    }
    if settings.part("pebble") {
        println!("http-01 issuances, pebble ({})", machine_line());
        pebble_part(&settings, &mut results, &responders).await;
    }
    summary(&settings, &results);
    if results.pebble_failures > 0 {
        println!(
            "{} issuances at pebble failed (it stopped answering; see above)",
            results.pebble_failures
        );
    }
    results.failures
}

fn summary(settings: &Settings, results: &Results) {
    println!("summary (operations per second, every run):");
    for ((part, server), by_concurrency) in &results.rates {
        let runs = by_concurrency
            .iter()
            .map(|(c, rates)| {
                let rates: Vec<String> = rates
                    .iter()
                    .map(|r| r.map_or("failed".to_owned(), |r| format!("{r:.1}")))
                    .collect();
                format!("{c} in flight: {}", rates.join(" / "))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let part = if part == "wire" {
            "Wire enrollments"
        } else {
            "http-01 issuances"
        };
        println!("  {part}, {server}: {runs}");
    }
    for server in ["e2ei SQLite", "e2ei PostgreSQL"] {
        for &c in &settings.concurrency {
            if let (Some(ours), Some(pebble)) = (
                results.best("http01", server, c),
                results.best("http01", "pebble", c),
            ) {
                println!(
                    "  ratio {server} / pebble, http-01, {c} in flight (best runs): {:.2}",
                    ours / pebble
                );
            }
        }
    }
}
