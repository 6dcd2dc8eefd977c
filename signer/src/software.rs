//! Software keys in PKCS#8 PEM files (`PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with PBES2:
//! scrypt + AES-256-CBC). New files are created 0600 and never overwritten.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use der::Decode;
use der::asn1::ObjectIdentifier;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::key::PublicKey;
use e2ei_core::oid;
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use zeroize::Zeroizing;

use crate::uri::{FileUri, KEY_PASSWORD_ENV, KeyUri};
use crate::{SecretSource, SecretString, SignerError, SigningBackend};

enum KeyPairKind {
    Ed25519(Ed25519KeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A private key loaded from a PKCS#8 PEM file. aws-lc-rs keeps the key material in its own
/// memory and clears it on drop; the decoded file contents are zeroized here.
pub struct SoftwareKey {
    pair: KeyPairKind,
    public: PublicKey,
    uri: String,
}

fn fixed_signing(alg: KeyAlgorithm) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    match alg {
        KeyAlgorithm::Ed25519 => None,
        KeyAlgorithm::P256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        KeyAlgorithm::P384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        KeyAlgorithm::P521 => Some(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SignerError + '_ {
    move |source| SignerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The algorithm of a PKCS#8 `PrivateKeyInfo`.
fn pkcs8_algorithm(der: &[u8]) -> Result<KeyAlgorithm, SignerError> {
    let info = PrivateKeyInfoRef::from_der(der)
        .map_err(|e| SignerError::MalformedKey(format!("not a PKCS#8 PrivateKeyInfo: {e}")))?;
    let algorithm = &info.algorithm;
    if algorithm.oid == oid::ED25519 {
        return Ok(KeyAlgorithm::Ed25519);
    }
    if algorithm.oid != oid::EC_PUBLIC_KEY {
        return Err(SignerError::MalformedKey(format!(
            "unsupported private key algorithm {} (supported: Ed25519, EC P-256/P-384/P-521)",
            algorithm.oid
        )));
    }
    let curve: ObjectIdentifier = algorithm
        .parameters
        .ok_or_else(|| SignerError::MalformedKey("EC private key without a named curve".into()))?
        .decode_as()
        .map_err(|e| SignerError::MalformedKey(format!("EC curve parameter: {e}")))?;
    KeyAlgorithm::ALL
        .into_iter()
        .find(|a| a.curve_oid() == Some(curve))
        .ok_or_else(|| SignerError::MalformedKey(format!("unsupported EC curve {curve}")))
}

impl SoftwareKey {
    /// Opens an existing key file, decrypting it if it is encrypted.
    pub fn open(file: &FileUri) -> Result<Self, SignerError> {
        let path = &file.path;
        let text = Zeroizing::new(std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SignerError::KeyNotFound(format!("no key file at {}", path.display()))
            } else {
                SignerError::Io {
                    path: path.clone(),
                    source: e,
                }
            }
        })?);
        let (label, der) = der::pem::decode_vec(&text).map_err(|e| {
            SignerError::MalformedKey(format!("{} is not a PEM key file: {e}", path.display()))
        })?;
        let der = Zeroizing::new(der);
        let plain: Zeroizing<Vec<u8>> = match label {
            "PRIVATE KEY" => der,
            "ENCRYPTED PRIVATE KEY" => {
                let source = file
                    .password_source
                    .clone()
                    .unwrap_or_else(|| SecretSource::Env(KEY_PASSWORD_ENV.to_owned()));
                let password = source.read()?;
                let encrypted = EncryptedPrivateKeyInfoRef::from_der(&der)
                    .map_err(|e| SignerError::MalformedKey(format!("encrypted PKCS#8: {e}")))?;
                let document = encrypted.decrypt(password.expose()).map_err(|_| {
                    SignerError::Authentication(format!(
                        "cannot decrypt {}: wrong password (from {source})",
                        path.display()
                    ))
                })?;
                Zeroizing::new(document.as_bytes().to_vec())
            }
            other => {
                return Err(SignerError::MalformedKey(format!(
                    "{}: expected a PRIVATE KEY or ENCRYPTED PRIVATE KEY block, got {other}",
                    path.display()
                )));
            }
        };
        let alg = pkcs8_algorithm(&plain)?;
        let uri = KeyUri::File(file.clone()).to_string();
        Self::from_pkcs8(alg, &plain, uri)
    }

    fn from_pkcs8(alg: KeyAlgorithm, der: &[u8], uri: String) -> Result<Self, SignerError> {
        let malformed = |_| SignerError::MalformedKey(format!("{alg} PKCS#8 key rejected"));
        let (pair, raw) = match fixed_signing(alg) {
            None => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(malformed)?;
                let raw = pair.public_key().as_ref().to_vec();
                (KeyPairKind::Ed25519(pair), raw)
            }
            Some(signing) => {
                let pair = EcdsaKeyPair::from_pkcs8(signing, der).map_err(malformed)?;
                let raw = pair.public_key().as_ref().to_vec();
                (KeyPairKind::Ecdsa(pair), raw)
            }
        };
        Ok(Self {
            pair,
            public: PublicKey::from_raw(alg, &raw)?,
            uri,
        })
    }

