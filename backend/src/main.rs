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
use e2ei_backend::api;
use e2ei_backend::config::Config;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_service::{generate_missing_keys, init_logs, serve};

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
    let keys = api::public_keys_json(&config.dpop_keys()?);
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
        let state = Arc::new(config.app_state().await?);
        tokio::spawn(e2ei_backend::notifications::prune_every_hour(state.clone()));
        tokio::spawn(e2ei_backend::revocations::deliver_forever(state.clone()));
        tracing::info!(domain = %config.domain, "backend starting");
        serve(api::router(state), config.listen, config.tls.as_ref()).await?;
        Ok(())
    })
}
