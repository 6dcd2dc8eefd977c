//! The whole stack as separate processes over real sockets: the `e2ei-backend` and
//! `e2ei-acme-server` binaries on SQLite, both serving HTTPS with a certificate from a private
//! TLS CA, an authority PKI (root + name-constrained intermediate) built with e2ei-core as the
//! ceremonies build it, and the real test IdP (`tests/idp`, oidc-provider on Node).
//!
//! Missing tools (node, the IdP's packages, openssl, pkilint) skip a test loudly; under `CI` they
//! fail it.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

pub mod idp;
pub mod tools;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use e2ei_client::{Credentials, HttpConfig, Login};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::oid;
use e2ei_core::x509::{
    CertificateParts, NameAttribute, ToBeSigned, authority_key_identifier, basic_constraints,
    build_name, certificate_to_pem, key_usage, name_constraints, random_serial,
    subject_key_identifier, validity,
};
use e2ei_signer::{GenerateOptions, KeyUri, SecretString, Signer};
use serde_json::{Value, json};
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsages;

/// The backend's federation domain; the IdP's users are `wireapp://%40{login}@` this.
pub const DOMAIN: &str = "wire.example.com";

/// The test users' password (sent in request bodies only, never in argv).
pub const PASSWORD: &str = "correct horse battery staple";

/// Whether this run is CI, where missing tools fail instead of skipping.
pub fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Reports a missing tool: fails under CI, otherwise says loudly that the test is skipped.
pub fn missing(what: &str) {
    assert!(!ci(), "{what} is required under CI");
    eprintln!("SKIPPED: {what} is not available");
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The two service binaries, built from this workspace.
pub struct Binaries {
    pub backend: PathBuf,
    pub acme: PathBuf,
    /// The ceremony CLI (`e2ei-ca revoke`).
    pub ca: PathBuf,
    /// The client CLI.
    pub client: PathBuf,
}

/// Where [`binaries`] takes the binaries from instead of asking cargo: the load generator
/// (`benches/load.rs`, run by `scripts/bench-load.sh`) points it at release builds, which
/// `cargo test` never makes. A binary missing there (the load generator needs only the two
/// services, not the CLIs) keeps a path that does not exist, so only a run that starts it fails.
pub const ENV_SERVICE_BIN_DIR: &str = "E2EI_SERVICE_BIN_DIR";

/// The `e2ei-backend` and `e2ei-acme-server` binaries exactly as `cargo test --workspace`
/// builds them (or from [`ENV_SERVICE_BIN_DIR`] when set), hard-linked into a directory of this
/// test run.
///
/// Cargo cannot hand one package's binaries to another's tests, so this asks cargo itself,
/// with the same command CI runs: inside `cargo test --workspace` it is a no-op, and building
/// the binaries any other way (`cargo build -p …`) would resolve other dependency features
/// (dev-dependencies are unified only for test builds) and compile a second copy of much of the
/// workspace. The links keep what was built here: the shared target directory's `debug/`
/// copies may be replaced by other checkouts' builds at any time.
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let from_dir = std::env::var_os(ENV_SERVICE_BIN_DIR).map(PathBuf::from);
        let found = match &from_dir {
            Some(dir) => ["e2ei-backend", "e2ei-acme-server", "e2ei-ca", "e2ei-client"]
                .into_iter()
                .map(|name| (name.to_owned(), dir.join(name)))
                .collect(),
            None => binaries_from_cargo(),
        };
        let runs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-bin");
        clean_dead_runs(&runs);
        let dir = runs.join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let keep = |name: &str| {
            let built = found
                .get(name)
                .unwrap_or_else(|| panic!("cargo built no {name}"));
            let kept = dir.join(name);
            let _ = std::fs::remove_file(&kept);
            if std::fs::hard_link(built, &kept).is_err() {
                if let Err(e) = std::fs::copy(built, &kept) {
                    assert!(
                        from_dir.is_some() && !built.exists(),
                        "{}: {e}",
                        built.display()
                    );
                }
            }
            kept
        };
        Binaries {
            backend: keep("e2ei-backend"),
            acme: keep("e2ei-acme-server"),
            ca: keep("e2ei-ca"),
            client: keep("e2ei-client"),
        }
    })
}

