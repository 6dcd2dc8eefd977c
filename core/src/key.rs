//! Public keys of the four supported algorithms: SPKI encoding, and signature verification
//! through the workspace's one crypto backend (aws-lc-rs). Path validation also verifies
//! RSA-signed certificates and CRLs of other PKIs ([`CertificateKey`], [`RsaPublicKey`]); RSA
//! keys are never Wire keys and e2ei issues nothing with them.

use aws_lc_rs::signature::{self, RsaParameters, UnparsedPublicKey, VerificationAlgorithm};
use der::asn1::{AnyRef, BitString, ObjectIdentifier};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::ciphersuite::{HashAlgorithm, KeyAlgorithm};
use crate::oid;

/// Why a public key or signature could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The SubjectPublicKeyInfo is not DER or not one of the supported key types.
    #[error("unsupported or malformed public key: {0}")]
    Unsupported(String),
    /// The key bytes have the wrong length or encoding for their algorithm.
    #[error("malformed {alg} public key: expected {expected} bytes, got {got}")]
    BadLength {
        /// The key algorithm.
        alg: KeyAlgorithm,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// An RSA key outside 2048–8192 bits, or whose size is not a multiple of 8 bits.
    #[error("RSA key of {bits} bits: only 2048 to 8192 bits, in multiples of 8, are accepted")]
    RsaKeySize {
        /// The modulus size.
        bits: u32,
    },
}

/// A public key: its algorithm and raw bytes (Ed25519: 32 bytes; EC: uncompressed SEC1 point).
#[derive(Clone)]
pub struct PublicKey {
    alg: KeyAlgorithm,
    raw: Vec<u8>,
    spki: SubjectPublicKeyInfoOwned,
    spki_der: Vec<u8>,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.alg == other.alg && self.raw == other.raw
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::hash::Hash::hash(&self.alg, state);
        self.raw.hash(state);
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({}, {})", self.alg, hex::encode(&self.raw))
    }
}

