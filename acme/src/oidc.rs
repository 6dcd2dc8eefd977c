//! `wire-oidc-01` (protocol doc §6.3): the IdP's ID token, verified over aws-lc-rs (the one
//! crypto backend) against the IdP's JWKS, then the Wire checks — `keyauth`, `acme_aud`, and the
//! transformed `name` / `preferred_username` against the `wireapp-user` identifier.
//!
//! Fetching discovery documents and key sets is the server's job; [`IdpKeys`] holds what it
//! fetched, and [`IdTokenError::UnknownKey`] tells it to refresh once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_core::ciphersuite::HashAlgorithm;
use e2ei_core::jwk::Jwk;
use e2ei_core::key::PublicKey;
use serde_json::{Map, Value};

/// ID tokens longer than this are refused unread.
pub const MAX_ID_TOKEN_LEN: usize = 16 * 1024;

/// How far in the future an ID token's `nbf` may lie (go-oidc's allowance).
pub const NBF_ALLOWANCE_SECS: i64 = 300;

/// Signature algorithms an IdP may use; `none` and HMAC never.
pub const IDP_ALGS: [&str; 10] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

/// One IdP signing key.
#[derive(Debug, Clone)]
enum KeyMaterial {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Other(PublicKey),
}

/// A key from the IdP's JWKS.
#[derive(Debug, Clone)]
pub struct IdpKey {
    kid: Option<String>,
    material: KeyMaterial,
}

/// The IdP's signing keys.
#[derive(Debug, Clone, Default)]
pub struct IdpKeys {
    keys: Vec<IdpKey>,
}

/// Why an ID token or its Wire claims were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a well-formed compact JWS of reasonable size.
    #[error("malformed ID token: {0}")]
    Malformed(String),
    /// An algorithm outside [`IDP_ALGS`].
    #[error("ID token algorithm `{0}` is not accepted")]
    UnsupportedAlg(String),
    /// No key in the set matches (`kid` unknown): refresh the JWKS and retry once.
    #[error("no IdP key matches the ID token (kid {0:?})")]
    UnknownKey(Option<String>),
    /// The signature does not verify.
    #[error("ID token signature does not verify")]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error("ID token issuer {0:?} is not the configured issuer")]
    WrongIssuer(Option<String>),
    /// `aud` does not contain the configured client id.
    #[error("ID token audience does not contain the client id")]
    WrongAudience,
    /// `exp` absent or passed (no leeway).
    #[error("ID token expired")]
    Expired,
    /// `nbf` more than 5 minutes ahead.
    #[error("ID token not yet valid")]
    NotYetValid,
    /// `keyauth` is not `{token}.{account thumbprint}`.
    #[error("keyAuthorization does not match")]
    KeyAuthorization,
    /// `acme_aud` is not this challenge's URL.
    #[error("invalid 'acme_aud'")]
    AcmeAudience,
    /// `name` or the transformed `preferred_username` differ from the identifier.
    #[error("claims in OIDC ID token don't match: {0}")]
    ClaimsMismatch(String),
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, IdTokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| IdTokenError::Malformed(format!("{what} is not base64url")))
}

impl IdpKeys {
    /// Reads a JWKS document (`{"keys": [...]}`); keys of unsupported types or not meant for
    /// signatures are skipped.
    pub fn from_jwks(jwks: &Value) -> Result<Self, String> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("JWKS has no `keys` array")?;
        let mut out = Vec::new();
        for key in keys {
            if key
                .get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u != "sig")
            {
                continue;
            }
            let kid = key.get("kid").and_then(Value::as_str).map(str::to_owned);
            let material = match key.get("kty").and_then(Value::as_str) {
                Some("RSA") => {
                    let part = |name: &str| {
                        key.get(name)
                            .and_then(Value::as_str)
                            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                            .ok_or_else(|| format!("RSA key `{name}` missing or not base64url"))
                    };
                    KeyMaterial::Rsa {
                        n: part("n")?,
                        e: part("e")?,
                    }
                }
                Some("EC") | Some("OKP") => match Jwk::from_json_value(&strip_private(key)) {
                    Ok(jwk) => KeyMaterial::Other(jwk.public_key().clone()),
                    Err(_) => continue,
                },
                _ => continue,
            };
            out.push(IdpKey { kid, material });
        }
        Ok(Self { keys: out })
    }

    /// Whether there are keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// JWKS members beyond the public ones (`kid`, `use`, `alg`…) are not part of a public JWK.
