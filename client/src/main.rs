//! `e2ei-client`: enroll a Wire device, show a certificate's identity and status, renew.
//!
//! ```text
//! e2ei-client enroll --state DIR --directory URL --backend URL --login HANDLE [--ciphersuite p256]
//!                    [--login-hint USER --redirect-uri URI | (interactive loopback login)]
//!                    [--tls-ca PEM] [--crl-proxy URL]
//! e2ei-client status --state DIR            # identity + Valid / Expired / Revoked
//! e2ei-client verify --chain PEM --roots PEM [--crl-proxy URL] [--tls-ca PEM]
//! e2ei-client renew  --state DIR [--renew-before-days 30]
//! ```
//!
//! The backend password comes from `E2EI_PASSWORD` or `--password-file`, never from argv. The
//! state directory (0700) holds `device.json`, the MLS key `mls.key`, `chain.pem` and the
//! trust anchors `roots.pem`, each 0600.
#![forbid(unsafe_code)]

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use e2ei_client::status::{CrlStore, device_status, identity_of};
use e2ei_client::{
    BackendAuth, Credentials, Device, EnrollmentSettings, HttpConfig, Login, LoginHintLogin,
    LoopbackLogin, enroll,
};
use e2ei_core::ciphersuite::Ciphersuite;
use e2ei_core::id::DeviceId;
use e2ei_core::x509::{certificate_to_pem, certificates_from_pem_or_der};
use e2ei_signer::{GenerateOptions, KeyUri, SecretString, Signer};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x509_cert::Certificate;

#[derive(Parser)]
#[command(
    name = "e2ei-client",
    version,
    about = "Wire end-to-end identity client"
)]
struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enroll this device (protocol doc §4) and keep its key and certificate in the state dir.
    Enroll(EnrollArgs),
    /// The identity and status (Valid / Expired / Revoked) of the enrolled certificate.
    Status {
        /// The state directory.
        #[arg(long)]
        state: PathBuf,
        /// Fetch the CRLs again now instead of using the kept ones until their nextUpdate.
        #[arg(long)]
        refresh_crls: bool,
    },
    /// The identity and status of any certificate chain (leaf first).
    Verify {
        /// PEM chain, leaf first.
        #[arg(long)]
        chain: PathBuf,
        /// PEM trust anchors (`/roots.pem`, plus `/federation` intermediates).
        #[arg(long)]
        roots: PathBuf,
        /// The backend's CRL proxy (`crlProxy`), e.g. `https://wire.example.com/proxyCrl`.
        #[arg(long)]
        crl_proxy: Option<String>,
        /// PEM trust anchors for TLS (a private CA).
        #[arg(long)]
        tls_ca: Option<PathBuf>,
    },
    /// Enroll again when the certificate ends within `--renew-before-days` (default 30, so a
    /// device offline for Wire's 28-day hold still holds a valid certificate).
    Renew {
        /// The state directory.
        #[arg(long)]
        state: PathBuf,
        /// Renew when less than this many days are left.
        #[arg(long, default_value_t = 30)]
        renew_before_days: i64,
        /// Renew whatever is left.
        #[arg(long)]
        force: bool,
    },
}

#[derive(clap::Args, Clone)]
struct EnrollArgs {
    /// The state directory (created 0700).
    #[arg(long)]
    state: PathBuf,
    /// The Wire provisioner's ACME directory (`acmeDiscoveryUrl`).
    #[arg(long)]
    directory: String,
    /// The backend's base URL.
    #[arg(long)]
    backend: String,
    /// The backend login: handle or e-mail.
    #[arg(long)]
    login: String,
    /// A file holding the backend password (default: `E2EI_PASSWORD`).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// ed25519, p256, p384 or p521.
    #[arg(long, default_value = "p256")]
    ciphersuite: String,
    /// Log in at the IdP non-interactively as this user (IdPs that honour `login_hint`
    /// without a form: test and development IdPs); otherwise a browser login on loopback.
    #[arg(long)]
    login_hint: Option<String>,
    /// The redirect URI registered at the IdP for `--login-hint` logins.
    #[arg(long, default_value = "http://127.0.0.1:1/callback")]
    redirect_uri: String,
    /// PEM trust anchors for TLS (a private CA).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// The backend's CRL proxy for status checks.
    #[arg(long)]
    crl_proxy: Option<String>,
}

/// What the state directory remembers between commands.
#[derive(Serialize, Deserialize)]
struct DeviceState {
    directory: String,
    backend: String,
    login: String,
    ciphersuite: String,
    login_hint: Option<String>,
    redirect_uri: String,
    tls_ca: Option<PathBuf>,
    crl_proxy: Option<String>,
    client_id: String,
    device_id: String,
}