    /// Generates a key that lives in memory only (a client's per-enrollment ACME account key,
    /// test keys). `describe` names it `ephemeral:{alg}`.
    pub fn ephemeral(alg: KeyAlgorithm) -> Result<Self, SignerError> {
        let pkcs8 = generate_pkcs8(alg)?;
        Self::from_pkcs8(alg, &pkcs8, format!("ephemeral:{alg}"))
    }

    /// Loads an unencrypted PKCS#8 key from PEM text, such as a key bundle handed over in
    /// configuration (wire-server's `dpopSigKeyBundle`: a `PRIVATE KEY` block, optionally
    /// followed by its `PUBLIC KEY`, which must then match). `name` is what `describe` shows.
    pub fn from_pem(pem: &str, name: &str) -> Result<Self, SignerError> {
        let mut private: Option<Zeroizing<Vec<u8>>> = None;
        let mut public: Option<Vec<u8>> = None;
        for block in pem_blocks(pem) {
            let (label, der) = der::pem::decode_vec(block.as_bytes())
                .map_err(|e| SignerError::MalformedKey(format!("{name}: bad PEM block: {e}")))?;
            let der = Zeroizing::new(der);
            match label {
                "PRIVATE KEY" if private.is_none() => private = Some(der),
                "PUBLIC KEY" if public.is_none() => public = Some(der.to_vec()),
                other => {
                    return Err(SignerError::MalformedKey(format!(
                        "{name}: unexpected PEM block `{other}` (expected one PRIVATE KEY and at most one PUBLIC KEY)"
                    )));
                }
            }
        }
        let private = private
            .ok_or_else(|| SignerError::MalformedKey(format!("{name}: no PRIVATE KEY block")))?;
        let alg = pkcs8_algorithm(&private)?;
        let key = Self::from_pkcs8(alg, &private, name.to_owned())?;
        if let Some(public) = public {
            let stated = PublicKey::from_spki_der(&public)?;
            if stated != key.public {
                return Err(SignerError::MalformedKey(format!(
                    "{name}: the PUBLIC KEY block does not belong to the private key"
                )));
            }
        }
        Ok(key)
    }

