//! `e2ei-stack up`: set up the data directory on first run, then run every service in this
//! process (one tokio runtime) until shutdown.
//!
//! The authority and the backend are configured by the same TOML files their own binaries read
//! (`DIR/acme.toml`, `DIR/backend.toml`, rewritten on every start with the current ports), so
//! what the stack runs is exactly what a deployment would configure, and a developer can read
//! it. Keys, certificates, databases and secrets are made once and reused.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use base64::Engine;
use e2ei_backend::users::{NewUser, create_team_with_owner, find_user_by_login};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::SystemClock;
use e2ei_service::{generate_missing_keys, open_key};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::contract::{AcmeJson, AdminJson, BackendJson, IdpJson, ScimJson, StackJson};
use crate::dns;
use crate::idp::{self, DevIdp};
use crate::pki::{self, PkiFiles};

/// The dev federation domain: handles are `wireapp://%40{handle}@wire.e2ei.test`, and the
/// intermediate is name-constrained to it. `.test` is reserved (RFC 6761 §6.2): it never
/// resolves on the Internet.
pub const DEFAULT_DOMAIN: &str = "wire.e2ei.test";

/// The dev admin's handle (and the dev IdP's default login).
pub const ADMIN_HANDLE: &str = "dev_admin";

/// Ports and places. Port 0 takes any free port (tests).
#[derive(Debug, Clone)]
pub struct Options {
    /// Where everything is kept.
    pub data_dir: PathBuf,
    /// The federation domain (used on first run; later runs keep the PKI made for it).
    pub domain: String,
    /// The authority (HTTPS).
    pub acme_port: u16,
    /// The backend (HTTPS).
    pub backend_port: u16,
    /// The dev IdP (plain HTTP on loopback).
    pub idp_port: u16,
    /// The dev DNS responder (UDP).
    pub dns_port: u16,
    /// The DNS responder's control endpoint (plain HTTP on loopback).
    pub dns_control_port: u16,
    /// Where `http-01` validation connects.
    pub http01_port: u16,
    /// Where `tls-alpn-01` validation connects.
    pub tlsalpn01_port: u16,
    /// How often the CRL publisher looks for work besides being woken by revocations.
    pub crl_poll: Duration,
}

impl Options {
    /// The defaults from `port_base`: authority `base`, backend `base+1`, IdP `base+2`, DNS
    /// `base+3` (UDP), DNS control `base+4`; `http-01` on 5002, `tls-alpn-01` on 5001.
    pub fn new(data_dir: PathBuf, port_base: u16) -> Self {
        let at = |offset: u16| {
            if port_base == 0 {
                0
            } else {
                port_base.saturating_add(offset)
            }
        };
        Self {
            data_dir,
            domain: DEFAULT_DOMAIN.into(),
            acme_port: at(0),
            backend_port: at(1),
            idp_port: at(2),
            dns_port: at(3),
            dns_control_port: at(4),
            http01_port: 5002,
            tlsalpn01_port: 5001,
            crl_poll: Duration::from_secs(10),
        }
    }
}

/// What is kept about the dev team between runs (no secrets: the password has its own file).
#[derive(Debug, Serialize, Deserialize)]
struct DevTeam {
    team_id: String,
    email: String,
    handle: String,
}

/// A running stack.
pub struct Running {
    /// What `stack.json` says.
    pub contract: StackJson,
    handles: Vec<Handle<SocketAddr>>,
    servers: Vec<JoinHandle<Result<(), String>>>,
    background: Vec<JoinHandle<()>>,
}

/// How long in-flight requests may finish at shutdown.
const GRACE: Duration = Duration::from_secs(5);

