//! The CLI's errors: each names the problem and, where there is one, the file.

use std::path::PathBuf;

use e2ei_core::path::PathError;
use e2ei_core::profile::ProfileError;
use e2ei_core::x509::X509Error;
use e2ei_signer::SignerError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error("ceremony file {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Input { path: PathBuf, reason: String },
    #[error("refusing to overwrite existing output {0}")]
    OutputExists(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key: {0}")]
    Signer(#[from] SignerError),
    #[error("the key {key} does not match the public key of {certificate}")]
    KeyMismatch { key: String, certificate: PathBuf },
    #[error("refusing to sign: {0}")]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Crl(#[from] e2ei_crl::BuildError),
    #[error(transparent)]
    X509(#[from] X509Error),
    #[error("verification failed: {0}")]
    Verify(#[from] PathError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Remote(String),
}
