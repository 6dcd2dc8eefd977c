//! A strict compact JWS (RFC 7515 §7.1) for DPoP proofs and access tokens.
//!
//! Rules (ARCHITECTURE.md "JWT pitfalls", protocol doc §0):
//! - compact serialization only, exactly three segments: the JSON serializations (which can carry
//!   several signatures and unprotected headers) and JWE are rejected;
//! - every token is size-capped before anything is decoded;
//! - base64url without padding, canonical; header and payload are JSON objects without duplicate
//!   members at any depth;
//! - `alg` is one of `EdDSA`, `ES256`, `ES384`, `ES512`; `none`, `HS*`, `RS*`, `PS*` and anything
//!   else are refused, and a signature only verifies when `alg` is the one the key's type fixes;
//! - `jku`, `x5u`, `x5c`, `x5t`, `crit`, `zip`, `b64` are refused: keys never come from URLs or
//!   certificate chains, and no extension is understood.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_core::ciphersuite::{JwsAlgorithm, KeyAlgorithm};
use e2ei_core::jwk::{Jwk, JwkError};
use e2ei_core::key::PublicKey;
use e2ei_signer::{Signer, SignerError};
use serde_json::{Map, Value};

/// Header members that are refused wherever they appear.
const FORBIDDEN_HEADERS: [&str; 8] = ["jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "zip", "b64"];

/// Why a compact JWS was refused before its claims were looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// The token is longer than the cap for its kind.
    #[error("token is {got} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The cap.
        limit: usize,
        /// The token's length.
        got: usize,
    },
    /// Not three dot-separated segments (JSON serialization, several signatures, JWE).
    #[error("not a compact JWS with exactly one signature ({segments} segments)")]
    NotCompact {
        /// How many dot-separated segments there were.
        segments: usize,
    },
    /// A segment is not canonical unpadded base64url.
    #[error("the {part} is not unpadded base64url")]
    Base64 {
        /// `header`, `payload` or `signature`.
        part: &'static str,
    },
    /// The header or payload is not a JSON object (or has duplicate members).
    #[error("the {part} is not a JSON object: {reason}")]
    Json {
        /// `header` or `payload`.
        part: &'static str,
        /// The parser's complaint.
        reason: String,
    },
    /// No `alg` header.
    #[error("the header has no `alg`")]
    MissingAlg,
    /// An `alg` other than EdDSA, ES256, ES384, ES512.
    #[error("unsupported algorithm `{0}` (accepted: EdDSA, ES256, ES384, ES512)")]
    UnsupportedAlg(String),
    /// A header member this layer never honours.
    #[error("header member `{0}` is not accepted")]
    ForbiddenHeader(String),
    /// A header member has the wrong JSON type.
    #[error("header member `{0}` has the wrong type")]
    HeaderType(&'static str),
    /// The header `jwk` is not a valid public key of a supported type.
    #[error("header `jwk`: {0}")]
    BadJwk(#[from] JwkError),
    /// `alg` is not the algorithm of the verifying key's type.
    #[error("header `alg` {header} does not match the {key} key")]
    AlgorithmMismatch {
        /// `alg` from the header.
        header: JwsAlgorithm,
        /// The verifying key's type.
        key: KeyAlgorithm,
    },
    /// The signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
}

/// The protected header, parsed. Unknown members other than the forbidden ones are ignored.
#[derive(Debug, Clone)]
pub struct Header {
    alg: JwsAlgorithm,
    typ: Option<String>,
    jwk: Option<Jwk>,
    kid: Option<String>,
}

impl Header {
    /// `alg`.
    pub fn alg(&self) -> JwsAlgorithm {
        self.alg
    }

    /// `typ`, if present.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// The public key in `jwk`, if present.
    pub fn jwk(&self) -> Option<&Jwk> {
        self.jwk.as_ref()
    }

    /// `kid`, if present.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// A compact JWS whose structure passed every rule above; its signature is not yet checked.
#[derive(Debug, Clone)]
pub struct CompactJws<'a> {
    signing_input: &'a str,
    header: Header,
    claims: Map<String, Value>,
    signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// Decodes `token`, refusing it if it is longer than `max_len`.
    pub fn parse(token: &'a str, max_len: usize) -> Result<Self, JwsError> {
        if token.len() > max_len {
            return Err(JwsError::TooLarge {
                limit: max_len,
                got: token.len(),
            });
        }
        let segments: Vec<&str> = token.split('.').collect();
        let [header_b64, payload_b64, signature_b64] = segments[..] else {
            return Err(JwsError::NotCompact {
                segments: segments.len(),
            });
        };
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        let header = decode_object(header_b64, "header")?;
        let claims = decode_object(payload_b64, "payload")?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| JwsError::Base64 { part: "signature" })?;
        Ok(Self {
            signing_input,
            header: parse_header(&header)?,
            claims,
            signature,
        })
    }

    /// The protected header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The claims, unverified.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Verifies the signature with `key`; `alg` must be the algorithm of the key's type.
    pub fn verify(&self, key: &PublicKey) -> Result<(), JwsError> {
        let expected = key.algorithm().jws_algorithm();
        if self.header.alg != expected {
            return Err(JwsError::AlgorithmMismatch {
                header: self.header.alg,
                key: key.algorithm(),
            });
        }
        key.verify_fixed(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwsError::BadSignature)
    }

    /// Verifies the signature and hands back the claims.
    pub fn into_verified_claims(self, key: &PublicKey) -> Result<Map<String, Value>, JwsError> {
        self.verify(key)?;
        Ok(self.claims)
    }
}

