//! ACME request JWS (RFC 8555 §6.2, protocol doc §5.1), following Boulder's rejection list
//! (ARCHITECTURE.md "Security rules"):
//!
//! - body required and at most 64 KiB; `Content-Type: application/jose+json`;
//! - flattened JSON serialization only: exactly `protected`, `payload`, `signature` — no
//!   unprotected `header`, no `signatures` array, nothing else;
//! - `alg` from the allowlist and equal to the algorithm the key's type fixes;
//! - exactly one of `jwk` and `kid`; `nonce` present and base64url; `url` present;
//! - `jku`, `x5u`, `x5c`, `x5t`, `crit`, `b64`, `zip` refused;
//! - payload empty (POST-as-GET) or a JSON object without duplicate members.
//!
//! Whether the nonce was issued and unused, whether `url` is the request URL and whether `kid`
//! names a valid account are the server's checks; this module hands it the values.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_core::ciphersuite::JwsAlgorithm;
use e2ei_core::jwk::Jwk;
use e2ei_core::key::PublicKey;
use e2ei_signer::{Signer, SignerError};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::problem::{Problem, ProblemType};

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// The request `Content-Type`.
pub const JOSE_CONTENT_TYPE: &str = "application/jose+json";

/// Header members never honoured.
const FORBIDDEN_HEADERS: [&str; 7] = ["jku", "x5u", "x5c", "x5t", "crit", "b64", "zip"];

/// `alg` values accepted (those of the four supported key types).
pub const SUPPORTED_ALGS: [&str; 4] = ["EdDSA", "ES256", "ES384", "ES512"];

/// How the request names its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// `jwk`: new-account and revocation by certificate key.
    Jwk(Jwk),
    /// `kid`: the account URL, everywhere else.
    Kid(String),
}

/// The protected header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedHeader {
    /// `alg`.
    pub alg: JwsAlgorithm,
    /// `jwk` or `kid`.
    pub key: KeyRef,
    /// `nonce` (absent only in inner key-change JWS and external account bindings).
    pub nonce: Option<String>,
    /// `url`.
    pub url: String,
}

/// The payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `""`: POST-as-GET.
    Empty,
    /// A JSON object.
    Json(Map<String, Value>),
}

/// A request JWS whose structure passed every rule; its signature is not checked yet.
#[derive(Debug, Clone)]
pub struct JwsRequestIn {
    header: ProtectedHeader,
    payload: Payload,
    signing_input: String,
    signature: Vec<u8>,
}

/// A request JWS whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedRequest {
    /// The protected header.
    pub header: ProtectedHeader,
    /// The payload.
    pub payload: Payload,
}

fn malformed(detail: impl Into<String>) -> Problem {
    Problem::malformed(detail)
}

/// Checks the request `Content-Type` (parameters after `;` are ignored).
pub fn check_content_type(content_type: Option<&str>) -> Result<(), Problem> {
    let essence = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if essence == JOSE_CONTENT_TYPE {
        Ok(())
    } else {
        // RFC 8555 §6.2: 415 Unsupported Media Type.
        Err(Problem {
            status: 415,
            ..malformed(format!(
                "Content-Type must be {JOSE_CONTENT_TYPE}, not {:?}",
                content_type.unwrap_or("(none)")
            ))
        })
    }
}

fn decode_b64(value: &str, what: &str) -> Result<Vec<u8>, Problem> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| malformed(format!("JWS {what} is not unpadded base64url")))
}

impl JwsRequestIn {
    /// Parses a request body (a flattened JWS with a `nonce`).
    pub fn parse(body: &[u8]) -> Result<Self, Problem> {
        let jws = Self::parse_any(body)?;
        match &jws.header.nonce {
            None => Err(Problem::new(ProblemType::BadNonce, "JWS has no nonce")),
            Some(_) => Ok(jws),
        }
    }

    /// Parses an inner JWS (key change, external account binding's shape): no nonce allowed.
    pub fn parse_inner(value: &Value) -> Result<Self, Problem> {
        let jws = Self::parse_any(value.to_string().as_bytes())?;
        if jws.header.nonce.is_some() {
            return Err(malformed("inner JWS must not carry a nonce"));
        }
        Ok(jws)
    }

