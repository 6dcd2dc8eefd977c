//! Ceremony files: one reviewable TOML file per ceremony. Unknown fields are rejected so a
//! typo can never silently drop a constraint. Relative paths are relative to the file.

use std::path::{Path, PathBuf};

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::x509::CrlReason;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::CliError;

/// A subject distinguished name.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubjectConfig {
    pub(crate) common_name: String,
    pub(crate) organization: Option<String>,
    pub(crate) organizational_unit: Option<String>,
    pub(crate) country: Option<String>,
}

/// Validity: `validity_days` from `not_before` (default: now).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidityConfig {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) not_before: Option<time::OffsetDateTime>,
    pub(crate) days: u32,
}

/// Name constraints of an intermediate (RFC 5280 §4.2.1.10).
#[derive(Debug, Clone, Deserialize, serde::Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameConstraintsConfig {
    /// DNS names of the ACME server (its TLS names).
    #[serde(default)]
    pub(crate) permitted_dns: Vec<String>,
    /// The Wire federation domain(s): the hosts of `wireapp://` URIs.
    #[serde(default)]
    pub(crate) permitted_uri: Vec<String>,
}

/// `e2ei-ca key`: generate a key and write its public half.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyCeremony {
    /// Where to generate: `file:…`, `pkcs11:…`, `yubikey:…`.
    pub(crate) key: String,
    pub(crate) algorithm: KeyAlgorithm,
    /// PEM SubjectPublicKeyInfo output.
    pub(crate) public_key_out: PathBuf,
    /// For `file:` keys: encrypt with the password from the URI's `password-source`
    /// (default `E2EI_KEY_PASSWORD`).
    #[serde(default)]
    pub(crate) encrypt: bool,
    /// For YubiKeys: `never`, `once`, `always`.
    pub(crate) pin_policy: Option<String>,
    /// For YubiKeys: `never`, `always`, `cached`.
    pub(crate) touch_policy: Option<String>,
}

/// `e2ei-ca root`: a self-signed root.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RootCeremony {
    pub(crate) key: String,
    pub(crate) subject: SubjectConfig,
    pub(crate) validity: ValidityConfig,
    /// Must be 1 (root → intermediate → leaf); present so a review sees it.
    #[serde(default = "one")]
    pub(crate) path_len: u8,
    pub(crate) out: PathBuf,
}

fn one() -> u8 {
    1
}

/// `e2ei-ca intermediate`: an intermediate signed by the root.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IntermediateCeremony {
    pub(crate) issuer_key: String,
    pub(crate) issuer_certificate: PathBuf,
    /// The intermediate's public key (PEM), as written by `e2ei-ca key`.
    pub(crate) subject_public_key: PathBuf,
    pub(crate) subject: SubjectConfig,
    pub(crate) validity: ValidityConfig,
    #[serde(default)]
    pub(crate) path_len: u8,
    #[serde(default)]
    pub(crate) name_constraints: NameConstraintsConfig,
    /// Where the root's CRL is published.
    #[serde(default)]
    pub(crate) crl_distribution_points: Vec<String>,
    pub(crate) out: PathBuf,
}

/// `e2ei-ca cross-csr`: a CSR made with an intermediate's key for another domain's root.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CrossCsrCeremony {
    pub(crate) key: String,
    pub(crate) subject: SubjectConfig,
    pub(crate) out: PathBuf,
}

/// `e2ei-ca cross-sign`: the federating root signs another domain's intermediate CSR.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CrossSignCeremony {
    pub(crate) issuer_key: String,
    pub(crate) issuer_certificate: PathBuf,
    pub(crate) csr: PathBuf,
    pub(crate) validity: ValidityConfig,
    #[serde(default)]
    pub(crate) path_len: u8,
    /// The other domain's names.
    #[serde(default)]
    pub(crate) name_constraints: NameConstraintsConfig,
    #[serde(default)]
    pub(crate) crl_distribution_points: Vec<String>,
    pub(crate) out: PathBuf,
}

/// One revoked certificate in a root CRL.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokedConfig {
    /// Serial in hex, or…
    pub(crate) serial: Option<String>,
    /// …the revoked certificate's PEM file.
    pub(crate) certificate: Option<PathBuf>,
    pub(crate) reason: Option<CrlReason>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) revocation_date: Option<time::OffsetDateTime>,
}

/// `e2ei-ca crl`: a CRL signed by the (offline) root.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CrlCeremony {
    pub(crate) issuer_key: String,
    pub(crate) issuer_certificate: PathBuf,
    pub(crate) crl_number: u64,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) this_update: Option<time::OffsetDateTime>,
    pub(crate) next_update_days: u32,
    /// The URL the CRL is published at (the intermediates' CRL distribution point); written as
    /// a critical issuingDistributionPoint with onlyContainsCACerts.
    pub(crate) distribution_point: Option<String>,
    #[serde(default)]
    pub(crate) revoked: Vec<RevokedConfig>,
    pub(crate) out: PathBuf,
}

/// A parsed ceremony file and the directory its relative paths start from.
pub(crate) struct Loaded<T> {
    pub(crate) config: T,
    pub(crate) path: PathBuf,
    pub(crate) text: String,
    base: PathBuf,
}

impl<T> Loaded<T> {
    /// A path from the file, resolved against the file's directory.
    pub(crate) fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base.join(path)
        }
    }

    /// A key URI from the file; relative `file:` paths resolve against the file's directory.
    pub(crate) fn resolve_key_uri(&self, uri: &str) -> Result<e2ei_signer::KeyUri, CliError> {
        let parsed: e2ei_signer::KeyUri = uri.parse().map_err(CliError::Signer)?;
        Ok(parsed.relative_to(&self.base))
    }
}

/// Reads and parses a ceremony file.
pub(crate) fn load<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Config {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let config = toml::from_str(&text).map_err(|e| CliError::Config {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Loaded {
        config,
        path: path.to_owned(),
        text,
        base,
    })
}
