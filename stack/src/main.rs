//! `e2ei-stack`: the one-command development stack.
//!
//! ```text
//! e2ei-stack up --data-dir ./stack-data                 # authority 8443, backend 8444, IdP 8445,
//!                                                       # DNS udp/8446, DNS control 8447
//! e2ei-stack up --data-dir DIR --port-base 9443         # the same five ports from 9443
//! e2ei-stack demo --data-dir DIR                        # against the stack running there
//! ```
//!
//! Development only: the built-in IdP logs anybody in without a password.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use e2ei_service::{LogFormat, init_logs};
use e2ei_stack::{Options, Running, start};

#[derive(Parser)]
#[command(
    name = "e2ei-stack",
    version,
    about = "The e2ei development stack (authority, backend, dev IdP, dev DNS) in one process"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Set up DIR on first run (PKI, TLS, keys, databases, dev team) and run every service.
    Up(UpArgs),
    /// Against the stack running from DIR: two users enroll a device each, one is revoked
    /// through the admin API and shows Revoked.
    Demo {
        /// The running stack's data directory (its stack.json is read).
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct UpArgs {
    /// Where everything is kept; `DIR/stack.json` describes the running stack.
    #[arg(long)]
    data_dir: PathBuf,
    /// First of five consecutive ports: authority, backend, IdP, DNS (UDP), DNS control.
    #[arg(long, default_value_t = 8443)]
    port_base: u16,
    /// The authority's port (overrides --port-base).
    #[arg(long)]
    acme_port: Option<u16>,
    /// The backend's port.
    #[arg(long)]
    backend_port: Option<u16>,
    /// The dev IdP's port.
    #[arg(long)]
    idp_port: Option<u16>,
    /// The dev DNS responder's UDP port.
    #[arg(long)]
    dns_port: Option<u16>,
    /// The dev DNS responder's control port (HTTP).
    #[arg(long)]
    dns_control_port: Option<u16>,
    /// Where the standard provisioner's http-01 validation connects.
    #[arg(long, default_value_t = 5002)]
    http01_port: u16,
    /// Where tls-alpn-01 validation connects.
    #[arg(long, default_value_t = 5001)]
    tlsalpn01_port: u16,
    /// The federation domain (first run only).
    #[arg(long, default_value = e2ei_stack::DEFAULT_DOMAIN)]
    domain: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Up(args) => args,
        Command::Demo { data_dir } => return demo(&data_dir),
    };
    init_logs(LogFormat::Text);
    let mut options = Options::new(args.data_dir, args.port_base);
    options.domain = args.domain;
    options.acme_port = args.acme_port.unwrap_or(options.acme_port);
    options.backend_port = args.backend_port.unwrap_or(options.backend_port);
    options.idp_port = args.idp_port.unwrap_or(options.idp_port);
    options.dns_port = args.dns_port.unwrap_or(options.dns_port);
    options.dns_control_port = args.dns_control_port.unwrap_or(options.dns_control_port);
    options.http01_port = args.http01_port;
    options.tlsalpn01_port = args.tlsalpn01_port;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("e2ei-stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let running = start(options).await?;
        summary(&running);
        running.until_signal().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2ei-stack: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(data_dir: &std::path::Path) -> ExitCode {
    let result = e2ei_stack::StackJson::read(data_dir).and_then(|stack| {
        tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())?
            .block_on(e2ei_stack::demo::run(&stack))
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2ei-stack demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What a developer needs to start: URLs and files (the password stays in its 0600 files).
fn summary(running: &Running) {
    let c = &running.contract;
    let dir = c.data_dir.display();
    println!(
        "\ne2ei dev stack running (DEVELOPMENT ONLY: the built-in IdP logs anybody in without a password)\n\
         \n  authority        {acme}\n  Wire directory   {wire}\n  ACME directory   {standard}  (DNS names under {domain})\n  \
         backend          {backend}  (team {team}, admin {email})\n  dev IdP          {issuer}\n  \
         dev DNS          udp {dns}, TXT records via {control}/set-txt\n\
         \n  stack.json       {dir}/stack.json  (0600: has the admin password)\n  \
         admin password   {dir}/secrets/admin-password\n  admin API token  {token}\n  \
         authority root   {root}\n  TLS CA           {tls}\n\nStop with Ctrl-C.",
        acme = c.acme.url,
        wire = c.acme.wire_directory,
        standard = c.acme.standard_directory,
        domain = c.backend.domain,
        backend = c.backend.url,
        team = c.backend.team_id,
        email = c.backend.admin.email,
        issuer = c.idp.issuer,
        dns = c.acme.dns_resolver,
        control = c.acme.dns_control_url,
        token = c.acme.admin_token_file.display(),
        root = c.acme.roots_pem.display(),
        tls = c.tls_ca_pem.display(),
    );
}