/// Asks `cargo test --workspace --no-run` for the service binaries; returns name → path.
fn binaries_from_cargo() -> std::collections::HashMap<String, PathBuf> {
    let out = Command::new(env!("CARGO"))
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--quiet",
            "--message-format=json",
            "--manifest-path",
        ])
        .arg(workspace_root().join("Cargo.toml"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo");
    assert!(out.status.success(), "building the service binaries failed");
    let mut found = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let is_bin = message["target"]["kind"] == json!(["bin"])
            && message["profile"]["test"] == json!(false);
        if let (true, Some(name), Some(exe)) = (
            is_bin,
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            found.insert(name.to_owned(), PathBuf::from(exe));
        }
    }
    found
}

/// Removes the binary directories of earlier test runs whose process is gone.
fn clean_dead_runs(runs: &Path) {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !Path::new("/proc").join(&pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `program --config config` in `path` listening on `port` (through the `env`
/// override), its output in `log`.
fn spawn_service(
    path: &Path,
    program: &Path,
    config: &str,
    env: &str,
    port: u16,
    log: &str,
) -> Process {
    let log = path.join(log);
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(program)
        .args(["--config", config])
        .current_dir(path)
        .env(env, format!("127.0.0.1:{port}"))
        .env("E2EI_LOG", "warn")
        .env("NO_COLOR", "1")
        // tracing writes to stdout; both streams go to the log shown on failure.
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    Process { child, log }
}

/// A service process, killed when dropped.
pub struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    /// The process id (for reading its CPU time under `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The service's log so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(dir: &Path, program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The authority's PKI for [`DOMAIN`]: a P-384 root and a P-256 intermediate whose name
/// constraints permit URIs and DNS names under the domain (§2.5), key in a file. Both outlive
/// the 90-day leaves clients ask for.
pub struct Pki {
    /// The root.
    pub root: Certificate,
    /// The intermediate the authority issues with.
    pub intermediate: Certificate,
    /// The same intermediate (subject, key, key identifiers) without name constraints, for
    /// OpenSSL versions that cannot match `wireapp://` URIs against URI constraints (see
    /// `openssl-divergences.txt`).
    pub unconstrained_twin: Certificate,
}

impl Pki {
    /// Builds the PKI and writes `pki/root.pem`, `pki/intermediate.pem`, `pki/intermediate.key`
    /// and `pki/intermediate-unconstrained.pem`.
    pub fn create(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        let key_uri: KeyUri = format!("file:{}", dir.join("pki/intermediate.key").display())
            .parse()
            .unwrap();
        let intermediate_key =
            Signer::generate(&key_uri, KeyAlgorithm::P256, &GenerateOptions::default()).unwrap();
        let root_key = Signer::ephemeral(KeyAlgorithm::P384).unwrap();
        let name = |cn: &str| {
            build_name(&[
                NameAttribute {
                    oid: oid::ORGANIZATION,
                    value: DOMAIN.into(),
                },
                NameAttribute {
                    oid: oid::COMMON_NAME,
                    value: cn.into(),
                },
            ])
            .unwrap()
        };
        let sign = |parts: CertificateParts, key: &Signer| {
            let tbs = ToBeSigned::new(parts).unwrap();
            let signature = key.sign(tbs.der()).unwrap().to_x509().unwrap();
            tbs.into_certificate(&signature).unwrap()
        };
        let now = time::OffsetDateTime::now_utc();
        let root = sign(
            CertificateParts {
                serial: random_serial().unwrap(),
                issuer: name("E2E Root CA"),
                subject: name("E2E Root CA"),
                validity: validity(
                    now - time::Duration::hours(1),
                    now + time::Duration::days(3650),
                )
                .unwrap(),
                subject_public_key: root_key.public_key().clone(),
                issuer_algorithm: KeyAlgorithm::P384,
                extensions: vec![
                    basic_constraints(true, Some(1)).unwrap(),
                    key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign).unwrap(),
                    subject_key_identifier(root_key.public_key()).unwrap(),
                ],
            },
            &root_key,
        );
        let intermediate = |constrained: bool| {
            let mut extensions = vec![
                basic_constraints(true, Some(0)).unwrap(),
                key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign).unwrap(),
                subject_key_identifier(intermediate_key.public_key()).unwrap(),
                authority_key_identifier(&root_key.public_key().key_identifier()).unwrap(),
            ];
            if constrained {
                extensions.push(name_constraints(&[DOMAIN.into()], &[DOMAIN.into()]).unwrap());
            }
            sign(
                CertificateParts {
                    serial: random_serial().unwrap(),
                    issuer: name("E2E Root CA"),
                    subject: name("E2E Intermediate CA"),
                    validity: validity(
                        now - time::Duration::hours(1),
                        now + time::Duration::days(365),
                    )
                    .unwrap(),
                    subject_public_key: intermediate_key.public_key().clone(),
                    issuer_algorithm: KeyAlgorithm::P384,
                    extensions,
                },
                &root_key,
            )
        };
        let pki = Self {
            root,
            intermediate: intermediate(true),
            unconstrained_twin: intermediate(false),
        };
        for (file, cert) in [
            ("pki/root.pem", &pki.root),
            ("pki/intermediate.pem", &pki.intermediate),
            (
                "pki/intermediate-unconstrained.pem",
                &pki.unconstrained_twin,
            ),
        ] {
            std::fs::write(dir.join(file), certificate_to_pem(cert).unwrap()).unwrap();
        }
        pki
    }
}

/// A private TLS CA and a certificate for `127.0.0.1` / `localhost` signed by it, made with
/// OpenSSL: `tls/ca.pem`, `tls/server.pem`, `tls/server.key`. `None` when openssl is missing.
pub fn create_tls(dir: &Path) -> Option<Vec<u8>> {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(&tls)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
    };
    let ca = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=e2ei e2e TLS CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    let Ok(ca) = ca else {
        missing("openssl");
        return None;
    };
    assert!(
        ca.status.success(),
        "{}",
        String::from_utf8_lossy(&ca.stderr)
    );
    std::fs::write(
        tls.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    for args in [
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ][..],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ][..],
    ] {
        let out = openssl(args).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(std::fs::read(tls.join("ca.pem")).unwrap())
}