fn strip_private(key: &Value) -> Value {
    let mut out = Map::new();
    for name in ["kty", "crv", "x", "y"] {
        if let Some(v) = key.get(name) {
            out.insert(name.to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

fn verify_with(material: &KeyMaterial, alg: &str, message: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::signature as sig;
    match material {
        KeyMaterial::Rsa { n, e } => {
            let params: &sig::RsaParameters = match alg {
                "RS256" => &sig::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &sig::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &sig::RSA_PKCS1_2048_8192_SHA512,
                "PS256" => &sig::RSA_PSS_2048_8192_SHA256,
                "PS384" => &sig::RSA_PSS_2048_8192_SHA384,
                "PS512" => &sig::RSA_PSS_2048_8192_SHA512,
                _ => return false,
            };
            sig::RsaPublicKeyComponents {
                n: n.as_slice(),
                e: e.as_slice(),
            }
            .verify(params, message, signature)
            .is_ok()
        }
        // The key type fixes the algorithm; the header must name exactly that one.
        KeyMaterial::Other(key) => {
            key.algorithm().jws_algorithm().as_str() == alg
                && key.verify_fixed(message, signature).is_ok()
        }
    }
}

fn key_fits(material: &KeyMaterial, alg: &str) -> bool {
    match material {
        KeyMaterial::Rsa { .. } => alg.starts_with("RS") || alg.starts_with("PS"),
        KeyMaterial::Other(key) => key.algorithm().jws_algorithm().as_str() == alg,
    }
}

/// What the ID token must say about itself.
#[derive(Debug, Clone, Copy)]
pub struct IdTokenExpectations<'a> {
    /// The configured issuer.
    pub issuer: &'a str,
    /// The configured OAuth client id.
    pub client_id: &'a str,
    /// The accepted signature algorithms (a subset of [`IDP_ALGS`]; empty: all of them).
    pub algorithms: &'a [String],
}

/// Verifies signature, `iss`, `aud`, `exp` (no leeway) and `nbf` at `now`; returns the claims.
pub fn verify_id_token(
    token: &str,
    keys: &IdpKeys,
    expect: &IdTokenExpectations<'_>,
    now: i64,
) -> Result<Map<String, Value>, IdTokenError> {
    if token.len() > MAX_ID_TOKEN_LEN {
        return Err(IdTokenError::Malformed("too large".into()));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return Err(IdTokenError::Malformed("not a compact JWS".into()));
    };
    let header = match e2ei_core::json::parse_strict(&b64(header_b64, "header")?)
        .map_err(IdTokenError::Malformed)?
    {
        Value::Object(m) => m,
        _ => return Err(IdTokenError::Malformed("header is not an object".into())),
    };
    if header.contains_key("crit") || header.contains_key("jku") || header.contains_key("x5u") {
        return Err(IdTokenError::Malformed("unsupported header member".into()));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !IDP_ALGS.contains(&alg)
        || (!expect.algorithms.is_empty() && !expect.algorithms.iter().any(|a| a == alg))
    {
        return Err(IdTokenError::UnsupportedAlg(alg.to_owned()));
    }
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    let candidates: Vec<&IdpKey> = keys
        .keys
        .iter()
        .filter(|k| match (&kid, &k.kid) {
            (Some(wanted), Some(have)) => wanted == have,
            (Some(_), None) => false,
            (None, _) => true,
        })
        .filter(|k| key_fits(&k.material, alg))
        .collect();
    if candidates.is_empty() {
        return Err(IdTokenError::UnknownKey(kid));
    }
    let signature = b64(signature_b64, "signature")?;
    let message = format!("{header_b64}.{payload_b64}");
    if !candidates
        .iter()
        .any(|k| verify_with(&k.material, alg, message.as_bytes(), &signature))
    {
        return Err(IdTokenError::BadSignature);
    }
    let claims = match e2ei_core::json::parse_strict(&b64(payload_b64, "payload")?)
        .map_err(IdTokenError::Malformed)?
    {
        Value::Object(m) => m,
        _ => return Err(IdTokenError::Malformed("claims are not an object".into())),
    };
    let iss = claims.get("iss").and_then(Value::as_str);
    if iss != Some(expect.issuer) {
        return Err(IdTokenError::WrongIssuer(iss.map(str::to_owned)));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expect.client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expect.client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err(IdTokenError::WrongAudience);
    }
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if now < exp => {}
        _ => return Err(IdTokenError::Expired),
    }
    if let Some(nbf) = claims.get("nbf") {
        if nbf
            .as_i64()
            .is_none_or(|nbf| nbf > now + NBF_ALLOWANCE_SECS)
        {
            return Err(IdTokenError::NotYetValid);
        }
    }
    Ok(claims)
}

/// How the IdP's claims become the Wire `name` and handle URI (step-ca's `transform`, §2.4).
/// A template's `{claim}` placeholders take the string value of that ID-token claim; two more
/// are defined: `{username}` (`preferred_username` before its last `@`) and `{domain}` (the
/// identifier's domain). `None` takes the claim as it is.
#[derive(Debug, Clone, Default)]
pub struct ClaimTransform {
    /// e.g. `{given_name} {family_name}`.
    pub name: Option<String>,
    /// e.g. `wireapp://%40{username}@{domain}`.
    pub preferred_username: Option<String>,
}

impl ClaimTransform {
    /// The transformed `name` and `preferred_username`, if present.
    fn apply(&self, claims: &Map<String, Value>, domain: &str) -> (Option<String>, Option<String>) {
        let render = |template: &Option<String>, claim: &str| match template {
            None => claims.get(claim).and_then(Value::as_str).map(str::to_owned),
            Some(template) => Some(render_template(template, claims, domain)),
        };
        (
            render(&self.name, "name"),
            render(&self.preferred_username, "preferred_username"),
        )
    }
}

/// Fills `{placeholder}`s; an unknown claim or one that is not a string renders as nothing
/// (and the result then fails the comparison with the identifier).
fn render_template(template: &str, claims: &Map<String, Value>, domain: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let key = &after[..close];
        let value = match key {
            "domain" => Some(domain.to_owned()),
            "username" => claims
                .get("preferred_username")
                .and_then(Value::as_str)
                .map(|p| p.rsplit_once('@').map_or(p, |(u, _)| u).to_owned()),
            claim => claims.get(claim).and_then(Value::as_str).map(str::to_owned),
        };
        out.push_str(value.as_deref().unwrap_or_default());
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// What the challenge and the `wireapp-user` identifier require of the claims.
#[derive(Debug, Clone, Copy)]
pub struct WireOidcExpectations<'a> {
    /// This challenge's token.
    pub challenge_token: &'a str,
    /// This challenge's URL.
    pub challenge_url: &'a str,
    /// The ACME account key.
    pub account_key: &'a Jwk,
    /// The identifier's display name.
    pub name: &'a str,
    /// The identifier's handle URI.
    pub handle: &'a str,
    /// The identifier's domain.
    pub domain: &'a str,
}

/// §6.3 steps 3–5 on verified claims; returns the transformed claims to store on the order
/// (`name`, `preferred_username`).
pub fn check_wire_claims(
    claims: &Map<String, Value>,
    expect: &WireOidcExpectations<'_>,
    transform: &ClaimTransform,
) -> Result<Map<String, Value>, IdTokenError> {
    let keyauth = claims
        .get("keyauth")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let thumbprints = [
        Some(expect.account_key.thumbprint_sha256()),
        // Some Wire clients hash P-384/P-521 account keys with the suite hash (§15.5).
        Some(expect.account_key.algorithm().hash())
            .filter(|h| *h != HashAlgorithm::Sha256)
            .map(|h| expect.account_key.thumbprint(h)),
    ];
    if !thumbprints
        .iter()
        .flatten()
        .any(|t| keyauth == format!("{}.{}", expect.challenge_token, t))
    {
        return Err(IdTokenError::KeyAuthorization);
    }
    if claims.get("acme_aud").and_then(Value::as_str) != Some(expect.challenge_url) {
        return Err(IdTokenError::AcmeAudience);
    }
    let (Some(name), Some(handle)) = transform.apply(claims, expect.domain) else {
        return Err(IdTokenError::ClaimsMismatch(
            "`name` and `preferred_username` are required".into(),
        ));
    };
    if name != expect.name {
        return Err(IdTokenError::ClaimsMismatch("name".into()));
    }
    if handle != expect.handle {
        return Err(IdTokenError::ClaimsMismatch("preferred_username".into()));
    }
    let mut out = Map::new();
    out.insert("name".into(), Value::String(name));
    out.insert("preferred_username".into(), Value::String(handle));
    Ok(out)
}