impl PublicKey {
    /// A key from its raw encoding, checking the length (and the SEC1 uncompressed tag).
    pub fn from_raw(alg: KeyAlgorithm, raw: &[u8]) -> Result<Self, KeyError> {
        let expected = alg.raw_public_key_len();
        if raw.len() != expected {
            return Err(KeyError::BadLength {
                alg,
                expected,
                got: raw.len(),
            });
        }
        if alg != KeyAlgorithm::Ed25519 && raw[0] != 0x04 {
            return Err(KeyError::Unsupported(
                "EC public keys must be uncompressed SEC1 points".into(),
            ));
        }
        let parameters = alg
            .curve_oid()
            .map(|curve| der::Any::from(AnyRef::from(&curve)));
        let oid = match alg {
            KeyAlgorithm::Ed25519 => oid::ED25519,
            _ => oid::EC_PUBLIC_KEY,
        };
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned { oid, parameters },
            subject_public_key: BitString::from_bytes(raw)
                .map_err(|e| KeyError::Unsupported(e.to_string()))?,
        };
        let spki_der = spki
            .to_der()
            .map_err(|e| KeyError::Unsupported(e.to_string()))?;
        Ok(Self {
            alg,
            raw: raw.to_vec(),
            spki,
            spki_der,
        })
    }

    /// A key from a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoOwned::from_der(der)
            .map_err(|e| KeyError::Unsupported(format!("not a SubjectPublicKeyInfo: {e}")))?;
        Self::from_spki(&spki)
    }

    /// A key from a parsed `SubjectPublicKeyInfo`.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, KeyError> {
        let alg = if spki.algorithm.oid == oid::ED25519 {
            if spki.algorithm.parameters.is_some() {
                return Err(KeyError::Unsupported(
                    "Ed25519 SPKI must not carry parameters".into(),
                ));
            }
            KeyAlgorithm::Ed25519
        } else if spki.algorithm.oid == oid::EC_PUBLIC_KEY {
            let curve: ObjectIdentifier = spki
                .algorithm
                .parameters
                .as_ref()
                .ok_or_else(|| KeyError::Unsupported("EC SPKI without a named curve".into()))?
                .decode_as()
                .map_err(|e| KeyError::Unsupported(format!("EC SPKI curve: {e}")))?;
            KeyAlgorithm::ALL
                .into_iter()
                .find(|a| a.curve_oid() == Some(curve))
                .ok_or_else(|| KeyError::Unsupported(format!("unsupported curve {curve}")))?
        } else if spki.algorithm.oid == oid::RSA_ENCRYPTION {
            return Err(KeyError::Unsupported(
                "RSA keys cannot be Wire or MLS keys: use Ed25519 or ECDSA P-256/P-384/P-521"
                    .into(),
            ));
        } else {
            return Err(KeyError::Unsupported(format!(
                "unsupported key algorithm {}",
                spki.algorithm.oid
            )));
        };
        let raw = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::Unsupported("public key BIT STRING has unused bits".into()))?;
        Self::from_raw(alg, raw)
    }

    /// A key from a PEM `PUBLIC KEY` block.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = der::pem::decode_vec(pem.as_bytes())
            .map_err(|e| KeyError::Unsupported(format!("not PEM: {e}")))?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::Unsupported(format!(
                "expected a PUBLIC KEY PEM block, got {label}"
            )));
        }
        Self::from_spki_der(&der)
    }

    /// The key algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The raw key bytes.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The SubjectPublicKeyInfo.
    pub fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The PEM `PUBLIC KEY` block.
    pub fn to_pem(&self) -> String {
        der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &self.spki_der)
            .unwrap_or_default()
    }

    /// The RFC 5280 §4.2.1.2 method-1 key identifier: SHA-1 of the public key bytes is the
    /// classic choice; e2ei uses the first 20 bytes of SHA-256 (method 4 of RFC 7093), which
    /// needs no second hash implementation.
    pub fn key_identifier(&self) -> Vec<u8> {
        let mut digest = HashAlgorithm::Sha256.digest(&self.raw);
        digest.truncate(20);
        digest
    }

    /// SHA-256 fingerprint of the DER SPKI, lowercase hex (for transcripts and logs).
    pub fn fingerprint_sha256(&self) -> String {
        hex::encode(HashAlgorithm::Sha256.digest(&self.spki_der))
    }

    /// Verifies a fixed-size signature (Ed25519, or ECDSA `r || s` as in JWS).
    pub fn verify_fixed(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        let alg: &dyn VerificationAlgorithm = match self.alg {
            KeyAlgorithm::Ed25519 => &signature::ED25519,
            KeyAlgorithm::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            KeyAlgorithm::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            KeyAlgorithm::P521 => &signature::ECDSA_P521_SHA512_FIXED,
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(message, signature)
            .map_err(|_| KeyError::BadSignature)
    }

    /// Verifies a signature in its X.509 encoding (Ed25519 raw, ECDSA DER `Ecdsa-Sig-Value`).
    pub fn verify_x509(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        let alg: &dyn VerificationAlgorithm = match self.alg {
            KeyAlgorithm::Ed25519 => &signature::ED25519,
            KeyAlgorithm::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyAlgorithm::P384 => &signature::ECDSA_P384_SHA384_ASN1,
            KeyAlgorithm::P521 => &signature::ECDSA_P521_SHA512_ASN1,
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(message, signature)
            .map_err(|_| KeyError::BadSignature)
    }
}

/// Why an X.509 signature (`signatureAlgorithm` and signature value) does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum X509SignatureFailure {
    /// The signature does not verify.
    Bad,
    /// The algorithm (or its pairing with the key) is not supported.
    Unsupported(String),
}