/// A running stack: backend and authority processes over HTTPS, their PKI, and the IdP they
/// trust.
pub struct Stack {
    /// Everything the stack writes.
    pub dir: tempfile::TempDir,
    /// The backend's base URL.
    pub backend_url: String,
    /// The authority's base URL (the proxy's with replicas).
    pub acme_url: String,
    /// The Wire provisioner's directory URL.
    pub directory_url: String,
    /// The authority's PKI (its root is served at `/roots.pem`).
    pub pki: Pki,
    /// The private TLS CA both servers' certificates come from.
    pub tls_ca_pem: Vec<u8>,
    /// The backend process.
    pub backend: Process,
    /// The authority processes (replicas), each on its own port.
    pub acme: Vec<Process>,
    acme_ports: Vec<u16>,
}

/// Where the authority keeps its state.
#[derive(Clone, Debug)]
pub enum StackDatabase {
    /// A SQLite file in the stack's directory (the embedded default).
    Sqlite,
    /// A PostgreSQL URL (e.g. one schema of the test database).
    Postgres(String),
}

/// How a stack is set up.
#[derive(Clone, Debug)]
pub struct StackOptions {
    /// The IdP the Wire provisioner trusts.
    pub idp_issuer: String,
    /// The authority's database.
    pub database: StackDatabase,
    /// How many authority processes share the database; with more than one, clients reach them
    /// through a round-robin TCP proxy (the next upstream for each connection).
    pub acme_replicas: usize,
    /// TOML added to the top level of `acme.toml` (before its tables), e.g. rate limits.
    pub acme_extra: String,
    /// A second, standard provisioner ([`STANDARD_PROVISIONER`]) for DNS names over `http-01`.
    pub standard: Option<StandardOptions>,
}

