//! `e2ei-acme-server`: the identity authority service.
//!
//! ```text
//! e2ei-acme-server --config acme.toml     # serve; migrations run at start
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use e2ei_acme_server::config::Config;
use e2ei_acme_server::store::Store;
use e2ei_acme_server::{AppState, api};
use e2ei_core::clock::SystemClock;
use e2ei_service::{init_logs, serve};
use e2ei_sqlstore::redact;

#[derive(Parser)]
#[command(
    name = "e2ei-acme-server",
    version,
    about = "The e2ei identity authority (ACME)"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, env = "E2EI_ACME_CONFIG")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("e2ei-acme-server: {e}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2ei-acme-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> Result<(), String> {
    init_logs(config.log_format);
    let settings = config.settings()?;
    let issuer = config.issuer()?;
    if issuer.is_none() {
        tracing::warn!("no [issuer]: orders cannot be finalized");
    }
    let roots_pem = config
        .roots
        .as_ref()
        .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())))
        .transpose()?;
    let federation = config.federation()?;
    let admin_token_sha256 = config.admin_token_sha256()?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let store = Store::connect(&config.database, settings.nonce_ttl)
            .await
            .map_err(|e| format!("database {}: {e}", redact(&config.database)))?;
        let state = Arc::new(AppState {
            store,
            settings,
            clock: Arc::new(SystemClock),
            issuer,
            roots_pem,
            federation,
            metrics: e2ei_acme_server::app::new_metrics(),
            crl_wake: Default::default(),
            admin_token_sha256,
        });
        tokio::spawn(e2ei_acme_server::app::reclaim_stale_orders(state.clone()));
        tokio::spawn(e2ei_acme_server::publisher::run(
            state.clone(),
            std::time::Duration::from_secs(10),
        ));
        tracing::info!(base_url = %config.base_url, "authority starting");
        serve(api::router(state), config.listen, config.tls.as_ref()).await
    })
}