impl Running {
    /// Stops every listener (in-flight requests get a grace period) and background task.
    pub async fn shutdown(self) -> Result<(), String> {
        for handle in &self.handles {
            handle.graceful_shutdown(Some(GRACE));
        }
        for task in &self.background {
            task.abort();
        }
        let mut result = Ok(());
        for server in self.servers {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(e) => result = Err(e.to_string()),
            }
        }
        result
    }

    /// Runs until SIGINT or SIGTERM, then shuts down.
    pub async fn until_signal(self) -> Result<(), String> {
        let ctrl_c = tokio::signal::ctrl_c();
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// Writes `contents` to a new file readable by its owner only (or rewrites it).
fn write_secret(path: &Path, contents: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    // An existing file keeps its mode on open; make sure it is 0600.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io_err(path))?;
    file.write_all(contents.as_bytes()).map_err(io_err(path))
}

fn random_secret(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| "no randomness".to_owned())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// Reads the secret at `path`, generating it first when missing.
fn ensure_secret(path: &Path) -> Result<String, String> {
    if !path.exists() {
        write_secret(path, &random_secret(24)?)?;
    }
    Ok(std::fs::read_to_string(path)
        .map_err(io_err(path))?
        .trim()
        .to_owned())
}

fn bind_tcp(port: u16) -> Result<TcpListener, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(|e| format!("tcp/{port}: {e}"))
}

fn port_of(listener: &TcpListener) -> Result<u16, String> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// The backend signs access tokens with one DPoP key per algorithm, all four (§6.2).
const DPOP_KEYS: [(KeyAlgorithm, &str); 4] = [
    (KeyAlgorithm::Ed25519, "ed25519"),
    (KeyAlgorithm::P256, "p256"),
    (KeyAlgorithm::P384, "p384"),
    (KeyAlgorithm::P521, "p521"),
];