impl PublicKey {
    /// Verifies an X.509 signature over `message` made with `algorithm` (the certificate's,
    /// CRL's or CSR's `signatureAlgorithm`): Ed25519, or ECDSA on the key's curve with
    /// SHA-256/384/512, parameters absent. `signature` is the signature BIT STRING's bytes.
    pub fn verify_x509_with(
        &self,
        algorithm: &AlgorithmIdentifierOwned,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), X509SignatureFailure> {
        let Some(signer) = KeyAlgorithm::from_signature_oid(&algorithm.oid) else {
            return Err(X509SignatureFailure::Unsupported(format!(
                "signature algorithm {}",
                algorithm.oid
            )));
        };
        if algorithm.parameters.is_some() {
            return Err(X509SignatureFailure::Unsupported(format!(
                "signature algorithm {} with parameters",
                algorithm.oid
            )));
        }
        if signer == self.alg {
            return self
                .verify_x509(message, signature)
                .map_err(|_| X509SignatureFailure::Bad);
        }
        // ECDSA with a hash other than the curve's usual one (e.g. P-384 key, SHA-256).
        let verifier: &dyn VerificationAlgorithm = match (self.alg, algorithm.oid) {
            (KeyAlgorithm::P256, oid::ECDSA_WITH_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
            (KeyAlgorithm::P256, oid::ECDSA_WITH_SHA512) => &signature::ECDSA_P256_SHA512_ASN1,
            (KeyAlgorithm::P384, oid::ECDSA_WITH_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
            (KeyAlgorithm::P384, oid::ECDSA_WITH_SHA512) => &signature::ECDSA_P384_SHA512_ASN1,
            (KeyAlgorithm::P521, oid::ECDSA_WITH_SHA256) => &signature::ECDSA_P521_SHA256_ASN1,
            (KeyAlgorithm::P521, oid::ECDSA_WITH_SHA384) => &signature::ECDSA_P521_SHA384_ASN1,
            (key_alg, _) => {
                return Err(X509SignatureFailure::Unsupported(format!(
                    "signature algorithm {} with a {key_alg} key",
                    algorithm.oid
                )));
            }
        };
        UnparsedPublicKey::new(verifier, &self.raw)
            .verify(message, signature)
            .map_err(|_| X509SignatureFailure::Bad)
    }
}

/// A key that verifies X.509 signatures in path validation: a key of the Wire algorithms, or
/// an RSA key of another PKI (a federation chain, a real-world root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateKey {
    /// Ed25519 or ECDSA P-256/P-384/P-521.
    Wire(PublicKey),
    /// RSA, 2048 to 8192 bits in multiples of 8: verification only.
    Rsa(RsaPublicKey),
}

impl CertificateKey {
    /// A key from a parsed `SubjectPublicKeyInfo`: rsaEncryption, or what
    /// [`PublicKey::from_spki`] reads.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, KeyError> {
        if spki.algorithm.oid == oid::RSA_ENCRYPTION {
            RsaPublicKey::from_spki(spki).map(Self::Rsa)
        } else {
            PublicKey::from_spki(spki).map(Self::Wire)
        }
    }

    /// The Wire key, `None` for RSA.
    pub fn wire(&self) -> Option<&PublicKey> {
        match self {
            Self::Wire(key) => Some(key),
            Self::Rsa(_) => None,
        }
    }

    /// Verifies an X.509 signature over `message` made with `algorithm`: as
    /// [`PublicKey::verify_x509_with`] for Wire keys, as [`RsaPublicKey::verify_x509_with`] for
    /// RSA keys.
    pub fn verify_x509_with(
        &self,
        algorithm: &AlgorithmIdentifierOwned,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), X509SignatureFailure> {
        match self {
            Self::Wire(key) => key.verify_x509_with(algorithm, message, signature),
            Self::Rsa(key) => key.verify_x509_with(algorithm, message, signature),
        }
    }
}

/// An RSA public key (rsaEncryption, RFC 8017) of 2048 to 8192 bits, a multiple of 8 (as the
/// CA/Browser Forum Baseline Requirements §6.1.5 and webpki require), for verifying X.509
/// signatures: PKCS#1 v1.5 with SHA-256/384/512, and RSASSA-PSS with SHA-256/384/512, MGF1 of
/// the same hash and a salt of the hash's length. SHA-1 and other PSS parameters are refused.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    /// DER `RSAPublicKey` (the SPKI's BIT STRING contents).
    der: Vec<u8>,
    bits: u32,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits)
    }
}

/// RSASSA-PSS-params (RFC 4055 §3.1). Absent fields take the defaults SHA-1, MGF1 with SHA-1,
/// salt 20 and trailer 1.
#[derive(der::Sequence)]
struct RsaPssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

/// Parameters NULL or absent, as RFC 4055 §2.1 and §5 allow for hash and PKCS#1 v1.5
/// signature algorithm identifiers.
fn null_or_absent(parameters: Option<&der::Any>) -> bool {
    parameters.is_none_or(der::Any::is_null)
}

impl RsaPublicKey {
    /// The smallest modulus accepted, in bits.
    pub const MIN_BITS: u32 = 2048;
    /// The largest modulus accepted, in bits.
    pub const MAX_BITS: u32 = 8192;

