//! `e2ei-backend`: the messaging backend service.
//!
//! ```text
//! e2ei-backend --config backend.toml                 # serve (migrations run at start)
//! e2ei-backend --config backend.toml generate-keys   # create missing file: keys named in the config
//! e2ei-backend --config backend.toml dpop-keys       # the DPoP public keys, for the ACME server
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use e2ei_backend::config::Config;
use e2ei_backend::db::redact;
use e2ei_backend::zauth::ZauthKeys;
use e2ei_backend::{AppState, api};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::SystemClock;
use e2ei_dpop::BackendKeys;
use e2ei_service::{generate_missing_keys, init_logs, open_key, serve};

#[derive(Parser)]
#[command(name = "e2ei-backend", version, about = "The e2ei messaging backend")]
struct Cli {
    /// The configuration file.
    #[arg(long, short, env = "E2EI_BACKEND_CONFIG")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create the `file:` keys the configuration names that do not exist yet.
    GenerateKeys,
    /// Print the DPoP public keys (JWK and PEM) for the ACME server's configuration.
    DpopKeys,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("e2ei-backend: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => run(config),
        Command::GenerateKeys => generate_keys(&config),
        Command::DpopKeys => print_dpop_keys(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2ei-backend: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dpop_keys(config: &Config) -> Result<BackendKeys, String> {
    let mut keys = BackendKeys::new();
    for key in &config.dpop.keys {
        let signer = open_key(&key.uri)?;
        if signer.algorithm() != key.alg {
            return Err(format!(
                "{} is a {} key, configured as {}",
                signer.describe(),
                signer.algorithm(),
                key.alg
            ));
        }
        if keys.get(key.alg).is_some() {
            return Err(format!("two DPoP keys for {}", key.alg));
        }
        keys.insert(signer);
    }
    Ok(keys)
}

fn generate_keys(config: &Config) -> Result<(), String> {
    let wanted = config
        .tokens
        .keys
        .iter()
        .map(|u| (u.as_str(), KeyAlgorithm::Ed25519))
        .chain(config.dpop.keys.iter().map(|k| (k.uri.as_str(), k.alg)));
    for line in generate_missing_keys(wanted)? {
        println!("{line}");
    }
    Ok(())
}

fn print_dpop_keys(config: &Config) -> Result<(), String> {
    let keys = api::public_keys_json(&dpop_keys(config)?);
    println!(
        "{}",
        serde_json::to_string_pretty(&keys).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn run(config: Config) -> Result<(), String> {
    init_logs(config.log_format);
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let settings = config.settings()?;
        let token_keys = config
            .tokens
            .keys
            .iter()
            .map(|u| open_key(u))
            .collect::<Result<Vec<_>, _>>()?;
        let zauth = ZauthKeys::new(token_keys)?;
        let dpop_keys = dpop_keys(&config)?;
        if dpop_keys.public_keys().is_empty() {
            tracing::warn!(
                "no DPoP keys configured: access-token requests will get no-server-key-bundle"
            );
        }
        let db = e2ei_backend::db::connect(&config.database)
            .await
            .map_err(|e| format!("database {}: {e}", redact(&config.database)))?;
        let crl_proxy = config.crl_proxy()?;
        if let Some(proxy) = &crl_proxy {
            tracing::info!(
                hosts = proxy.policy().allowed_hosts.len(),
                advertised = %proxy.policy().public_url,
                "CRL proxy enabled"
            );
        }
        let state = Arc::new(AppState {
            db,
            zauth,
            dpop_keys,
            settings,
            clock: Arc::new(SystemClock),
            metrics: Default::default(),
            hub: Default::default(),
            crl_proxy,
            scim: config.scim()?,
            revocations: e2ei_backend::revocations::Revocations {
                authority: config.revocation_authority()?,
                wake: Default::default(),
            },
        });
        tokio::spawn(e2ei_backend::notifications::prune_every_hour(state.clone()));
        tokio::spawn(e2ei_backend::revocations::deliver_forever(state.clone()));
        tracing::info!(domain = %config.domain, "backend starting");
        serve(api::router(state), config.listen, config.tls.as_ref()).await?;
        Ok(())
    })
}