    /// Generates a key and writes it to a new 0600 file (encrypted if a password is given).
    /// Refuses to overwrite an existing file.
    pub fn generate(
        file: &FileUri,
        alg: KeyAlgorithm,
        password: Option<&SecretString>,
    ) -> Result<Self, SignerError> {
        let path = &file.path;
        if path.exists() {
            return Err(SignerError::KeyExists(path.display().to_string()));
        }
        let pkcs8 = generate_pkcs8(alg)?;
        let pem = Zeroizing::new(
            match password {
                None => der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &pkcs8),
                Some(password) => {
                    let info = PrivateKeyInfoRef::from_der(&pkcs8)
                        .map_err(|e| SignerError::MalformedKey(e.to_string()))?;
                    let encrypted =
                        info.encrypt(password.expose())
                            .map_err(|e| SignerError::Backend {
                                backend: "software",
                                message: format!("encrypting the key failed: {e}"),
                            })?;
                    der::pem::encode_string(
                        "ENCRYPTED PRIVATE KEY",
                        der::pem::LineEnding::LF,
                        encrypted.as_bytes(),
                    )
                }
            }
            .map_err(|e| SignerError::MalformedKey(e.to_string()))?,
        );
        write_new_private_file(path, pem.as_bytes())?;
        let uri = KeyUri::File(file.clone()).to_string();
        Self::from_pkcs8(alg, &pkcs8, uri)
    }
}

/// A fresh private key as PKCS#8 v1 DER.
fn generate_pkcs8(alg: KeyAlgorithm) -> Result<Zeroizing<Vec<u8>>, SignerError> {
    let keygen = |_| SignerError::Backend {
        backend: "software",
        message: format!("{alg} key generation failed"),
    };
    Ok(Zeroizing::new(match fixed_signing(alg) {
        None => Ed25519KeyPair::generate()
            .and_then(|p| p.to_pkcs8v1())
            .map_err(keygen)?
            .as_ref()
            .to_vec(),
        Some(signing) => EcdsaKeyPair::generate(signing)
            .and_then(|p| p.to_pkcs8v1())
            .map_err(keygen)?
            .as_ref()
            .to_vec(),
    }))
}

/// Splits PEM text into its `-----BEGIN …-----` … `-----END …-----` blocks.
fn pem_blocks(text: &str) -> Vec<Zeroizing<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Zeroizing<String>> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("-----BEGIN ") {
            current = Some(Zeroizing::new(String::new()));
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
        if line.starts_with("-----END ") {
            blocks.extend(current.take());
        }
    }
    blocks
}

/// Writes a file that must not exist yet, readable by its owner only.
fn write_new_private_file(path: &Path, contents: &[u8]) -> Result<(), SignerError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            SignerError::KeyExists(path.display().to_string())
        } else {
            io_error(path)(e)
        }
    })?;
    f.write_all(contents).map_err(io_error(path))?;
    f.sync_all().map_err(io_error(path))
}

