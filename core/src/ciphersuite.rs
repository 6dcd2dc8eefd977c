//! The four Wire MLS ciphersuites and what each fixes: key algorithm, JWS `alg`, hash
//! (wire-e2ei-protocol.md §0).

use std::fmt;
use std::str::FromStr;

use const_oid::ObjectIdentifier;
use serde::{Deserialize, Serialize};

/// A signature key algorithm e2ei signs and verifies with (protocol doc §0).
///
/// Config files and key URIs name them `ed25519`, `p256`, `p384`, `p521`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// Ed25519 (RFC 8032), JWS `EdDSA`.
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256, JWS `ES256`.
    P256,
    /// ECDSA over NIST P-384 with SHA-384, JWS `ES384`.
    P384,
    /// ECDSA over NIST P-521 with SHA-512, JWS `ES512`.
    P521,
}

/// Error for names that are not one of the supported algorithms, suites or hashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported {kind} `{value}` (supported: {supported})")]
pub struct UnsupportedAlgorithm {
    kind: &'static str,
    value: String,
    supported: &'static str,
}

impl KeyAlgorithm {
    /// All supported key algorithms.
    pub const ALL: [KeyAlgorithm; 4] = [Self::Ed25519, Self::P256, Self::P384, Self::P521];

    /// The JWS algorithm bound to this key type; the only `alg` ever accepted with it.
    pub fn jws_algorithm(self) -> JwsAlgorithm {
        match self {
            Self::Ed25519 => JwsAlgorithm::EdDSA,
            Self::P256 => JwsAlgorithm::ES256,
            Self::P384 => JwsAlgorithm::ES384,
            Self::P521 => JwsAlgorithm::ES512,
        }
    }

    /// The hash of the ciphersuite that uses this key (ECDSA digest; Wire UI thumbprints).
    pub fn hash(self) -> HashAlgorithm {
        match self {
            Self::Ed25519 | Self::P256 => HashAlgorithm::Sha256,
            Self::P384 => HashAlgorithm::Sha384,
            Self::P521 => HashAlgorithm::Sha512,
        }
    }

    /// The Wire MLS ciphersuite whose signature scheme this is.
    pub fn ciphersuite(self) -> Ciphersuite {
        match self {
            Self::Ed25519 => Ciphersuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519,
            Self::P256 => Ciphersuite::Mls128Dhkemp256Aes128gcmSha256P256,
            Self::P384 => Ciphersuite::Mls256Dhkemp384Aes256gcmSha384P384,
            Self::P521 => Ciphersuite::Mls256Dhkemp521Aes256gcmSha512P521,
        }
    }

    /// Length in bytes of one field element / coordinate (Ed25519: the public key).
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::Ed25519 | Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    /// Length of the fixed-size signature: Ed25519's 64 bytes, or ECDSA `r || s`.
    pub fn fixed_signature_len(self) -> usize {
        match self {
            Self::Ed25519 => 64,
            other => 2 * other.coordinate_len(),
        }
    }

    /// Length of the raw public key: 32 bytes (Ed25519) or the uncompressed SEC1 point.
    pub fn raw_public_key_len(self) -> usize {
        match self {
            Self::Ed25519 => 32,
            other => 1 + 2 * other.coordinate_len(),
        }
    }

    /// JWK `crv` member.
    pub fn jwk_curve(self) -> &'static str {
        match self {
            Self::Ed25519 => "Ed25519",
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// The named-curve OID of an EC key (`None` for Ed25519, whose SPKI has no parameters).
    pub fn curve_oid(self) -> Option<ObjectIdentifier> {
        match self {
            Self::Ed25519 => None,
            Self::P256 => Some(crate::oid::SECP256R1),
            Self::P384 => Some(crate::oid::SECP384R1),
            Self::P521 => Some(crate::oid::SECP521R1),
        }
    }

    /// The X.509 signature algorithm OID used when a key of this type signs
    /// (RFC 8410 Ed25519; RFC 5758 ecdsa-with-SHA256/384/512, no parameters).
    pub fn signature_oid(self) -> ObjectIdentifier {
        match self {
            Self::Ed25519 => crate::oid::ED25519,
            Self::P256 => crate::oid::ECDSA_WITH_SHA256,
            Self::P384 => crate::oid::ECDSA_WITH_SHA384,
            Self::P521 => crate::oid::ECDSA_WITH_SHA512,
        }
    }

    /// The X.509 `AlgorithmIdentifier` for signatures made by this key type.
    pub fn signature_algorithm_identifier(self) -> spki::AlgorithmIdentifierOwned {
        spki::AlgorithmIdentifierOwned {
            oid: self.signature_oid(),
            parameters: None,
        }
    }

    /// The key algorithm whose signatures carry `oid`, if supported.
    pub fn from_signature_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.signature_oid() == *oid)
    }

    /// The config / URI name: `ed25519`, `p256`, `p384`, `p521`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::P256 => "p256",
            Self::P384 => "p384",
            Self::P521 => "p521",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = UnsupportedAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.name() == s)
            .ok_or_else(|| UnsupportedAlgorithm {
                kind: "key algorithm",
                value: s.to_owned(),
                supported: "ed25519, p256, p384, p521",
            })
    }
}

/// JWS `alg` values Wire uses (RFC 7518 §3.4, RFC 8037 §3.1). Anything else — `none`, HS*,
/// RS*, PS* — is unsupported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JwsAlgorithm {
    /// Ed25519 signatures.
    EdDSA,
    /// ECDSA P-256 SHA-256.
    ES256,
    /// ECDSA P-384 SHA-384.
    ES384,
    /// ECDSA P-521 SHA-512.
    ES512,
}

