//! `e2ei-ca verify`: RFC 5280 path validation with URI name constraints enforced (e2ei-core's
//! validator), optionally checking CRLs.

use std::path::{Path, PathBuf};

use der::Decode;
use e2ei_core::path::{RevocationPolicy, RevocationStatus, ValidationOptions, validate_path};
use e2ei_core::x509::{certificates_from_pem_or_der, name_to_string, serial_to_hex};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use crate::error::CliError;

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// Trust anchor(s) (PEM).
    #[arg(long = "root", required = true)]
    roots: Vec<PathBuf>,
    /// Untrusted intermediates (PEM, may hold several).
    #[arg(long = "untrusted")]
    untrusted: Vec<PathBuf>,
    /// CRLs (DER or PEM); every certificate below the anchor is checked against them.
    #[arg(long = "crl")]
    crls: Vec<PathBuf>,
    /// Fail when a certificate's CRL is not among `--crl`.
    #[arg(long)]
    require_crl: bool,
    /// Require the end entity to allow clientAuth (as Wire leaves do).
    #[arg(long)]
    client_auth: bool,
    /// Validation time (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
    /// The certificate to verify (PEM or DER; further certificates in a PEM file are used as
    /// intermediates, as in a downloaded chain).
    certificate: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Input {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn certs(path: &Path) -> Result<Vec<Certificate>, CliError> {
    let certs = certificates_from_pem_or_der(&read(path)?).map_err(|e| CliError::Input {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if certs.is_empty() {
        return Err(CliError::Input {
            path: path.to_owned(),
            reason: "holds no certificate".into(),
        });
    }
    Ok(certs)
}

fn crl(path: &Path) -> Result<CertificateList, CliError> {
    let bytes = read(path)?;
    let der = if bytes.starts_with(b"-----") {
        der::pem::decode_vec(&bytes)
            .map(|(_, d)| d)
            .map_err(|e| CliError::Input {
                path: path.to_owned(),
                reason: e.to_string(),
            })?
    } else {
        bytes
    };
    CertificateList::from_der(&der).map_err(|e| CliError::Input {
        path: path.to_owned(),
        reason: format!("not a CRL: {e}"),
    })
}

pub(crate) fn run(args: &VerifyArgs, json: bool) -> Result<(), CliError> {
    let mut anchors = Vec::new();
    for path in &args.roots {
        anchors.extend(certs(path)?);
    }
    let mut chain = certs(&args.certificate)?;
    let leaf = chain.remove(0);
    let mut intermediates = chain;
    for path in &args.untrusted {
        intermediates.extend(certs(path)?);
    }
    let crls = args
        .crls
        .iter()
        .map(|p| crl(p))
        .collect::<Result<Vec<_>, _>>()?;
    let time = match &args.at {
        None => OffsetDateTime::now_utc(),
        Some(t) => OffsetDateTime::parse(t, &Rfc3339)
            .map_err(|e| CliError::Usage(format!("--at `{t}` is not RFC 3339: {e}")))?,
    };
    let policy = if args.require_crl {
        RevocationPolicy::Require
    } else if crls.is_empty() {
        RevocationPolicy::Ignore
    } else {
        RevocationPolicy::CheckIfAvailable
    };
    let mut options = ValidationOptions::default().with_crls(&crls, policy);
    if args.client_auth {
        options = options.with_required_eku(e2ei_core::oid::KP_CLIENT_AUTH);
    }
    let path = validate_path(&anchors, &intermediates, &leaf, time, &options)?;
    let revocation = match path.revocation() {
        RevocationStatus::NotChecked => "not checked".to_owned(),
        RevocationStatus::Good => "good".to_owned(),
        other => format!("{other:?}"),
    };
    let chain: Vec<_> = path
        .certificates()
        .iter()
        .map(|c| {
            json!({
                "subject": name_to_string(c.tbs_certificate().subject()),
                "serial": serial_to_hex(c.tbs_certificate().serial_number()),
            })
        })
        .collect();
    if json {
        println!(
            "{}",
            json!({ "valid": true, "path": chain, "revocation": revocation })
        );
    } else {
        println!("OK: {}", args.certificate.display());
        for (i, c) in chain.iter().enumerate() {
            println!(
                "  {i}: {} (serial {})",
                c["subject"].as_str().unwrap_or_default(),
                c["serial"].as_str().unwrap_or_default()
            );
        }
        println!("  revocation: {revocation}");
    }
    Ok(())
}
