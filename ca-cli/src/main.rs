//! `e2ei-ca`: key ceremonies for an e2ei PKI — keys, the root, intermediates with name
//! constraints, cross-signing for federation, offline CRLs — plus `inspect`, `verify` and
//! `revoke` (at a running authority).
//!
//! Each ceremony reads one reviewable TOML file, refuses to overwrite outputs, checks what it
//! is about to sign against its profile, and writes a transcript next to its outputs. PINs and
//! passwords come from the environment or files, never from the command line.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod ceremony;
mod config;
mod error;
mod inspect;
mod output;
mod revoke;
mod verify;

use error::CliError;

#[derive(Parser)]
#[command(name = "e2ei-ca", version, about = "Key ceremonies for an e2ei PKI")]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a key (file, PKCS#11 token or YubiKey) and write its public key.
    Key(CeremonyArgs),
    /// Create a self-signed root (CA, pathlen 1).
    Root(CeremonyArgs),
    /// Create an intermediate signed by the root (pathlen 0, name constraints, CRL DP).
    Intermediate(CeremonyArgs),
    /// Make a CSR with an intermediate's key, for cross-signing by a federating domain's root.
    CrossCsr(CeremonyArgs),
    /// Sign another domain's intermediate CSR with this domain's root (intermediate profile).
    CrossSign(CeremonyArgs),
    /// Create a CRL signed by the root (e.g. revoking an intermediate).
    Crl(CeremonyArgs),
    /// Show a certificate, CSR or CRL (PEM or DER).
    Inspect {
        /// The file.
        file: PathBuf,
    },
    /// Verify a certificate chain (URI name constraints enforced), optionally with CRLs.
    Verify(verify::VerifyArgs),
    /// Revoke certificates at a running authority (admin API): by serial, client id or handle.
    Revoke(revoke::RevokeArgs),
}

#[derive(clap::Args)]
struct CeremonyArgs {
    /// The ceremony file (TOML).
    file: PathBuf,
    /// Show exactly what would be signed; sign and write nothing.
    #[arg(long)]
    dry_run: bool,
}

fn print_report(json: bool, report: &ceremony::Report) {
    if json {
        let outputs: serde_json::Map<String, serde_json::Value> = report
            .outputs
            .iter()
            .map(|(n, p)| (n.clone(), p.display().to_string().into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "outputs": outputs, "summary": report.summary })
        );
        return;
    }
    if report.dry_run {
        println!("DRY RUN: nothing was signed or written.");
    }
    print!("{}", inspect::render_text(&report.summary));
    for (name, path) in &report.outputs {
        println!("{name}={}", path.display());
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let report = match cli.command {
        Command::Key(a) => ceremony::key(&a.file, a.dry_run)?,
        Command::Root(a) => ceremony::root(&a.file, a.dry_run)?,
        Command::Intermediate(a) => ceremony::intermediate(&a.file, a.dry_run)?,
        Command::CrossCsr(a) => ceremony::cross_csr(&a.file, a.dry_run)?,
        Command::CrossSign(a) => ceremony::cross_sign(&a.file, a.dry_run)?,
        Command::Crl(a) => ceremony::crl(&a.file, a.dry_run)?,
        Command::Inspect { file } => {
            let bytes = std::fs::read(&file).map_err(|e| CliError::Input {
                path: file.clone(),
                reason: e.to_string(),
            })?;
            let value = match inspect::read_artifact(&bytes)
                .map_err(|reason| CliError::Input { path: file, reason })?
            {
                inspect::Artifact::Certificates(certs) => {
                    let all: Vec<_> = certs.iter().map(inspect::certificate_json).collect();
                    if all.len() == 1 {
                        all.into_iter().next().unwrap_or_default()
                    } else {
                        serde_json::json!({ "certificates": all })
                    }
                }
                inspect::Artifact::Csr(csr) => inspect::csr_json(&csr),
                inspect::Artifact::Crl(crl) => inspect::crl_json(&crl),
            };
            if cli.json {
                println!("{value}");
            } else {
                print!("{}", inspect::render_text(&value));
            }
            return Ok(());
        }
        Command::Verify(args) => return verify::run(&args, cli.json),
        Command::Revoke(args) => return revoke::run(&args, cli.json),
    };
    print_report(cli.json, &report);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2ei-ca: error: {e}");
            ExitCode::FAILURE
        }
    }
}