    /// A key from an rsaEncryption `SubjectPublicKeyInfo` (parameters NULL, RFC 3279 §2.3.1).
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, KeyError> {
        if spki.algorithm.oid != oid::RSA_ENCRYPTION {
            return Err(KeyError::Unsupported(format!(
                "not an RSA key: {}",
                spki.algorithm.oid
            )));
        }
        if !spki
            .algorithm
            .parameters
            .as_ref()
            .is_some_and(der::Any::is_null)
        {
            return Err(KeyError::Unsupported(
                "rsaEncryption SPKI parameters must be NULL".into(),
            ));
        }
        let der = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::Unsupported("public key BIT STRING has unused bits".into()))?;
        let bits = RsaParameters::public_modulus_len(der)
            .map_err(|_| KeyError::Unsupported("malformed RSA public key".into()))?;
        if !(Self::MIN_BITS..=Self::MAX_BITS).contains(&bits) || bits % 8 != 0 {
            return Err(KeyError::RsaKeySize { bits });
        }
        Ok(Self {
            der: der.to_vec(),
            bits,
        })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Verifies an X.509 signature over `message` made with `algorithm`: sha256/384/512-
    /// WithRSAEncryption (parameters NULL or absent) or id-RSASSA-PSS with one of the three
    /// standard parameter sets. `signature` is the signature BIT STRING's bytes.
    pub fn verify_x509_with(
        &self,
        algorithm: &AlgorithmIdentifierOwned,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), X509SignatureFailure> {
        let pkcs1 = |verifier: &'static RsaParameters| {
            if null_or_absent(algorithm.parameters.as_ref()) {
                Ok(verifier)
            } else {
                Err(X509SignatureFailure::Unsupported(format!(
                    "signature algorithm {} with parameters other than NULL",
                    algorithm.oid
                )))
            }
        };
        let verifier: &'static RsaParameters = match algorithm.oid {
            oid::SHA256_WITH_RSA_ENCRYPTION => pkcs1(&signature::RSA_PKCS1_2048_8192_SHA256)?,
            oid::SHA384_WITH_RSA_ENCRYPTION => pkcs1(&signature::RSA_PKCS1_2048_8192_SHA384)?,
            oid::SHA512_WITH_RSA_ENCRYPTION => pkcs1(&signature::RSA_PKCS1_2048_8192_SHA512)?,
            oid::RSASSA_PSS => pss_verifier(algorithm.parameters.as_ref())?,
            oid::SHA1_WITH_RSA_ENCRYPTION => {
                return Err(X509SignatureFailure::Unsupported(
                    "sha1WithRSAEncryption: SHA-1 signatures are refused".into(),
                ));
            }
            other => {
                return Err(X509SignatureFailure::Unsupported(format!(
                    "signature algorithm {other} with an RSA key"
                )));
            }
        };
        UnparsedPublicKey::new(verifier, &self.der)
            .verify(message, signature)
            .map_err(|_| X509SignatureFailure::Bad)
    }
}