    fn parse_any(body: &[u8]) -> Result<Self, Problem> {
        if body.is_empty() {
            return Err(malformed("request body required"));
        }
        if body.len() > MAX_BODY {
            return Err(malformed(format!("request body over {MAX_BODY} bytes")));
        }
        let Value::Object(outer) = e2ei_core::json::parse_strict(body)
            .map_err(|e| malformed(format!("JWS is not JSON: {e}")))?
        else {
            return Err(malformed("JWS is not a JSON object"));
        };
        if outer.contains_key("signatures") {
            return Err(malformed(
                "JWS with several signatures (general serialization) is not accepted",
            ));
        }
        if outer.contains_key("header") {
            return Err(malformed("JWS unprotected header is not accepted"));
        }
        if let Some(other) = outer
            .keys()
            .find(|k| !["protected", "payload", "signature"].contains(&k.as_str()))
        {
            return Err(malformed(format!("unexpected JWS member `{other}`")));
        }
        let member = |name: &str| match outer.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(malformed(format!("JWS `{name}` must be a string"))),
            None => Err(malformed(format!("JWS has no `{name}`"))),
        };
        let (protected_b64, payload_b64, signature_b64) = (
            member("protected")?,
            member("payload")?,
            member("signature")?,
        );
        let protected = decode_b64(protected_b64, "protected header")?;
        let Value::Object(header) = e2ei_core::json::parse_strict(&protected)
            .map_err(|e| malformed(format!("JWS protected header is not JSON: {e}")))?
        else {
            return Err(malformed("JWS protected header is not an object"));
        };
        let header = parse_header(&header)?;
        let payload = if payload_b64.is_empty() {
            Payload::Empty
        } else {
            match e2ei_core::json::parse_strict(&decode_b64(payload_b64, "payload")?)
                .map_err(|e| malformed(format!("JWS payload is not JSON: {e}")))?
            {
                Value::Object(map) => Payload::Json(map),
                _ => return Err(malformed("JWS payload is not a JSON object")),
            }
        };
        Ok(Self {
            header,
            payload,
            signing_input: format!("{protected_b64}.{payload_b64}"),
            signature: decode_b64(signature_b64, "signature")?,
        })
    }

    /// The protected header (for nonce, URL and key lookup before verification).
    pub fn header(&self) -> &ProtectedHeader {
        &self.header
    }

    /// Verifies the signature with `key` (the header's `jwk`, or the account key `kid` names).
    pub fn verify(self, key: &PublicKey) -> Result<VerifiedRequest, Problem> {
        if key.algorithm().jws_algorithm() != self.header.alg {
            return Err(Problem::new(
                ProblemType::BadSignatureAlgorithm,
                format!(
                    "JWS alg {} does not match the {} key",
                    self.header.alg,
                    key.algorithm()
                ),
            ));
        }
        key.verify_fixed(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| malformed("JWS signature does not verify"))?;
        Ok(VerifiedRequest {
            header: self.header,
            payload: self.payload,
        })
    }

    /// Verifies with the header's own `jwk` (new-account, key-change inner JWS).
    pub fn verify_with_embedded_key(self) -> Result<VerifiedRequest, Problem> {
        let key = match &self.header.key {
            KeyRef::Jwk(jwk) => jwk.public_key().clone(),
            KeyRef::Kid(_) => return Err(malformed("this request must carry `jwk`, not `kid`")),
        };
        self.verify(&key)
    }
}

fn parse_header(header: &Map<String, Value>) -> Result<ProtectedHeader, Problem> {
    if let Some(name) = header
        .keys()
        .find(|k| FORBIDDEN_HEADERS.contains(&k.as_str()))
    {
        return Err(malformed(format!("JWS header `{name}` is not accepted")));
    }
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.parse::<JwsAlgorithm>().map_err(|_| {
            let mut p = Problem::new(
                ProblemType::BadSignatureAlgorithm,
                format!("JWS alg `{alg}` is not supported"),
            );
            p.algorithms = SUPPORTED_ALGS.iter().map(|a| (*a).to_owned()).collect();
            p
        })?,
        Some(_) => return Err(malformed("JWS `alg` must be a string")),
        None => return Err(malformed("JWS has no `alg`")),
    };
    let key = match (header.get("jwk"), header.get("kid")) {
        (Some(_), Some(_)) => return Err(malformed("JWS carries both `jwk` and `kid`")),
        (None, None) => return Err(malformed("JWS carries neither `jwk` nor `kid`")),
        (Some(jwk), None) => KeyRef::Jwk(
            Jwk::from_json_value(jwk)
                .map_err(|e| Problem::new(ProblemType::BadPublicKey, format!("JWS jwk: {e}")))?,
        ),
        (None, Some(Value::String(kid))) if !kid.is_empty() => KeyRef::Kid(kid.clone()),
        (None, Some(_)) => return Err(malformed("JWS `kid` must be a non-empty string")),
    };
    let nonce = match header.get("nonce") {
        None => None,
        Some(Value::String(n)) if !n.is_empty() && URL_SAFE_NO_PAD.decode(n).is_ok() => {
            Some(n.clone())
        }
        Some(_) => {
            return Err(Problem::new(
                ProblemType::BadNonce,
                "JWS nonce is not base64url",
            ));
        }
    };
    let url = match header.get("url") {
        Some(Value::String(url)) if !url.is_empty() => url.clone(),
        Some(_) => return Err(malformed("JWS `url` must be a non-empty string")),
        None => return Err(malformed("JWS has no `url`")),
    };
    Ok(ProtectedHeader {
        alg,
        key,
        nonce,
        url,
    })
}