fn suite(name: &str) -> Result<Ciphersuite, String> {
    Ok(match name {
        "ed25519" => Ciphersuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519,
        "p256" => Ciphersuite::Mls128Dhkemp256Aes128gcmSha256P256,
        "p384" => Ciphersuite::Mls256Dhkemp384Aes256gcmSha384P384,
        "p521" => Ciphersuite::Mls256Dhkemp521Aes256gcmSha512P521,
        other => {
            return Err(format!(
                "unknown ciphersuite `{other}` (ed25519, p256, p384, p521)"
            ));
        }
    })
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_certs(path: &Path) -> Result<Vec<Certificate>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    certificates_from_pem_or_der(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn http(tls_ca: Option<&Path>) -> Result<HttpConfig, String> {
    let config = HttpConfig::new();
    match tls_ca {
        None => Ok(config),
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            config
                .with_root_certificates_pem(&pem)
                .map_err(|e| e.to_string())
        }
    }
}

fn password(file: Option<&Path>) -> Result<SecretString, String> {
    let text = match file {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => std::env::var("E2EI_PASSWORD")
            .map_err(|_| "set E2EI_PASSWORD or pass --password-file".to_owned())?,
    };
    Ok(SecretString::new(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

fn login_of(text: &str) -> Login {
    if text.contains('@') {
        Login::Email(text.to_owned())
    } else {
        Login::Handle(text.to_owned())
    }
}

/// Enrolls with a fresh MLS key written to `key_file`; on success writes chain, anchors and
/// state and moves the key to `mls.key`.
async fn enroll_into(args: &EnrollArgs, device: Device) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&args.state)
        .map_err(|e| format!("{}: {e}", args.state.display()))?;
    let suite = suite(&args.ciphersuite)?;
    let next_key = args.state.join("mls.key.next");
    let _ = std::fs::remove_file(&next_key);
    let uri: KeyUri = format!("file:{}", next_key.display())
        .parse()
        .map_err(|e| format!("{e}"))?;
    let key = Signer::generate(&uri, suite.key_algorithm(), &GenerateOptions::default())
        .map_err(|e| e.to_string())?;
    let credentials = Credentials {
        login: login_of(&args.login),
        password: password(args.password_file.as_deref())?,
    };
    let mut settings = EnrollmentSettings::new(
        &args.directory,
        &args.backend,
        BackendAuth::Password(credentials),
        suite,
    );
    settings.mls_key = Some(key);
    settings.device = device;
    settings.http = http(args.tls_ca.as_deref())?;
    let enrollment = match &args.login_hint {
        Some(hint) => enroll(settings, &LoginHintLogin::new(hint, &args.redirect_uri)).await,
        None => {
            let login = LoopbackLogin::bind()
                .await
                .map_err(|e| e.to_string())?
                .with_timeout(Duration::from_secs(300));
            enroll(settings, &login).await
        }
    }
    .map_err(|e| e.to_string())?;
    write_private(
        &args.state.join("chain.pem"),
        enrollment.certificate_chain_pem().as_bytes(),
    )?;
    let anchor = certificate_to_pem(enrollment.trust_anchor()).map_err(|e| e.to_string())?;
    write_private(&args.state.join("roots.pem"), anchor.as_bytes())?;
    std::fs::rename(&next_key, args.state.join("mls.key")).map_err(|e| e.to_string())?;
    let client_id = enrollment.identity().client_id();
    let state = DeviceState {
        directory: args.directory.clone(),
        backend: args.backend.clone(),
        login: args.login.clone(),
        ciphersuite: args.ciphersuite.clone(),
        login_hint: args.login_hint.clone(),
        redirect_uri: args.redirect_uri.clone(),
        tls_ca: args.tls_ca.clone(),
        crl_proxy: args.crl_proxy.clone(),
        client_id: client_id.to_uri(),
        device_id: client_id.device().to_string(),
    };
    let json = serde_json::to_vec_pretty(&state).map_err(|e| e.to_string())?;
    write_private(&args.state.join("device.json"), &json)
}

fn load_state(dir: &Path) -> Result<DeviceState, String> {
    let path = dir.join("device.json");
    let bytes =
        std::fs::read(&path).map_err(|e| format!("{}: {e} (enroll first)", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Identity and status of `chain` against `anchors`, fetching the CRLs it points to (kept in
/// `crl_dir` between runs when given, and used until their nextUpdate).
async fn status_of(
    chain: &[Certificate],
    anchors: &[Certificate],
    crl_proxy: Option<&str>,
    tls_ca: Option<&Path>,
    crl_dir: Option<&Path>,
) -> Result<serde_json::Value, String> {
    let leaf = chain.first().ok_or("the chain is empty")?;
    let now = OffsetDateTime::now_utc();
    let mut crls = CrlStore::new();
    let mut crl_error = None;
    if let Some(issuer) = chain.get(1) {
        if let Some(dir) = crl_dir {
            crls = CrlStore::load(dir, issuer, now);
        }
        let client = http(tls_ca)?.build().map_err(|e| e.to_string())?;
        if let Err(e) = crls
            .refresh_for(&client, leaf, issuer, crl_proxy, now)
            .await
        {
            // Without a CRL the status is reported as not revocation-checked.
            crl_error = Some(e.to_string());
        }
        if let Some(dir) = crl_dir {
            crls.save(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    let status = device_status(chain, anchors, &crls.current(now), now);
    Ok(serde_json::json!({
        "identity": identity_of(leaf),
        "status": status,
        "crl_error": crl_error,
    }))
}

/// The authority's `/federation` certificates; none when it cannot be reached (the status
/// then rests on `/roots.pem` alone).
/// The status of the device kept in `dir`: its chain against its roots and the federating
/// domains' cross-signed intermediates (protocol doc §2.5), CRLs from the store in `dir`
/// (forgotten first with `refresh_crls`).
async fn status_in(dir: &Path, refresh_crls: bool) -> Result<serde_json::Value, String> {
    let state = load_state(dir)?;
    let chain = read_certs(&dir.join("chain.pem"))?;
    let mut anchors = read_certs(&dir.join("roots.pem"))?;
    anchors.extend(federation(&state).await);
    let crl_dir = dir.join("crls");
    if refresh_crls {
        let _ = std::fs::remove_file(crl_dir.join("index.json"));
    }
    status_of(
        &chain,
        &anchors,
        state.crl_proxy.as_deref(),
        state.tls_ca.as_deref(),
        Some(&crl_dir),
    )
    .await
}

async fn federation(state: &DeviceState) -> Vec<Certificate> {
    let Ok(roots) = e2ei_client::roots_url(&state.directory) else {
        return Vec::new();
    };
    let url = roots.replace("/roots.pem", "/federation");
    let Ok(client) =
        http(state.tls_ca.as_deref()).and_then(|c| c.build().map_err(|e| e.to_string()))
    else {
        return Vec::new();
    };
    let Ok(reply) = client.get(&url).send().await else {
        return Vec::new();
    };
    let Ok(body) = reply.json::<serde_json::Value>().await else {
        return Vec::new();
    };
    body["certificates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|pem| pem.as_str())
        .filter_map(|pem| certificates_from_pem_or_der(pem.as_bytes()).ok())
        .flatten()
        .collect()
}

fn print(json: bool, value: &serde_json::Value) {
    if json {
        println!("{value}");
        return;
    }
    if let Some(identity) = value.get("identity").filter(|i| !i.is_null()) {
        for key in [
            "client_id",
            "handle",
            "display_name",
            "domain",
            "thumbprint",
            "serial",
            "not_before",
            "not_after",
        ] {
            println!("{key}: {}", identity[key].as_str().unwrap_or_default());
        }
    }
    let status = &value["status"];
    match status["status"].as_str() {
        Some("valid") if status["revocation_checked"] == true => println!("status: Valid"),
        Some("valid") => println!("status: Valid (revocation not checked)"),
        Some("expired") => println!("status: Expired"),
        Some("revoked") => println!(
            "status: Revoked at {} ({})",
            status["at"].as_str().unwrap_or_default(),
            status["reason"].as_str().unwrap_or("no reason given")
        ),
        _ => println!(
            "status: Invalid: {}",
            status["reason"].as_str().unwrap_or_default()
        ),
    }
    if let Some(e) = value["crl_error"].as_str() {
        println!("crl: {e}");
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Enroll(args) => {
            enroll_into(&args, Device::Register).await?;
            print(cli.json, &status_in(&args.state, false).await?);
        }
        Command::Status {
            state: dir,
            refresh_crls,
        } => {
            print(cli.json, &status_in(&dir, refresh_crls).await?);
        }
        Command::Verify {
            chain,
            roots,
            crl_proxy,
            tls_ca,
        } => {
            let chain = read_certs(&chain)?;
            let anchors = read_certs(&roots)?;
            let value = status_of(
                &chain,
                &anchors,
                crl_proxy.as_deref(),
                tls_ca.as_deref(),
                None,
            )
            .await?;
            print(cli.json, &value);
            if value["status"]["status"] != "valid" {
                return Err("the certificate is not valid".into());
            }
        }
        Command::Renew {
            state: dir,
            renew_before_days,
            force,
        } => {
            let state = load_state(&dir)?;
            let chain = read_certs(&dir.join("chain.pem"))?;
            let leaf = chain.first().ok_or("no certificate to renew")?;
            let end = leaf
                .tbs_certificate()
                .validity()
                .not_after
                .to_unix_duration();
            let left = i64::try_from(end.as_secs()).unwrap_or(i64::MAX)
                - OffsetDateTime::now_utc().unix_timestamp();
            if !force && left > renew_before_days * 86_400 {
                println!("not due: {} days left", left / 86_400);
                return Ok(());
            }
            let device: DeviceId = state
                .device_id
                .parse()
                .map_err(|e| format!("device.json: {e}"))?;
            let args = EnrollArgs {
                state: dir.clone(),
                directory: state.directory,
                backend: state.backend,
                login: state.login,
                password_file: None,
                ciphersuite: state.ciphersuite,
                login_hint: state.login_hint,
                redirect_uri: state.redirect_uri,
                tls_ca: state.tls_ca,
                crl_proxy: state.crl_proxy,
            };
            enroll_into(&args, Device::Existing(device)).await?;
            println!("renewed");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("e2ei-client: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2ei-client: {e}");
            ExitCode::FAILURE
        }
    }
}