impl SigningBackend for SoftwareKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign_fixed(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        match &self.pair {
            KeyPairKind::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyPairKind::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SignerError::Backend {
                    backend: "software",
                    message: "ECDSA signing failed".into(),
                }),
        }
    }

    fn describe(&self) -> String {
        self.uri.clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::{GenerateOptions, Signer};

    fn file_uri(dir: &Path, name: &str, password_env: Option<&str>) -> KeyUri {
        KeyUri::File(FileUri {
            path: dir.join(name),
            password_source: password_env.map(|v| SecretSource::Env(v.to_owned())),
        })
    }

    #[test]
    fn generates_signs_and_reopens_every_algorithm() {
        let dir = tempfile::tempdir().unwrap();
        for alg in KeyAlgorithm::ALL {
            let uri = file_uri(dir.path(), &format!("{alg}.pem"), None);
            let signer = Signer::generate(&uri, alg, &GenerateOptions::default()).unwrap();
            let sig = signer.sign(b"to be signed").unwrap();
            assert_eq!(sig.to_jws().len(), alg.fixed_signature_len());
            signer
                .public_key()
                .verify_x509(b"to be signed", &sig.to_x509().unwrap())
                .unwrap();
            let reopened = Signer::open(&uri).unwrap();
            assert_eq!(reopened.public_key(), signer.public_key());
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(dir.path().join(format!("{alg}.pem")))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600);
            }
        }
    }

    #[test]
    fn encrypted_key_needs_the_right_password() {
        let dir = tempfile::tempdir().unwrap();
        let pw_file = dir.path().join("pw");
        std::fs::write(&pw_file, "correct horse\n").unwrap();
        let uri = KeyUri::File(FileUri {
            path: dir.path().join("enc.pem"),
            password_source: Some(SecretSource::File(pw_file.clone())),
        });
        let options = GenerateOptions {
            file_password: Some(SecretString::new("correct horse".into())),
            ..Default::default()
        };
        let signer = Signer::generate(&uri, KeyAlgorithm::P256, &options).unwrap();
        let text = std::fs::read_to_string(dir.path().join("enc.pem")).unwrap();
        assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert_eq!(
            Signer::open(&uri).unwrap().public_key(),
            signer.public_key()
        );
        std::fs::write(&pw_file, "wrong\n").unwrap();
        let err = Signer::open(&uri).unwrap_err();
        assert!(matches!(err, SignerError::Authentication(_)), "{err}");
        assert!(!err.to_string().contains("wrong\n"));
    }

    #[test]
    fn ephemeral_keys_sign_for_every_algorithm() {
        for alg in KeyAlgorithm::ALL {
            let signer = Signer::from_backend(Box::new(SoftwareKey::ephemeral(alg).unwrap()));
            let signature = signer.sign(b"message").unwrap();
            signer
                .public_key()
                .verify_fixed(b"message", signature.to_jws())
                .unwrap();
            assert_eq!(signer.describe(), format!("ephemeral:{alg}"));
        }
    }

    const BUNDLE_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIMkvahkqR9sHJSmFeCl3B7aJjsQGgwy++cccWTbuDyy+\n-----END PRIVATE KEY-----\n";
    const BUNDLE_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAdYI38UdxksC0K4Qx6E9JK9YfGm+ehnY18oKmHL2YsZk=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn loads_a_key_bundle_with_its_public_key() {
        let key =
            SoftwareKey::from_pem(&format!("{BUNDLE_PRIVATE}{BUNDLE_PUBLIC}"), "bundle").unwrap();
        assert_eq!(key.public.algorithm(), KeyAlgorithm::Ed25519);
        assert_eq!(
            key.public.spki_der(),
            PublicKey::from_pem(BUNDLE_PUBLIC).unwrap().spki_der()
        );
        SoftwareKey::from_pem(BUNDLE_PRIVATE, "bundle").unwrap();
    }

    #[test]
    fn rejects_a_bundle_whose_public_key_does_not_match() {
        let other = SoftwareKey::ephemeral(KeyAlgorithm::Ed25519).unwrap();
        let bundle = format!("{BUNDLE_PRIVATE}{}", other.public.to_pem());
        let err = SoftwareKey::from_pem(&bundle, "bundle").err().unwrap();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn rejects_a_bundle_without_a_private_key() {
        let err = SoftwareKey::from_pem(BUNDLE_PUBLIC, "bundle")
            .err()
            .unwrap();
        assert!(err.to_string().contains("no PRIVATE KEY"), "{err}");
    }

    #[test]
    fn refuses_to_overwrite_an_existing_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let uri = file_uri(dir.path(), "k.pem", None);
        Signer::generate(&uri, KeyAlgorithm::Ed25519, &GenerateOptions::default()).unwrap();
        let before = std::fs::read(dir.path().join("k.pem")).unwrap();
        let err =
            Signer::generate(&uri, KeyAlgorithm::Ed25519, &GenerateOptions::default()).unwrap_err();
        assert!(matches!(err, SignerError::KeyExists(_)), "{err}");
        assert_eq!(std::fs::read(dir.path().join("k.pem")).unwrap(), before);
    }

    #[test]
    fn missing_key_file_is_key_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let err = Signer::open(&file_uri(dir.path(), "absent.pem", None)).unwrap_err();
        assert!(matches!(err, SignerError::KeyNotFound(_)), "{err}");
    }

    #[test]
    fn rejects_a_file_that_is_not_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pub.pem"),
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let err = Signer::open(&file_uri(dir.path(), "pub.pem", None)).unwrap_err();
        assert!(matches!(err, SignerError::MalformedKey(_)), "{err}");
    }
}
