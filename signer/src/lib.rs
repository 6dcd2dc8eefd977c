//! e2ei-signer: the one signing seam. Certificates, CRLs and JWTs are all signed through
//! [`Signer`], whatever holds the key:
//!
//! - software keys in PKCS#8 PEM files, optionally password-encrypted (`file:PATH`);
//! - PKCS#11 tokens through `cryptoki` (RFC 7512 `pkcs11:` URIs);
//! - YubiKey PIV slots through the `yubikey` crate (`yubikey:slot=9c`, cargo feature `yubikey`).
//!
//! Every signature is verified against the key's public half before it is returned, so a
//! faulty token or a wrong key can never produce a bad certificate silently.
#![deny(unsafe_code)]

use std::path::PathBuf;

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::key::{KeyError, PublicKey, fixed_signature_to_x509};

pub mod pkcs11;
mod secret;
pub mod software;
pub mod uri;
#[cfg(feature = "yubikey")]
pub mod yubikey;

pub use secret::{SecretSource, SecretString};
pub use uri::KeyUri;

/// Errors from opening, generating or using a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The key URI does not parse or names an unknown scheme or attribute.
    #[error("invalid key URI `{uri}`: {reason}")]
    InvalidUri {
        /// The URI, with any secret stripped.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No key exists at the URI.
    #[error("key not found: {0}")]
    KeyNotFound(String),
    /// A key already exists where a new one was to be generated.
    #[error("a key already exists at {0}; refusing to overwrite it")]
    KeyExists(String),
    /// The backend cannot hold or use keys of this algorithm.
    #[error("{backend} does not support {alg} keys")]
    UnsupportedAlgorithm {
        /// The backend name.
        backend: &'static str,
        /// The algorithm asked for.
        alg: KeyAlgorithm,
    },
    /// A PIN or password was refused, or could not be read from its source.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The key file or secret source could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key material is malformed.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// The backend signed, but the signature did not verify with the public key.
    #[error("the signature produced by {0} does not verify with its public key")]
    SignatureCheckFailed(String),
    /// The token or device reported an error.
    #[error("{backend}: {message}")]
    Backend {
        /// The backend name.
        backend: &'static str,
        /// Its error.
        message: String,
    },
    /// The backend was not compiled in.
    #[error("{0} support is not compiled in (enable the cargo feature `{0}`)")]
    NotCompiledIn(&'static str),
}

impl From<KeyError> for SignerError {
    fn from(e: KeyError) -> Self {
        SignerError::MalformedKey(e.to_string())
    }
}

/// What a key store implements. Use it through [`Signer`], which verifies every signature.
pub trait SigningBackend: Send + Sync {
    /// The public key.
    fn public_key(&self) -> &PublicKey;

    /// Signs `message`, returning the fixed-size signature (Ed25519, or ECDSA `r || s`).
    /// ECDSA backends hash with the algorithm's hash (SHA-256/384/512) themselves.
    fn sign_fixed(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;

    /// The key URI without secrets, for transcripts and errors.
    fn describe(&self) -> String;
}

/// A signature, in its fixed-size form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    alg: KeyAlgorithm,
    fixed: Vec<u8>,
}

impl Signature {
    /// The algorithm that made it.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The JWS form: Ed25519's 64 bytes or ECDSA `r || s` (RFC 7518 §3.4).
    pub fn to_jws(&self) -> &[u8] {
        &self.fixed
    }

    /// The X.509 form: Ed25519's 64 bytes or a DER `Ecdsa-Sig-Value`.
    pub fn to_x509(&self) -> Result<Vec<u8>, SignerError> {
        Ok(fixed_signature_to_x509(self.alg, &self.fixed)?)
    }
}

/// A key that signs, wherever it lives; every signature is verified before it is returned.
pub struct Signer {
    backend: Box<dyn SigningBackend>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key", &self.backend.describe())
            .field("algorithm", &self.algorithm())
            .finish()
    }
}