/// Sets up `options.data_dir` where needed and starts every service.
pub async fn start(options: Options) -> Result<Running, String> {
    std::fs::create_dir_all(&options.data_dir).map_err(io_err(&options.data_dir))?;
    let dir = options
        .data_dir
        .canonicalize()
        .map_err(io_err(&options.data_dir))?;
    for sub in ["keys", "secrets", "idp", "pki", "tls"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io_err(&dir.join(sub)))?;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let secrets = dir.join("secrets");
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(&secrets))?;
    }

    // The domain is fixed by the first run: the intermediate is constrained to it.
    let domain_file = dir.join("domain");
    if !domain_file.exists() {
        std::fs::write(&domain_file, &options.domain).map_err(io_err(&domain_file))?;
    }
    let domain = std::fs::read_to_string(&domain_file)
        .map_err(io_err(&domain_file))?
        .trim()
        .to_owned();

    // Keys: file keys, created once.
    let key_uri = |name: &str| format!("file:{}", dir.join("keys").join(name).display());
    let mut wanted = vec![(key_uri("zauth-1.key"), KeyAlgorithm::Ed25519)];
    for (alg, name) in DPOP_KEYS {
        wanted.push((key_uri(&format!("dpop-{name}.key")), alg));
    }
    let idp_key_uri = format!("file:{}", dir.join("idp/signing.key").display());
    wanted.push((idp_key_uri.clone(), KeyAlgorithm::P256));
    for line in generate_missing_keys(wanted.iter().map(|(u, a)| (u.as_str(), *a)))? {
        tracing::info!("{line}");
    }
    // The authority trusts exactly the backend's DPoP public keys (§15.9).
    let mut dpop_public = Vec::new();
    for (_, name) in DPOP_KEYS {
        let signer = open_key(&key_uri(&format!("dpop-{name}.key")))?;
        let path = dir.join("keys").join(format!("dpop-{name}.pub.pem"));
        pki::write_public_key(&path, signer.public_key())?;
        dpop_public.push(path);
    }
    let admin_token_file = dir.join("secrets/admin-token");
    ensure_secret(&admin_token_file)?;

    // Listeners first, so port 0 resolves before the configuration names the URLs.
    let acme_listener = bind_tcp(options.acme_port)?;
    let backend_listener = bind_tcp(options.backend_port)?;
    let idp_listener = bind_tcp(options.idp_port)?;
    let dns_control_listener = bind_tcp(options.dns_control_port)?;
    let dns_socket = dns::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, options.dns_port))).await?;
    let dns_addr = dns_socket.local_addr().map_err(|e| e.to_string())?;
    let acme_url = format!("https://127.0.0.1:{}", port_of(&acme_listener)?);
    let backend_url = format!("https://127.0.0.1:{}", port_of(&backend_listener)?);
    let idp_issuer = format!("http://127.0.0.1:{}", port_of(&idp_listener)?);
    let dns_control_url = format!("http://127.0.0.1:{}", port_of(&dns_control_listener)?);

    // The intermediate names the root CRL's URL of the first run; the authority serves it.
    let root_crl_file = dir.join("pki/root-crl-url");
    if !root_crl_file.exists() {
        std::fs::write(&root_crl_file, format!("{acme_url}/root.crl"))
            .map_err(io_err(&root_crl_file))?;
    }
    let root_crl_url = std::fs::read_to_string(&root_crl_file)
        .map_err(io_err(&root_crl_file))?
        .trim()
        .to_owned();
    if !root_crl_url.starts_with(&format!("{acme_url}/")) {
        tracing::warn!(
            url = %root_crl_url,
            "the authority moved since the first run: the root CRL the intermediate names is not served"
        );
    }
    let pki = pki::ensure(&dir, &domain, &root_crl_url)?;
    let root_crl = pki::root_crl(&pki, &root_crl_url)?;
    let root_crl_path = url::Url::parse(&root_crl_url)
        .map_err(|e| format!("{}: {e}", root_crl_file.display()))?
        .path()
        .to_owned();

    // The backend.
    let backend_toml = dir.join("backend.toml");
    let acme_host = acme_url.trim_start_matches("https://");
    let dpop_tables: String = DPOP_KEYS
        .iter()
        .map(|(_, name)| {
            format!("\n[[dpop.keys]]\nalg = \"{name}\"\nuri = \"file:keys/dpop-{name}.key\"\n")
        })
        .collect();
    std::fs::write(
        &backend_toml,
        format!(
            r#"# Written by e2ei-stack on every start (ports may change); edits are overwritten.
domain = "{domain}"
listen = "127.0.0.1:{backend_port}"
database = "sqlite://backend.db"

[tls]
certificate = "tls/server.pem"
key = "tls/server.key"

[tokens]
keys = ["file:keys/zauth-1.key"]
{dpop_tables}
[crl_proxy]
allowed_hosts = ["{acme_host}"]
trust_anchors = "tls/ca.pem"
public_url = "{backend_url}/proxyCrl"
# Development: no memory copy, so a revocation shows at once.
cache_seconds = 0

[scim]
public_url = "{backend_url}/scim/v2"

# SCIM deprovisioning revokes device certificates through the authority's admin API.
[revocation]
authority = "{acme_url}"
token = "file:{admin_token}"
trust_anchors = "tls/ca.pem"
"#,
            backend_port = port_of(&backend_listener)?,
            admin_token = admin_token_file.display(),
        ),
    )
    .map_err(io_err(&backend_toml))?;
    let backend_state = backend_state(&backend_toml).await?;

    // The authority.
    let acme_toml = dir.join("acme.toml");
    let keys = dpop_public
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &acme_toml,
        format!(
            r#"# Written by e2ei-stack on every start (ports may change); edits are overwritten.
base_url = "{acme_url}"
listen = "127.0.0.1:{acme_port}"
database = "sqlite://acme.db"
roots = "pki/root.pem"

[tls]
certificate = "tls/server.pem"
key = "tls/server.key"

[issuer]
key = "file:pki/intermediate.key"
certificate = "pki/intermediate.pem"
crl_url = "{acme_url}/crl"

[crl]
# Development: clients see a revocation within seconds.
max_age_seconds = 5

[admin]
# Absolute: the authority does not resolve secret sources against its file.
token = "file:{admin_token}"

[[provisioners]]
name = "wire"
[provisioners.wire]
dpop_target = "https://{{domain}}/clients/{{device_id}}/access-token"
oidc_issuer = "{idp_issuer}"
backend_keys = [{keys}]

[[provisioners]]
name = "acme"
[provisioners.standard]
allowed_domains = ["{domain}", "*.{domain}"]
http01_port = {http01}
tlsalpn01_port = {tlsalpn01}
dns_resolver = "{dns_addr}"
"#,
            acme_port = port_of(&acme_listener)?,
            admin_token = admin_token_file.display(),
            http01 = options.http01_port,
            tlsalpn01 = options.tlsalpn01_port,
        ),
    )
    .map_err(io_err(&acme_toml))?;
    let acme_state = acme_state(&acme_toml).await?;

    // The dev team and its owner, once.
    let team = ensure_dev_team(&dir, &backend_state, &domain).await?;
    let scim_token = ensure_scim_token(&dir, &backend_state, &team).await?;
    let password_file = dir.join("secrets/admin-password");
    let password = std::fs::read_to_string(&password_file)
        .map_err(io_err(&password_file))?
        .trim()
        .to_owned();

    // Serve.
    tracing::warn!(
        issuer = %idp_issuer,
        "DEVELOPMENT-ONLY IdP: logs anybody in without a password; never use it in production"
    );
    let idp_signer = open_key(&idp_key_uri)?;
    let dev_idp = Arc::new(DevIdp::new(
        idp_issuer.clone(),
        idp_signer,
        backend_state.clone(),
        ADMIN_HANDLE.into(),
    )?);
    let zone = dns::Zone::default();
    let tls = RustlsConfig::from_pem_file(&pki.tls_certificate, &pki.tls_key)
        .await
        .map_err(|e| format!("TLS files: {e}"))?;
    let mut handles = Vec::new();
    let mut servers = Vec::new();
    for (listener, router, tls) in [
        (
            acme_listener,
            e2ei_acme_server::api::router(acme_state.clone())
                .merge(root_crl_router(&root_crl_path, root_crl)),
            Some(tls.clone()),
        ),
        (
            backend_listener,
            e2ei_backend::api::router(backend_state.clone()),
            Some(tls),
        ),
        (idp_listener, dev_idp.router(), None),
        (
            dns_control_listener,
            dns::control_router(zone.clone()),
            None,
        ),
    ] {
        let handle = Handle::new();
        handles.push(handle.clone());
        servers.push(tokio::spawn(serve(listener, router, tls, handle)));
    }
    let background = vec![
        tokio::spawn(dns::serve_udp(dns_socket, zone)),
        tokio::spawn(e2ei_acme_server::publisher::run(
            acme_state.clone(),
            options.crl_poll,
        )),
        tokio::spawn(e2ei_acme_server::app::reclaim_stale_orders(acme_state)),
        tokio::spawn(e2ei_backend::notifications::prune_every_hour(
            backend_state.clone(),
        )),
        tokio::spawn(e2ei_backend::revocations::deliver_forever(backend_state)),
    ];
    let running_servers = Running {
        contract: StackJson {
            acme: AcmeJson {
                url: acme_url.clone(),
                wire_directory: format!("{acme_url}/acme/wire/directory"),
                standard_directory: format!("{acme_url}/acme/acme/directory"),
                roots_pem: pki.root.clone(),
                http01_port: options.http01_port,
                tlsalpn01_port: options.tlsalpn01_port,
                dns_resolver: dns_addr.to_string(),
                dns_control_url,
                admin_token_file,
            },
            backend: BackendJson {
                url: backend_url.clone(),
                domain,
                team_id: team.team_id.clone(),
                admin: AdminJson {
                    email: team.email,
                    handle: team.handle,
                    password,
                },
            },
            scim: Some(ScimJson {
                url: format!("{backend_url}/scim/v2"),
                token: scim_token,
            }),
            idp: IdpJson {
                issuer: idp_issuer,
                client_id: idp::CLIENT_ID.into(),
                redirect_uri: idp::NON_INTERACTIVE_REDIRECT_URI.into(),
            },
            tls_ca_pem: pki.tls_ca.clone(),
            data_dir: dir.clone(),
        },
        handles,
        servers,
        background,
    };
    // Each start: the team's feature follows the current URLs.
    if let Err(e) = enable_e2ei_feature(&running_servers.contract, &pki).await {
        let _ = running_servers.shutdown().await;
        return Err(e);
    }
    let json = serde_json::to_string_pretty(&running_servers.contract)
        .map_err(|e| format!("stack.json: {e}"))?;
    write_secret(&dir.join("stack.json"), &(json + "\n"))?;
    Ok(running_servers)
}

