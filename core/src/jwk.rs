//! Public JWKs (OKP / EC) and RFC 7638 thumbprints (protocol doc §0).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::ciphersuite::{HashAlgorithm, KeyAlgorithm};
use crate::key::{KeyError, PublicKey};

/// Why a JWK was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwkError {
    /// Not a JSON object of the expected shape.
    #[error("malformed JWK: {0}")]
    Malformed(String),
    /// A `kty` / `crv` combination e2ei does not support.
    #[error("unsupported JWK key type `{kty}` / curve `{crv}`")]
    Unsupported {
        /// `kty` member.
        kty: String,
        /// `crv` member.
        crv: String,
    },
    /// A private key member (`d`) was present in a public JWK.
    #[error("JWK carries private key material")]
    PrivateMaterial,
    /// Coordinates have the wrong length.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The JSON shape of a public JWK, as received. Only [`Jwk`] is trusted.
#[derive(Debug, Clone, Deserialize)]
struct JwkIn {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<serde_json::Value>,
}

/// A validated public JWK of one of the four supported key types.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Jwk {
    key: PublicKey,
}

impl Jwk {
    /// The JWK of a public key.
    pub fn from_public_key(key: PublicKey) -> Self {
        Self { key }
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The key algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.key.algorithm()
    }

    /// Parses and validates a JWK from a JSON value.
    pub fn from_json_value(value: &serde_json::Value) -> Result<Self, JwkError> {
        let jwk: JwkIn = serde_json::from_value(value.clone())
            .map_err(|e| JwkError::Malformed(e.to_string()))?;
        Self::from_in(jwk)
    }

    /// Parses and validates a JWK from JSON text.
    pub fn from_json(json: &str) -> Result<Self, JwkError> {
        let jwk: JwkIn =
            serde_json::from_str(json).map_err(|e| JwkError::Malformed(e.to_string()))?;
        Self::from_in(jwk)
    }

    fn from_in(jwk: JwkIn) -> Result<Self, JwkError> {
        if jwk.d.is_some() {
            return Err(JwkError::PrivateMaterial);
        }
        let crv = jwk.crv.clone().unwrap_or_default();
        let alg = match (jwk.kty.as_str(), crv.as_str()) {
            ("OKP", "Ed25519") => KeyAlgorithm::Ed25519,
            ("EC", "P-256") => KeyAlgorithm::P256,
            ("EC", "P-384") => KeyAlgorithm::P384,
            ("EC", "P-521") => KeyAlgorithm::P521,
            _ => {
                return Err(JwkError::Unsupported { kty: jwk.kty, crv });
            }
        };
        let decode = |member: &str, v: Option<String>| -> Result<Vec<u8>, JwkError> {
            let v = v.ok_or_else(|| JwkError::Malformed(format!("missing `{member}`")))?;
            URL_SAFE_NO_PAD
                .decode(v.as_bytes())
                .map_err(|_| JwkError::Malformed(format!("`{member}` is not unpadded base64url")))
        };
        let x = decode("x", jwk.x)?;
        let raw = if alg == KeyAlgorithm::Ed25519 {
            if jwk.y.is_some() {
                return Err(JwkError::Malformed("OKP JWK must not carry `y`".into()));
            }
            x
        } else {
            let y = decode("y", jwk.y)?;
            let n = alg.coordinate_len();
            if x.len() != n || y.len() != n {
                return Err(JwkError::Malformed(format!(
                    "{} coordinates must be {n} bytes",
                    alg.jwk_curve()
                )));
            }
            let mut raw = Vec::with_capacity(1 + 2 * n);
            raw.push(0x04);
            raw.extend(x);
            raw.extend(y);
            raw
        };
        Ok(Self {
            key: PublicKey::from_raw(alg, &raw)?,
        })
    }

    /// The JWK members as base64url strings: `(crv, kty, x, y)`.
    fn members(&self) -> (&'static str, &'static str, String, Option<String>) {
        let alg = self.key.algorithm();
        let raw = self.key.raw();
        match alg {
            KeyAlgorithm::Ed25519 => ("Ed25519", "OKP", URL_SAFE_NO_PAD.encode(raw), None),
            _ => {
                let n = alg.coordinate_len();
                (
                    alg.jwk_curve(),
                    "EC",
                    URL_SAFE_NO_PAD.encode(&raw[1..1 + n]),
                    Some(URL_SAFE_NO_PAD.encode(&raw[1 + n..])),
                )
            }
        }
    }