/// The verifier for RSASSA-PSS parameters: SHA-256/384/512, MGF1 with the same hash, salt
/// length equal to the hash length, trailer field 1 (RFC 4055 §3.1, the sets RFC 4055 §3.3
/// and CA/Browser Forum practice use). Anything else is refused.
fn pss_verifier(
    parameters: Option<&der::Any>,
) -> Result<&'static RsaParameters, X509SignatureFailure> {
    let refuse = |why: String| {
        X509SignatureFailure::Unsupported(format!(
            "RSASSA-PSS {why} (accepted: SHA-256/384/512, MGF1 with the same hash, salt of \
             the hash's length)"
        ))
    };
    let parameters = parameters.ok_or_else(|| refuse("without parameters".into()))?;
    let params = parameters
        .to_der()
        .ok()
        .and_then(|der| RsaPssParams::from_der(&der).ok())
        .ok_or_else(|| refuse("parameters that do not decode".into()))?;
    let hash = params
        .hash
        .ok_or_else(|| refuse("with the default hash, SHA-1".into()))?;
    if !null_or_absent(hash.parameters.as_ref()) {
        return Err(refuse("hash with parameters".into()));
    }
    let (verifier, hash_len): (&'static RsaParameters, u32) = match hash.oid {
        oid::SHA256 => (&signature::RSA_PSS_2048_8192_SHA256, 32),
        oid::SHA384 => (&signature::RSA_PSS_2048_8192_SHA384, 48),
        oid::SHA512 => (&signature::RSA_PSS_2048_8192_SHA512, 64),
        other => return Err(refuse(format!("with hash {other}"))),
    };
    let mgf = params
        .mask_gen
        .ok_or_else(|| refuse("with the default mask generation, MGF1 with SHA-1".into()))?;
    if mgf.oid != oid::MGF1 {
        return Err(refuse(format!("with mask generation function {}", mgf.oid)));
    }
    let mgf_hash = mgf
        .parameters
        .as_ref()
        .and_then(|p| p.to_der().ok())
        .and_then(|der| AlgorithmIdentifierOwned::from_der(&der).ok())
        .ok_or_else(|| refuse("MGF1 without a readable hash".into()))?;
    if mgf_hash.oid != hash.oid || !null_or_absent(mgf_hash.parameters.as_ref()) {
        return Err(refuse(format!(
            "MGF1 with hash {} under hash {}",
            mgf_hash.oid, hash.oid
        )));
    }
    let salt = params.salt_length.unwrap_or(20);
    if salt != hash_len {
        return Err(refuse(format!("salt length {salt} with hash {}", hash.oid)));
    }
    if params.trailer_field.is_some_and(|t| t != 1) {
        return Err(refuse("trailer field other than 1".into()));
    }
    Ok(verifier)
}

/// Converts a fixed-size signature (`r || s` for ECDSA) to its X.509 encoding.
pub fn fixed_signature_to_x509(alg: KeyAlgorithm, fixed: &[u8]) -> Result<Vec<u8>, KeyError> {
    if fixed.len() != alg.fixed_signature_len() {
        return Err(KeyError::BadLength {
            alg,
            expected: alg.fixed_signature_len(),
            got: fixed.len(),
        });
    }
    if alg == KeyAlgorithm::Ed25519 {
        return Ok(fixed.to_vec());
    }
    let (r, s) = fixed.split_at(fixed.len() / 2);
    fn to_uint(bytes: &[u8]) -> Result<der::asn1::UintRef<'_>, KeyError> {
        der::asn1::UintRef::new(bytes).map_err(|e| KeyError::Unsupported(e.to_string()))
    }
    #[derive(der::Sequence)]
    struct EcdsaSigValue<'a> {
        r: der::asn1::UintRef<'a>,
        s: der::asn1::UintRef<'a>,
    }
    EcdsaSigValue {
        r: to_uint(r)?,
        s: to_uint(s)?,
    }
    .to_der()
    .map_err(|e| KeyError::Unsupported(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair};

    #[test]
    fn spki_round_trip_and_der_conversion_for_every_ec_curve() {
        let rng = SystemRandom::new();
        for (alg, signing) in [
            (
                KeyAlgorithm::P256,
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            ),
            (
                KeyAlgorithm::P384,
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            ),
            (
                KeyAlgorithm::P521,
                &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            ),
        ] {
            let pair = EcdsaKeyPair::generate(signing).expect("keygen");
            let key = PublicKey::from_raw(alg, pair.public_key().as_ref()).expect("raw key");
            let round = PublicKey::from_spki_der(key.spki_der()).expect("spki");
            assert_eq!(round, key);
            let sig = pair.sign(&rng, b"message").expect("sign");
            key.verify_fixed(b"message", sig.as_ref())
                .expect("fixed verifies");
            let der_sig = fixed_signature_to_x509(alg, sig.as_ref()).expect("to der");
            key.verify_x509(b"message", &der_sig).expect("der verifies");
            assert_eq!(
                key.verify_fixed(b"other", sig.as_ref()),
                Err(KeyError::BadSignature)
            );
        }
    }

    #[test]
    fn rejects_wrong_length_and_compressed_points() {
        assert!(matches!(
            PublicKey::from_raw(KeyAlgorithm::Ed25519, &[0; 31]),
            Err(KeyError::BadLength { .. })
        ));
        let mut compressed = vec![0x02];
        compressed.extend([0u8; 64]);
        assert!(PublicKey::from_raw(KeyAlgorithm::P256, &compressed).is_err());
    }
}