async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<RustlsConfig>,
    handle: Handle<SocketAddr>,
) -> Result<(), String> {
    // The peer address reaches handlers as `ConnectInfo` (the authority's per-IP rate limits).
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(tls) => {
            axum_server::from_tcp_rustls(listener, tls)
                .map_err(|e| e.to_string())?
                .handle(handle)
                .serve(app)
                .await
        }
        None => {
            axum_server::from_tcp(listener)
                .map_err(|e| e.to_string())?
                .handle(handle)
                .serve(app)
                .await
        }
    }
    .map_err(|e| e.to_string())
}

/// `GET {path}`: the root's CRL, DER, as CRLs are served (RFC 2585 media type).
fn root_crl_router(path: &str, der: Vec<u8>) -> Router {
    let der = axum::body::Bytes::from(der);
    Router::new().route(
        path,
        axum::routing::get(move || async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/pkix-crl")],
                der.clone(),
            )
        }),
    )
}

async fn backend_state(config: &Path) -> Result<Arc<e2ei_backend::AppState>, String> {
    let config = e2ei_backend::config::Config::load(config)?;
    Ok(Arc::new(config.app_state().await?))
}

async fn acme_state(config: &Path) -> Result<Arc<e2ei_acme_server::AppState>, String> {
    use e2ei_acme_server::config::Config;
    let config = Config::load(config)?;
    let settings = config.settings()?;
    let issuer = config.issuer()?;
    let roots_pem = config
        .roots
        .as_ref()
        .map(|p| std::fs::read_to_string(p).map_err(io_err(p)))
        .transpose()?;
    let store = e2ei_acme_server::store::Store::connect(&config.database, settings.nonce_ttl)
        .await
        .map_err(|e| format!("authority database: {e}"))?;
    Ok(Arc::new(e2ei_acme_server::AppState {
        store,
        settings,
        clock: Arc::new(SystemClock),
        issuer,
        roots_pem,
        federation: config.federation()?,
        metrics: e2ei_acme_server::app::new_metrics(),
        crl_wake: Default::default(),
        admin_token_sha256: config.admin_token_sha256()?,
    }))
}