/// Signs `claims` as a compact JWS. `alg` is set from the signer's key type (any `alg` in
/// `header` is overwritten and placed first); the other header members are kept in order.
pub fn sign_compact(
    signer: &Signer,
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> Result<String, SignerError> {
    let mut full = Map::new();
    full.insert(
        "alg".into(),
        Value::String(signer.algorithm().jws_algorithm().as_str().into()),
    );
    for (name, value) in header {
        if name != "alg" {
            full.insert(name.clone(), value.clone());
        }
    }
    let header_json = Value::Object(full).to_string();
    let claims_json = Value::Object(claims.clone()).to_string();
    let mut token = String::with_capacity(2 * (header_json.len() + claims_json.len()));
    token.push_str(&URL_SAFE_NO_PAD.encode(header_json));
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims_json));
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_jws()));
    Ok(token)
}

/// A public JWK as Wire writes it in headers: `kty`, `crv`, `x` (, `y`).
pub fn header_jwk(key: &PublicKey) -> Value {
    let canonical = Jwk::from_public_key(key.clone()).to_json_value();
    let mut ordered = Map::new();
    for member in ["kty", "crv", "x", "y"] {
        if let Some(v) = canonical.get(member) {
            ordered.insert(member.into(), v.clone());
        }
    }
    Value::Object(ordered)
}

fn decode_object(segment: &str, part: &'static str) -> Result<Map<String, Value>, JwsError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwsError::Base64 { part })?;
    match e2ei_core::json::parse_strict(&bytes).map_err(|reason| JwsError::Json { part, reason })? {
        Value::Object(map) => Ok(map),
        _ => Err(JwsError::Json {
            part,
            reason: "not an object".into(),
        }),
    }
}