/// Options for generating a key.
#[derive(Clone, Debug, Default)]
pub struct GenerateOptions {
    /// Password that encrypts a software key file (PKCS#8 PBES2); `None` writes it unencrypted.
    pub file_password: Option<SecretString>,
    /// YubiKey touch policy: `never`, `always` or `cached`.
    pub touch_policy: Option<String>,
    /// YubiKey PIN policy: `never`, `once` or `always`.
    pub pin_policy: Option<String>,
}

impl Signer {
    /// Wraps a backend.
    pub fn from_backend(backend: Box<dyn SigningBackend>) -> Self {
        Self { backend }
    }

    /// Opens the existing key the URI names.
    pub fn open(uri: &KeyUri) -> Result<Self, SignerError> {
        let backend: Box<dyn SigningBackend> = match uri {
            KeyUri::File(file) => Box::new(software::SoftwareKey::open(file)?),
            KeyUri::Pkcs11(p11) => Box::new(pkcs11::Pkcs11Key::open(p11)?),
            KeyUri::YubiKey(yk) => open_yubikey(yk)?,
        };
        Ok(Self { backend })
    }

    /// Generates a key held in memory only (see [`software::SoftwareKey::ephemeral`]).
    pub fn ephemeral(alg: KeyAlgorithm) -> Result<Self, SignerError> {
        Ok(Self::from_backend(Box::new(
            software::SoftwareKey::ephemeral(alg)?,
        )))
    }

    /// Generates a new key at the URI (a new file, a new token object, a YubiKey slot).
    pub fn generate(
        uri: &KeyUri,
        alg: KeyAlgorithm,
        options: &GenerateOptions,
    ) -> Result<Self, SignerError> {
        let backend: Box<dyn SigningBackend> = match uri {
            KeyUri::File(file) => Box::new(software::SoftwareKey::generate(
                file,
                alg,
                options.file_password.as_ref(),
            )?),
            KeyUri::Pkcs11(p11) => Box::new(pkcs11::Pkcs11Key::generate(p11, alg)?),
            KeyUri::YubiKey(yk) => generate_yubikey(yk, alg, options)?,
        };
        Ok(Self { backend })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.backend.public_key().algorithm()
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        self.backend.public_key()
    }

    /// The key URI without secrets.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Signs `message` and verifies the signature before returning it.
    pub fn sign(&self, message: &[u8]) -> Result<Signature, SignerError> {
        let fixed = self.backend.sign_fixed(message)?;
        self.public_key()
            .verify_fixed(message, &fixed)
            .map_err(|_| SignerError::SignatureCheckFailed(self.describe()))?;
        Ok(Signature {
            alg: self.algorithm(),
            fixed,
        })
    }
}

#[cfg(feature = "yubikey")]
fn open_yubikey(uri: &uri::YubiKeyUri) -> Result<Box<dyn SigningBackend>, SignerError> {
    Ok(Box::new(yubikey::YubiKeySlot::open(uri)?))
}

#[cfg(not(feature = "yubikey"))]
fn open_yubikey(_: &uri::YubiKeyUri) -> Result<Box<dyn SigningBackend>, SignerError> {
    Err(SignerError::NotCompiledIn("yubikey"))
}

#[cfg(feature = "yubikey")]
fn generate_yubikey(
    uri: &uri::YubiKeyUri,
    alg: KeyAlgorithm,
    options: &GenerateOptions,
) -> Result<Box<dyn SigningBackend>, SignerError> {
    Ok(Box::new(yubikey::YubiKeySlot::generate(uri, alg, options)?))
}

#[cfg(not(feature = "yubikey"))]
fn generate_yubikey(
    _: &uri::YubiKeyUri,
    _: KeyAlgorithm,
    _: &GenerateOptions,
) -> Result<Box<dyn SigningBackend>, SignerError> {
    Err(SignerError::NotCompiledIn("yubikey"))
}