/// Creates the dev team and its owner on first run; afterwards reads what was kept.
async fn ensure_dev_team(
    dir: &Path,
    backend: &e2ei_backend::AppState,
    domain: &str,
) -> Result<DevTeam, String> {
    let team_file = dir.join("dev-team.json");
    let password_file = dir.join("secrets/admin-password");
    if team_file.exists() && password_file.exists() {
        let text = std::fs::read_to_string(&team_file).map_err(io_err(&team_file))?;
        return serde_json::from_str(&text).map_err(|e| format!("{}: {e}", team_file.display()));
    }
    let email = format!("{ADMIN_HANDLE}@{domain}");
    if find_user_by_login(backend, ADMIN_HANDLE)
        .await
        .map_err(|e| format!("backend: {}", e.label()))?
        .is_some()
    {
        return Err(format!(
            "the backend database has a dev admin but {} is missing: remove {} to start over",
            team_file.display(),
            dir.display()
        ));
    }
    let password = ensure_secret(&password_file)?;
    let (team, _) = create_team_with_owner(
        backend,
        "Dev team",
        NewUser {
            name: "Dev Admin".into(),
            handle: Some(ADMIN_HANDLE.into()),
            email: Some(email.clone()),
            password: Some(password),
            locale: None,
            team: None,
        },
    )
    .await
    .map_err(|e| format!("creating the dev team: {}", e.label()))?;
    let kept = DevTeam {
        team_id: team.to_string(),
        email,
        handle: ADMIN_HANDLE.into(),
    };
    let text = serde_json::to_string_pretty(&kept).map_err(|e| e.to_string())?;
    std::fs::write(&team_file, text).map_err(io_err(&team_file))?;
    tracing::info!(team = %team, "dev team created");
    Ok(kept)
}

