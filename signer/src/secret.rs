//! Secrets (PINs, passwords) come from the environment or a file — never from argv — and are
//! zeroized when dropped.

use std::path::PathBuf;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::SignerError;

/// A secret string, zeroized on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// Where a secret is read from: `env:NAME` or `file:PATH` (the file's first line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file; its first line, without the line ending, is the secret.
    File(PathBuf),
}

impl SecretSource {
    /// Parses `env:NAME` or `file:PATH`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("env:") {
            if name.is_empty() {
                return Err("`env:` needs a variable name".into());
            }
            Ok(Self::Env(name.to_owned()))
        } else if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err("`file:` needs a path".into());
            }
            Ok(Self::File(PathBuf::from(path)))
        } else {
            Err(format!(
                "secret source `{text}` must be `env:NAME` or `file:PATH`"
            ))
        }
    }

    /// Reads the secret.
    pub fn read(&self) -> Result<SecretString, SignerError> {
        match self {
            Self::Env(name) => std::env::var(name).map(SecretString::new).map_err(|_| {
                SignerError::Authentication(format!("environment variable {name} is not set"))
            }),
            Self::File(path) => {
                let mut text = std::fs::read_to_string(path).map_err(|source| SignerError::Io {
                    path: path.clone(),
                    source,
                })?;
                let secret = text.lines().next().unwrap_or_default().to_owned();
                text.zeroize();
                Ok(SecretString::new(secret))
            }
        }
    }
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}
