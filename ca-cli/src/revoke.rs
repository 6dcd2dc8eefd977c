//! `e2ei-ca revoke`: revokes certificates at a running authority through its admin API
//! (`POST /admin/revocations`, bearer token) — by serial, by Wire client id (every certificate
//! of the device) or by Wire handle (every certificate of the user), with an RFC 5280 reason.
//! The token comes from `E2EI_ADMIN_TOKEN` or a file, never from the command line. The next CRL
//! lists what was revoked.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::CliError;

/// `e2ei-ca revoke` arguments.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["serial", "client_id", "handle"])))]
pub(crate) struct RevokeArgs {
    /// The authority's base URL, e.g. `https://acme.wire.example.com`.
    #[arg(long, env = "E2EI_AUTHORITY_URL")]
    authority: String,
    /// The certificate's serial number (hex, colons allowed).
    #[arg(long)]
    serial: Option<String>,
    /// Every certificate of this Wire device (`wireapp://…!…@domain`).
    #[arg(long)]
    client_id: Option<String>,
    /// Every certificate of this Wire user (`wireapp://%40handle@domain`).
    #[arg(long)]
    handle: Option<String>,
    /// RFC 5280 reason: unspecified, keyCompromise, affiliationChanged, superseded,
    /// cessationOfOperation, privilegeWithdrawn (or its code).
    #[arg(long, default_value = "unspecified")]
    reason: String,
    /// A file holding the admin token (default: the `E2EI_ADMIN_TOKEN` environment variable).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// PEM trust anchors for the authority's TLS certificate (a private CA).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
}

fn usage(reason: impl Into<String>) -> CliError {
    CliError::Usage(reason.into())
}

fn token(args: &RevokeArgs) -> Result<String, CliError> {
    let token = match &args.token_file {
        Some(file) => std::fs::read_to_string(file).map_err(|e| CliError::Io {
            path: file.clone(),
            source: e,
        })?,
        None => std::env::var("E2EI_ADMIN_TOKEN")
            .map_err(|_| usage("set E2EI_ADMIN_TOKEN or pass --token-file"))?,
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(usage("the admin token is empty"));
    }
    Ok(token)
}

fn request_body(args: &RevokeArgs) -> Value {
    let reason = match args.reason.parse::<u8>() {
        Ok(code) => json!(code),
        Err(_) => json!(args.reason),
    };
    let mut body = json!({ "reason": reason });
    if let Some(serial) = &args.serial {
        body["serial"] = json!(serial);
    }
    if let Some(client) = &args.client_id {
        body["client_id"] = json!(client);
    }
    if let Some(handle) = &args.handle {
        body["handle"] = json!(handle);
    }
    body
}

/// Runs the revocation; prints what was revoked.
pub(crate) fn run(args: &RevokeArgs, json_output: bool) -> Result<(), CliError> {
    let token = token(args)?;
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(file) = &args.tls_ca {
        let pem = std::fs::read(file).map_err(|e| CliError::Io {
            path: file.clone(),
            source: e,
        })?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| CliError::Input {
            path: file.clone(),
            reason: e.to_string(),
        })? {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = builder
        .build()
        .map_err(|e| usage(format!("HTTP client: {e}")))?;
    let url = format!("{}/admin/revocations", args.authority.trim_end_matches('/'));
    let body = request_body(args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("runtime: {e}")))?;
    let (status, reply): (u16, Value) = runtime.block_on(async {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .map_err(|e| CliError::Remote(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        let reply = response.json().await.unwrap_or(Value::Null);
        Ok::<_, CliError>((status, reply))
    })?;
    if status != 200 {
        let detail = reply["detail"].as_str().unwrap_or("no detail");
        let kind = reply["type"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("urn:ietf:params:acme:error:");
        return Err(CliError::Remote(format!(
            "the authority refused ({status} {kind}): {detail}"
        )));
    }
    if json_output {
        println!("{reply}");
        return Ok(());
    }
    for (label, key) in [
        ("revoked", "revoked"),
        ("already revoked", "already_revoked"),
    ] {
        for cert in reply[key].as_array().into_iter().flatten() {
            println!(
                "{label}: serial={} provisioner={}",
                cert["serial"].as_str().unwrap_or_default(),
                cert["provisioner"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}