impl JwsAlgorithm {
    /// The key type this `alg` requires.
    pub fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            Self::EdDSA => KeyAlgorithm::Ed25519,
            Self::ES256 => KeyAlgorithm::P256,
            Self::ES384 => KeyAlgorithm::P384,
            Self::ES512 => KeyAlgorithm::P521,
        }
    }

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
        }
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JwsAlgorithm {
    type Err = UnsupportedAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::EdDSA, Self::ES256, Self::ES384, Self::ES512]
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or_else(|| UnsupportedAlgorithm {
                kind: "JWS alg",
                value: s.to_owned(),
                supported: "EdDSA, ES256, ES384, ES512",
            })
    }
}

/// Hash functions of the Wire ciphersuites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &aws_lc_rs::digest::SHA256,
            Self::Sha384 => &aws_lc_rs::digest::SHA384,
            Self::Sha512 => &aws_lc_rs::digest::SHA512,
        };
        aws_lc_rs::digest::digest(alg, data).as_ref().to_vec()
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// The MLS ciphersuites (RFC 9420 §17.1) Wire supports for end-to-end identity. Others are
/// rejected for acquisition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Ciphersuite {
    /// 0x0001 `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`.
    Mls128Dhkemx25519Aes128gcmSha256Ed25519 = 0x0001,
    /// 0x0002 `MLS_128_DHKEMP256_AES128GCM_SHA256_P256`.
    Mls128Dhkemp256Aes128gcmSha256P256 = 0x0002,
    /// 0x0005 `MLS_256_DHKEMP521_AES256GCM_SHA512_P521`.
    Mls256Dhkemp521Aes256gcmSha512P521 = 0x0005,
    /// 0x0007 `MLS_256_DHKEMP384_AES256GCM_SHA384_P384`.
    Mls256Dhkemp384Aes256gcmSha384P384 = 0x0007,
}

impl Ciphersuite {
    /// All four suites.
    pub const ALL: [Ciphersuite; 4] = [
        Self::Mls128Dhkemx25519Aes128gcmSha256Ed25519,
        Self::Mls128Dhkemp256Aes128gcmSha256P256,
        Self::Mls256Dhkemp521Aes256gcmSha512P521,
        Self::Mls256Dhkemp384Aes256gcmSha384P384,
    ];

    /// The RFC 9420 code point.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The suite with this code point, if Wire supports it for E2EI.
    pub fn from_code(code: u16) -> Result<Self, UnsupportedAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|cs| cs.code() == code)
            .ok_or_else(|| UnsupportedAlgorithm {
                kind: "MLS ciphersuite",
                value: format!("0x{code:04x}"),
                supported: "0x0001, 0x0002, 0x0005, 0x0007",
            })
    }

    /// The suite's signature key algorithm.
    pub fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            Self::Mls128Dhkemx25519Aes128gcmSha256Ed25519 => KeyAlgorithm::Ed25519,
            Self::Mls128Dhkemp256Aes128gcmSha256P256 => KeyAlgorithm::P256,
            Self::Mls256Dhkemp384Aes256gcmSha384P384 => KeyAlgorithm::P384,
            Self::Mls256Dhkemp521Aes256gcmSha512P521 => KeyAlgorithm::P521,
        }
    }

    /// The suite's JWS algorithm.
    pub fn jws_algorithm(self) -> JwsAlgorithm {
        self.key_algorithm().jws_algorithm()
    }

    /// The suite's hash (used for the device thumbprint shown to users).
    pub fn hash(self) -> HashAlgorithm {
        self.key_algorithm().hash()
    }

    /// The RFC 9420 name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mls128Dhkemx25519Aes128gcmSha256Ed25519 => {
                "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"
            }
            Self::Mls128Dhkemp256Aes128gcmSha256P256 => "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
            Self::Mls256Dhkemp384Aes256gcmSha384P384 => "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
            Self::Mls256Dhkemp521Aes256gcmSha512P521 => "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
        }
    }
}

impl fmt::Display for Ciphersuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_protocol_section_0() {
        let rows = [
            (
                0x0001,
                KeyAlgorithm::Ed25519,
                "EdDSA",
                HashAlgorithm::Sha256,
            ),
            (0x0002, KeyAlgorithm::P256, "ES256", HashAlgorithm::Sha256),
            (0x0007, KeyAlgorithm::P384, "ES384", HashAlgorithm::Sha384),
            (0x0005, KeyAlgorithm::P521, "ES512", HashAlgorithm::Sha512),
        ];
        for (code, key, alg, hash) in rows {
            let suite = Ciphersuite::from_code(code).expect("supported suite");
            assert_eq!(suite.key_algorithm(), key);
            assert_eq!(suite.jws_algorithm().as_str(), alg);
            assert_eq!(suite.hash(), hash);
            assert_eq!(alg.parse::<JwsAlgorithm>(), Ok(key.jws_algorithm()));
            assert_eq!(key.jws_algorithm().key_algorithm(), key);
        }
    }

    #[test]
    fn rejects_other_ciphersuites_and_algs() {
        assert!(Ciphersuite::from_code(0x0003).is_err());
        for alg in ["none", "HS256", "RS256", "PS256", "es256", ""] {
            assert!(alg.parse::<JwsAlgorithm>().is_err(), "{alg} accepted");
        }
        assert!("rsa2048".parse::<KeyAlgorithm>().is_err());
    }

    #[test]
    fn digest_lengths() {
        for hash in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            assert_eq!(hash.digest(b"abc").len(), hash.output_len());
        }
    }
}