/// The name of the standard provisioner [`StackOptions::standard`] adds.
pub const STANDARD_PROVISIONER: &str = "std";

/// A standard provisioner validating `http-01` on a loopback port, resolving names through a
/// local DNS responder, so that validation needs no privileges and no real DNS.
#[derive(Clone, Debug)]
pub struct StandardOptions {
    /// Its name policy (`[provisioners.standard] allowed_domains`).
    pub allowed_domains: Vec<String>,
    /// The port the authority fetches `http-01` resources from.
    pub http01_port: u16,
    /// The DNS responder the authority asks.
    pub dns_resolver: std::net::SocketAddr,
}

impl StackOptions {
    /// One authority on SQLite.
    pub fn new(idp_issuer: &str) -> Self {
        Self {
            idp_issuer: idp_issuer.to_owned(),
            database: StackDatabase::Sqlite,
            acme_replicas: 1,
            acme_extra: String::new(),
            standard: None,
        }
    }
}

/// A fresh schema of the test PostgreSQL database, as a URL whose connections use it; `None`
/// (skipped loudly, a failure under CI) when PostgreSQL cannot be reached.
pub fn postgres_schema() -> Option<String> {
    let base = std::env::var("E2EI_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!(
        "e2ei_e2e_{}_{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
    );
    let created = Command::new("psql")
        .arg(&base)
        .args(["-q", "-c", &format!("CREATE SCHEMA {schema}")])
        .output();
    match created {
        Ok(out) if out.status.success() => {}
        other => {
            missing(&format!("PostgreSQL at {base} ({other:?})"));
            return None;
        }
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// Forwards each connection to the next of `upstreams`, so consecutive connections alternate
/// between the replicas.
async fn round_robin_proxy(listener: tokio::net::TcpListener, upstreams: Vec<u16>) {
    let mut next = 0usize;
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let port = upstreams[next % upstreams.len()];
        next += 1;
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

impl Stack {
    /// Starts the backend and the authority trusting the backend's DPoP keys and `idp_issuer`.
    /// `None` (skipped) when openssl is missing.
    pub async fn start(idp_issuer: &str) -> Option<Self> {
        Self::start_with(StackOptions::new(idp_issuer)).await
    }

    /// Starts the stack `options` describe.
    pub async fn start_with(options: StackOptions) -> Option<Self> {
        Self::start_with_files(options, &[]).await
    }

    /// As [`Self::start_with`], first writing `files` (name, contents; mode 0600) into the
    /// stack's directory, e.g. secrets its configuration reads.
    pub async fn start_with_files(options: StackOptions, files: &[(&str, &str)]) -> Option<Self> {
        let idp_issuer = options.idp_issuer.as_str();
        let bins = binaries();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        for (name, contents) in files {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path.join(name))
                .unwrap();
            file.write_all(contents.as_bytes()).unwrap();
        }
        let tls_ca_pem = create_tls(path)?;
        let pki = Pki::create(path);

        // With replicas, clients see the proxy's port.
        let acme_ports: Vec<u16> = (0..options.acme_replicas.max(1))
            .map(|_| free_port())
            .collect();
        let public_port = if acme_ports.len() > 1 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(round_robin_proxy(listener, acme_ports.clone()));
            port
        } else {
            acme_ports[0]
        };
        let acme_base = format!("https://127.0.0.1:{public_port}");
        let backend_port = free_port();
        std::fs::write(
            path.join("backend.toml"),
            format!(
                r#"domain = "{DOMAIN}"
listen = "127.0.0.1:1"
database = "sqlite://backend.db"

[tls]
certificate = "tls/server.pem"
key = "tls/server.key"

[tokens]
keys = ["file:keys/zauth-1.key"]

[[dpop.keys]]
alg = "ed25519"
uri = "file:keys/dpop-ed25519.key"

[[dpop.keys]]
alg = "p256"
uri = "file:keys/dpop-p256.key"

[[dpop.keys]]
alg = "p384"
uri = "file:keys/dpop-p384.key"

[[dpop.keys]]
alg = "p521"
uri = "file:keys/dpop-p521.key"

[crl_proxy]
allowed_hosts = ["127.0.0.1:{public_port}"]
trust_anchors = "tls/ca.pem"
# No memory copy: the tests look for a revocation right after it happens.
cache_seconds = 0

[scim]
public_url = "https://127.0.0.1:{backend_port}/scim/v2"
{revocation}"#,
                // With an admin token for the authority, SCIM deprovisioning revokes through it.
                revocation = if files.iter().any(|(name, _)| *name == "admin.token") {
                    format!(
                        "\n[revocation]\nauthority = \"{acme_base}\"\ntoken = \"file:{}\"\ntrust_anchors = \"tls/ca.pem\"\n",
                        path.join("admin.token").display()
                    )
                } else {
                    String::new()
                },
            ),
        )
        .unwrap();
        run(
            path,
            &bins.backend,
            &["--config", "backend.toml", "generate-keys"],
        );
        // The authority trusts exactly the public keys the backend publishes (§15.9).
        let published: Value = serde_json::from_str(&run(
            path,
            &bins.backend,
            &["--config", "backend.toml", "dpop-keys"],
        ))
        .unwrap();
        let mut key_files = Vec::new();
        for key in published["keys"].as_array().unwrap() {
            let file = format!("keys/dpop-{}.pub.pem", key["alg"].as_str().unwrap());
            std::fs::write(path.join(&file), key["pem"].as_str().unwrap()).unwrap();
            key_files.push(format!("{file:?}"));
        }
        assert_eq!(key_files.len(), 4);

        let database = match &options.database {
            StackDatabase::Sqlite => "sqlite://acme.db".to_owned(),
            StackDatabase::Postgres(url) => url.clone(),
        };
        let standard = match &options.standard {
            None => String::new(),
            Some(standard) => format!(
                r#"
[[provisioners]]
name = "{STANDARD_PROVISIONER}"
[provisioners.standard]
allowed_domains = {domains:?}
challenges = ["http-01"]
http01_port = {port}
dns_resolver = "{dns}"
"#,
                domains = standard.allowed_domains,
                port = standard.http01_port,
                dns = standard.dns_resolver,
            ),
        };
        std::fs::write(
            path.join("acme.toml"),
            format!(
                r#"base_url = "{acme_base}"
listen = "127.0.0.1:1"
database = "{database}"
roots = "pki/root.pem"
{extra}

[tls]
certificate = "tls/server.pem"
key = "tls/server.key"

[issuer]
key = "file:pki/intermediate.key"
certificate = "pki/intermediate.pem"
crl_url = "{acme_base}/crl"

[[provisioners]]
name = "wire"
[provisioners.wire]
dpop_target = "https://{{domain}}/clients/{{device_id}}/access-token"
oidc_issuer = "{idp_issuer}"
backend_keys = [{keys}]
{standard}"#,
                extra = options.acme_extra,
                keys = key_files.join(", ")
            ),
        )
        .unwrap();

        let backend = spawn_service(
            path,
            &bins.backend,
            "backend.toml",
            "E2EI_BACKEND_LISTEN",
            backend_port,
            "backend.log",
        );
        let acme = acme_ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                spawn_service(
                    path,
                    &bins.acme,
                    "acme.toml",
                    "E2EI_ACME_LISTEN",
                    *port,
                    &format!("acme-{i}.log"),
                )
            })
            .collect();
        let stack = Self {
            backend_url: format!("https://127.0.0.1:{backend_port}"),
            directory_url: format!("{acme_base}/acme/wire/directory"),
            acme_url: acme_base,
            pki,
            tls_ca_pem,
            backend,
            acme,
            acme_ports,
            dir,
        };
        stack.wait_until_healthy().await;
        Some(stack)
    }

    /// The authority processes' logs, for failure messages.
    pub fn acme_log(&self) -> String {
        self.acme
            .iter()
            .enumerate()
            .map(|(i, p)| format!("--- authority {i}\n{}", p.log()))
            .collect()
    }

    /// Kills authority `i` with SIGKILL (no chance to finish anything) and reaps it.
    pub fn kill_acme(&mut self, i: usize) {
        let _ = self.acme[i].child.kill();
        let _ = self.acme[i].child.wait();
    }

    /// Starts authority `i` again on its port and database; waits until it answers.
    pub async fn restart_acme(&mut self, i: usize) {
        self.acme[i] = spawn_service(
            self.dir.path(),
            &binaries().acme,
            "acme.toml",
            "E2EI_ACME_LISTEN",
            self.acme_ports[i],
            &format!("acme-{i}-restarted.log"),
        );
        self.wait_until_healthy().await;
    }

    /// Authority `i`'s own URL (not through the proxy).
    pub fn acme_replica_url(&self, i: usize) -> String {
        format!("https://127.0.0.1:{}", self.acme_ports[i])
    }

    /// The standard provisioner's directory URL (stacks with [`StackOptions::standard`]).
    pub fn standard_directory_url(&self) -> String {
        format!("{}/acme/{STANDARD_PROVISIONER}/directory", self.acme_url)
    }

    /// The private TLS CA's certificate file, for clients that take a path.
    pub fn tls_ca_path(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    /// The authority's SQLite database file (SQLite stacks).
    pub fn acme_sqlite(&self) -> PathBuf {
        self.dir.path().join("acme.db")
    }

    /// The client's HTTP settings: the private TLS CA trusted.
    pub fn http_config(&self) -> HttpConfig {
        HttpConfig::new()
            .with_root_certificates_pem(&self.tls_ca_pem)
            .unwrap()
    }

    /// An HTTP client trusting the private TLS CA.
    pub fn http(&self) -> reqwest::Client {
        self.http_config().build().unwrap()
    }

    async fn wait_until_healthy(&self) {
        let http = self.http();
        let mut services = vec![(self.backend_url.clone(), &self.backend)];
        for (port, process) in self.acme_ports.iter().zip(&self.acme) {
            services.push((format!("https://127.0.0.1:{port}"), process));
        }
        for (base, process) in services {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                assert!(
                    Instant::now() < deadline,
                    "{base} did not start: {}",
                    process.log()
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }

    /// Registers `handle` named `name` as the owner of a new team; returns its credentials.
    pub async fn register_team_owner(&self, handle: &str, name: &str) -> Credentials {
        let reply = self
            .http()
            .post(format!("{}/register", self.backend_url))
            .json(&json!({
                "name": name, "email": format!("{handle}@{DOMAIN}"), "password": PASSWORD,
                "handle": handle, "team": { "name": "E2E" },
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap());
        Credentials {
            login: Login::Handle(handle.to_owned()),
            password: SecretString::new(PASSWORD.to_owned()),
        }
    }
}

/// Runs the `e2ei-client` binary with `--json` in the stack's directory (password from the
/// environment, never argv): (success, the last stdout line as JSON, all output).
pub fn client_cli(stack: &Stack, args: &[&str]) -> (bool, Value, String) {
    let out = std::process::Command::new(&binaries().client)
        .arg("--json")
        .args(args)
        .current_dir(stack.dir.path())
        .env("E2EI_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    (
        out.status.success(),
        serde_json::from_str(&last).unwrap_or(Value::Null),
        format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    )
}
