//! The enrollment's error: one variant per party or cause, each wrapping the typed error of
//! the step that failed (protocol doc §9.3 for the authority's answers, §8.1 for the issued
//! chain).

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_signer::SignerError;

use crate::acme::{AcmeError, ResponseError};
use crate::backend::BackendError;
use crate::csr::CsrError;
use crate::http::{HttpConfigError, TransportError};
use crate::oidc::OidcError;
use crate::verify::CertificateError;

/// The caller's settings cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The ACME directory URL is not an http(s) URL.
    #[error("the ACME directory URL {0:?} is not an http(s) URL")]
    DirectoryUrl(String),
    /// The MLS key given does not match the ciphersuite.
    #[error("the MLS key is {found}, the ciphersuite needs {expected}")]
    MlsKeyAlgorithm {
        /// The ciphersuite's algorithm.
        expected: KeyAlgorithm,
        /// The key's.
        found: KeyAlgorithm,
    },
}

/// Why an enrollment failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollError {
    /// The caller's settings cannot work.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Http(#[from] HttpConfigError),
    /// A request to the authority got no response.
    #[error("ACME: {0}")]
    Transport(#[from] TransportError),
    /// The authority refused, or answered outside the protocol (§9.3, §15).
    #[error("ACME: {0}")]
    Acme(#[from] AcmeError),
    /// The backend refused, or answered outside its API.
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    /// The OIDC login failed.
    #[error("OIDC login: {0}")]
    Oidc(#[from] OidcError),
    /// The trust anchors (`/roots.pem`) could not be read.
    #[error("trust anchors from {url}: {reason}")]
    TrustAnchors {
        /// Where they were fetched.
        url: String,
        /// Why they are unusable.
        reason: String,
    },
    /// The issued chain failed the client's checks (§8.1).
    #[error("issued certificate: {0}")]
    Certificate(#[from] CertificateError),
    /// The DPoP proof could not be built.
    #[error("DPoP proof: {0}")]
    Proof(#[from] e2ei_dpop::BuildError),
    /// The CSR could not be built.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// A key could not be generated or failed to sign.
    #[error("key: {0}")]
    Key(#[from] SignerError),
}

impl From<ResponseError> for EnrollError {
    fn from(e: ResponseError) -> Self {
        Self::Acme(AcmeError::Response(e))
    }
}