impl VerifiedRequest {
    /// The payload as `T`; POST-as-GET or a wrong shape is `malformed`.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        match &self.payload {
            Payload::Empty => Err(malformed("this request needs a payload, not POST-as-GET")),
            Payload::Json(map) => serde_json::from_value(Value::Object(map.clone()))
                .map_err(|e| malformed(format!("request payload: {e}"))),
        }
    }

    /// Requires POST-as-GET (RFC 8555 §6.3).
    pub fn require_post_as_get(&self) -> Result<(), Problem> {
        match self.payload {
            Payload::Empty => Ok(()),
            Payload::Json(_) => Err(malformed("POST-as-GET requests have an empty payload")),
        }
    }
}

/// Signs a flattened JWS: `kid` or `jwk` per `key_ref`, `nonce` unless `None`, `payload` `None`
/// for POST-as-GET.
pub fn sign_flattened(
    signer: &Signer,
    key_ref: &KeyRef,
    nonce: Option<&str>,
    url: &str,
    payload: Option<&Value>,
) -> Result<Value, SignerError> {
    let mut header = Map::new();
    header.insert(
        "alg".into(),
        json!(signer.algorithm().jws_algorithm().as_str()),
    );
    match key_ref {
        KeyRef::Jwk(jwk) => header.insert("jwk".into(), jwk.to_json_value()),
        KeyRef::Kid(kid) => header.insert("kid".into(), json!(kid)),
    };
    if let Some(nonce) = nonce {
        header.insert("nonce".into(), json!(nonce));
    }
    header.insert("url".into(), json!(url));
    let protected = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
    let payload = payload
        .map(|p| URL_SAFE_NO_PAD.encode(p.to_string()))
        .unwrap_or_default();
    let signature = signer.sign(format!("{protected}.{payload}").as_bytes())?;
    Ok(json!({
        "protected": protected,
        "payload": payload,
        "signature": URL_SAFE_NO_PAD.encode(signature.to_jws()),
    }))
}

/// Checks a key-change request (RFC 8555 §7.3.5) whose outer JWS verified with the account's
/// current key: the inner JWS is signed by the new key it carries, has the outer `url`, and
/// names this account and its current key. Returns the new key.
pub fn verify_key_change(
    outer: &VerifiedRequest,
    account_url: &str,
    current_key: &Jwk,
) -> Result<Jwk, Problem> {
    let inner_value = match &outer.payload {
        Payload::Json(map) => Value::Object(map.clone()),
        Payload::Empty => return Err(malformed("key change needs an inner JWS")),
    };
    let inner = JwsRequestIn::parse_inner(&inner_value)?.verify_with_embedded_key()?;
    let KeyRef::Jwk(new_key) = &inner.header.key else {
        return Err(malformed("inner JWS must carry the new key as `jwk`"));
    };
    if inner.header.url != outer.header.url {
        return Err(malformed("inner JWS `url` differs from the outer one"));
    }
    let request: crate::messages::KeyChangeRequest = inner.payload_as()?;
    if request.account != account_url {
        return Err(Problem::unauthorized("key change names another account"));
    }
    let old =
        Jwk::from_json_value(&request.old_key).map_err(|e| malformed(format!("`oldKey`: {e}")))?;
    if &old != current_key {
        return Err(Problem::unauthorized(
            "`oldKey` is not the account's current key",
        ));
    }
    if new_key == current_key {
        return Err(malformed("the new key is the current key"));
    }
    Ok(new_key.clone())
}