    /// The RFC 7638 canonical JSON: required members only, lexicographic order, no whitespace.
    pub fn canonical_json(&self) -> String {
        let (crv, kty, x, y) = self.members();
        match y {
            None => format!(r#"{{"crv":"{crv}","kty":"{kty}","x":"{x}"}}"#),
            Some(y) => format!(r#"{{"crv":"{crv}","kty":"{kty}","x":"{x}","y":"{y}"}}"#),
        }
    }

    /// The RFC 7638 thumbprint with the given hash.
    pub fn thumbprint(&self, hash: HashAlgorithm) -> JwkThumbprint {
        JwkThumbprint(URL_SAFE_NO_PAD.encode(hash.digest(self.canonical_json().as_bytes())))
    }

    /// The SHA-256 thumbprint, the one used inside the protocol (`cnf.kid`, `keyauth`).
    pub fn thumbprint_sha256(&self) -> JwkThumbprint {
        self.thumbprint(HashAlgorithm::Sha256)
    }

    /// The JSON value of this public JWK.
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.canonical_json()).unwrap_or(serde_json::Value::Null)
    }
}

impl Serialize for Jwk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Jwk {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let jwk = JwkIn::deserialize(d)?;
        Self::from_in(jwk).map_err(serde::de::Error::custom)
    }
}

/// An RFC 7638 JWK thumbprint, base64url without padding.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JwkThumbprint(String);

impl JwkThumbprint {
    /// The base64url text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JwkThumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The RFC 8555 §8.1 key authorization `token "." thumbprint` (SHA-256), which the OIDC ID token
/// echoes as `keyauth` (protocol doc §4 step 10).
pub fn key_authorization(token: &str, account_key: &Jwk) -> String {
    format!("{token}.{}", account_key.thumbprint_sha256())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The account key of the Ed25519 transcript (protocol doc §11).
    const TRANSCRIPT_ACCOUNT_JWK: &str =
        r#"{"kty":"OKP","crv":"Ed25519","x":"-5zCew93D_bahlxo2Gw5ceNyNOSqAxcbMuM8dBMI1Kg"}"#;

    #[test]
    fn transcript_account_key_thumbprint() {
        let jwk = Jwk::from_json(TRANSCRIPT_ACCOUNT_JWK).expect("valid JWK");
        assert_eq!(
            jwk.thumbprint_sha256().as_str(),
            "StoKb1FuB59XWMLjhsdeU94T95R_AoMP3u2g9HscYog"
        );
        assert_eq!(
            key_authorization("MXwp2QZezi1xShr3wjNuqKDmmapvtnxv", &jwk),
            "MXwp2QZezi1xShr3wjNuqKDmmapvtnxv.StoKb1FuB59XWMLjhsdeU94T95R_AoMP3u2g9HscYog"
        );
    }

    #[test]
    fn rfc7638_canonical_member_order() {
        // RFC 7638 §3.1's example is RSA; for EC the canonical order is crv, kty, x, y.
        let json = r#"{"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","kty":"EC","crv":"P-256","use":"sig"}"#;
        let jwk = Jwk::from_json(json).expect("valid EC JWK");
        assert_eq!(
            jwk.canonical_json(),
            r#"{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#
        );
        assert_eq!(jwk.thumbprint(HashAlgorithm::Sha384).as_str().len(), 64);
    }

    #[test]
    fn rejects_unsupported_and_private_jwks() {
        assert!(matches!(
            Jwk::from_json(r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#),
            Err(JwkError::Unsupported { .. })
        ));
        assert!(matches!(
            Jwk::from_json(r#"{"kty":"OKP","crv":"X25519","x":"AAAA"}"#),
            Err(JwkError::Unsupported { .. })
        ));
        assert_eq!(
            Jwk::from_json(
                r#"{"kty":"OKP","crv":"Ed25519","x":"-5zCew93D_bahlxo2Gw5ceNyNOSqAxcbMuM8dBMI1Kg","d":"AA"}"#
            ),
            Err(JwkError::PrivateMaterial)
        );
        assert!(Jwk::from_json(r#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#).is_err());
        assert!(Jwk::from_json(r#"{"kty":"OKP","crv":"Ed25519","x":"+5zC"}"#).is_err());
    }
}