/// The dev team's SCIM token: made on first run (as the team owner would through
/// `POST /scim/auth-tokens`) and kept in `secrets/scim-token`; made again if the backend no
/// longer knows it (revoked, or a new database).
async fn ensure_scim_token(
    dir: &Path,
    backend: &e2ei_backend::AppState,
    team: &DevTeam,
) -> Result<String, String> {
    use e2ei_backend::scim::tokens;
    let file = dir.join("secrets/scim-token");
    if let Ok(text) = std::fs::read_to_string(&file) {
        let token = text.trim().to_owned();
        if tokens::team_for(backend, &token)
            .await
            .map_err(|e| format!("backend: {}", e.label()))?
            .is_some()
        {
            return Ok(token);
        }
    }
    let team_id = uuid::Uuid::parse_str(&team.team_id).map_err(|e| e.to_string())?;
    let owner = find_user_by_login(backend, &team.handle)
        .await
        .map_err(|e| format!("backend: {}", e.label()))?
        .ok_or("the dev admin is missing from the backend database")?;
    let (token, _) = tokens::create(backend, team_id, owner.id, "e2ei-stack development IdP")
        .await
        .map_err(|e| format!("creating the SCIM token: {}", e.label()))?;
    write_secret(&file, &token)?;
    Ok(token)
}

/// Logs in as the dev admin and points the team's `mlsE2EId` feature at this authority and
/// this backend's CRL proxy (§2.2), through the backend's own API.
async fn enable_e2ei_feature(stack: &StackJson, pki: &PkiFiles) -> Result<(), String> {
    let ca = std::fs::read(&pki.tls_ca).map_err(io_err(&pki.tls_ca))?;
    let http = e2ei_client::HttpConfig::new()
        .with_root_certificates_pem(&ca)
        .and_then(|c| c.build())
        .map_err(|e| e.to_string())?;
    let backend = &stack.backend;
    let login = http
        .post(format!("{}/login", backend.url))
        .json(&json!({ "handle": backend.admin.handle, "password": backend.admin.password }))
        .send()
        .await
        .map_err(|e| format!("backend login: {e}"))?;
    if !login.status().is_success() {
        return Err(format!("backend login: HTTP {}", login.status()));
    }
    let body: serde_json::Value = login
        .json()
        .await
        .map_err(|e| format!("backend login: {e}"))?;
    let token = body["access_token"]
        .as_str()
        .ok_or("backend login: no access_token")?;
    let put = http
        .put(format!(
            "{}/teams/{}/features/mlsE2EId",
            backend.url, backend.team_id
        ))
        .bearer_auth(token)
        .json(&json!({
            "status": "enabled",
            "lockStatus": "unlocked",
            "config": {
                "verificationExpiration": 86_400,
                "acmeDiscoveryUrl": stack.acme.wire_directory,
                "crlProxy": format!("{}/proxyCrl", backend.url),
                "useProxyOnMobile": false,
            }
        }))
        .send()
        .await
        .map_err(|e| format!("setting mlsE2EId: {e}"))?;
    if !put.status().is_success() {
        let status = put.status();
        let text = put.text().await.unwrap_or_default();
        return Err(format!("setting mlsE2EId: HTTP {status}: {text}"));
    }
    Ok(())
}