fn parse_header(header: &Map<String, Value>) -> Result<Header, JwsError> {
    if let Some(name) = header
        .keys()
        .find(|k| FORBIDDEN_HEADERS.contains(&k.as_str()))
    {
        return Err(JwsError::ForbiddenHeader(name.clone()));
    }
    let alg = match header.get("alg") {
        None => return Err(JwsError::MissingAlg),
        Some(Value::String(alg)) => alg
            .parse::<JwsAlgorithm>()
            .map_err(|_| JwsError::UnsupportedAlg(alg.clone()))?,
        Some(_) => return Err(JwsError::HeaderType("alg")),
    };
    let string = |name: &'static str| match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JwsError::HeaderType(name)),
    };
    let jwk = header.get("jwk").map(Jwk::from_json_value).transpose()?;
    Ok(Header {
        alg,
        typ: string("typ")?,
        jwk,
        kid: string("kid")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn signs_and_verifies_for_every_algorithm() {
        for alg in KeyAlgorithm::ALL {
            let signer = Signer::ephemeral(alg).unwrap();
            let header = object(json!({"alg": "none", "typ": "JWT"}));
            let t = sign_compact(&signer, &header, &object(json!({"a": 1}))).unwrap();
            let jws = CompactJws::parse(&t, 4096).unwrap();
            assert_eq!(jws.header().alg(), alg.jws_algorithm());
            assert_eq!(jws.header().typ(), Some("JWT"));
            jws.verify(signer.public_key()).unwrap();
        }
    }

    #[test]
    fn rejects_alg_none_hmac_rsa_and_pss() {
        for alg in [
            "none", "HS256", "HS512", "RS256", "PS256", "Ed25519", "es256", "",
        ] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(
                CompactJws::parse(&t, 4096).unwrap_err(),
                JwsError::UnsupportedAlg(alg.into()),
                "{alg}"
            );
        }
    }

    #[test]
    fn rejects_missing_alg() {
        let t = token(r#"{"typ":"JWT"}"#, "{}");
        assert_eq!(
            CompactJws::parse(&t, 4096).unwrap_err(),
            JwsError::MissingAlg
        );
    }

    #[test]
    fn rejects_key_urls_certificate_chains_and_crit() {
        for name in FORBIDDEN_HEADERS {
            let t = token(&format!(r#"{{"alg":"ES256","{name}":"x"}}"#), "{}");
            assert_eq!(
                CompactJws::parse(&t, 4096).unwrap_err(),
                JwsError::ForbiddenHeader(name.into())
            );
        }
    }

    #[test]
    fn rejects_json_serialization_and_several_signatures() {
        let flattened = r#"{"protected":"e30","payload":"e30","signature":"AA"}"#;
        assert!(matches!(
            CompactJws::parse(flattened, 4096).unwrap_err(),
            JwsError::NotCompact { segments: 1 }
        ));
        let t = token(r#"{"alg":"ES256"}"#, "{}");
        let two_signatures = format!("{t}.{}", b64("sig2"));
        assert_eq!(
            CompactJws::parse(&two_signatures, 4096).unwrap_err(),
            JwsError::NotCompact { segments: 4 }
        );
        let jwe = format!("{t}.a.b");
        assert!(matches!(
            CompactJws::parse(&jwe, 4096).unwrap_err(),
            JwsError::NotCompact { segments: 5 }
        ));
    }

    #[test]
    fn rejects_oversized_token_before_decoding() {
        let t = token(
            r#"{"alg":"ES256"}"#,
            &format!(r#"{{"p":"{}"}}"#, "x".repeat(5000)),
        );
        assert!(matches!(
            CompactJws::parse(&t, 4096).unwrap_err(),
            JwsError::TooLarge { limit: 4096, .. }
        ));
    }

    #[test]
    fn rejects_padded_or_non_canonical_base64() {
        let t = token(r#"{"alg":"ES256"}"#, "{}");
        let padded = t.replacen('.', "=.", 1);
        assert!(matches!(
            CompactJws::parse(&padded, 4096).unwrap_err(),
            JwsError::Base64 { part: "header" }
        ));
        // "e30" is `{}`; "e31" decodes to the same bytes with non-zero trailing bits.
        let h = b64(r#"{"alg":"ES256"}"#);
        let noncanonical = format!("{h}.e31.{}", b64("sig"));
        assert!(matches!(
            CompactJws::parse(&noncanonical, 4096).unwrap_err(),
            JwsError::Base64 { part: "payload" }
        ));
    }

    #[test]
    fn rejects_duplicate_members_at_any_depth() {
        let t = token(r#"{"alg":"ES256","alg":"EdDSA"}"#, "{}");
        assert!(matches!(
            CompactJws::parse(&t, 4096).unwrap_err(),
            JwsError::Json { part: "header", .. }
        ));
        let t = token(r#"{"alg":"ES256"}"#, r#"{"cnf":{"kid":"a","kid":"b"}}"#);
        assert!(matches!(
            CompactJws::parse(&t, 4096).unwrap_err(),
            JwsError::Json {
                part: "payload",
                ..
            }
        ));
    }

    #[test]
    fn rejects_payload_that_is_not_an_object() {
        let t = token(r#"{"alg":"ES256"}"#, "[1]");
        assert!(matches!(
            CompactJws::parse(&t, 4096).unwrap_err(),
            JwsError::Json {
                part: "payload",
                ..
            }
        ));
    }

    #[test]
    fn rejects_alg_that_does_not_match_the_key_type() {
        let ed = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
        let p256 = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let t = sign_compact(&ed, &Map::new(), &Map::new()).unwrap();
        let jws = CompactJws::parse(&t, 4096).unwrap();
        assert_eq!(
            jws.verify(p256.public_key()).unwrap_err(),
            JwsError::AlgorithmMismatch {
                header: JwsAlgorithm::EdDSA,
                key: KeyAlgorithm::P256
            }
        );
    }

    #[test]
    fn rejects_tampered_payload() {
        let signer = Signer::ephemeral(KeyAlgorithm::P384).unwrap();
        let t = sign_compact(&signer, &Map::new(), &object(json!({"a": 1}))).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], b64(r#"{"a":2}"#), parts[2]);
        let jws = CompactJws::parse(&tampered, 4096).unwrap();
        assert_eq!(
            jws.verify(signer.public_key()).unwrap_err(),
            JwsError::BadSignature
        );
    }

    #[test]
    fn rejects_header_jwk_with_private_material() {
        let t = token(
            r#"{"alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"x"}}"#,
            "{}",
        );
        assert_eq!(
            CompactJws::parse(&t, 4096).unwrap_err(),
            JwsError::BadJwk(JwkError::PrivateMaterial)
        );
    }

    #[test]
    fn header_jwk_uses_wire_member_order() {
        let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let jwk = header_jwk(signer.public_key());
        let names: Vec<&String> = jwk.as_object().unwrap().keys().collect();
        assert_eq!(names, ["kty", "crv", "x", "y"]);
    }
}
