//! External account binding (RFC 8555 §7.3.4): the new-account request carries a flattened JWS,
//! MAC'd with a key the CA handed out of band, whose payload is the account's public JWK. This
//! is the one place HMAC JWS algorithms are accepted, and only with a key the server looked up.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_core::jwk::Jwk;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::problem::Problem;

/// MAC algorithms for bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacAlgorithm {
    /// HMAC-SHA-256.
    Hs256,
    /// HMAC-SHA-384.
    Hs384,
    /// HMAC-SHA-512.
    Hs512,
}

impl MacAlgorithm {
    fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Hs256, Self::Hs384, Self::Hs512]
            .into_iter()
            .find(|a| a.name() == name)
    }

    fn aws(self) -> hmac::Algorithm {
        match self {
            Self::Hs256 => hmac::HMAC_SHA256,
            Self::Hs384 => hmac::HMAC_SHA384,
            Self::Hs512 => hmac::HMAC_SHA512,
        }
    }
}

fn unauthorized(detail: &str) -> Problem {
    Problem::unauthorized(format!("external account binding: {detail}"))
}

/// Checks a binding for `account_key` sent to `new_account_url`; `mac_key` looks up the MAC key
/// of a key id. Returns the key id.
pub fn verify(
    binding: &Value,
    new_account_url: &str,
    account_key: &Jwk,
    mac_key: impl Fn(&str) -> Option<Zeroizing<Vec<u8>>>,
) -> Result<String, Problem> {
    let Value::Object(outer) = binding else {
        return Err(Problem::malformed(
            "externalAccountBinding is not a JWS object",
        ));
    };
    let part = |name: &str| {
        outer
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| Problem::malformed(format!("externalAccountBinding has no `{name}`")))
    };
    if outer.len() != 3 {
        return Err(Problem::malformed(
            "externalAccountBinding must be a flattened JWS",
        ));
    }
    let (protected_b64, payload_b64, signature_b64) =
        (part("protected")?, part("payload")?, part("signature")?);
    let decode = |v: &str| {
        URL_SAFE_NO_PAD
            .decode(v)
            .map_err(|_| Problem::malformed("externalAccountBinding is not base64url"))
    };
    let Value::Object(header) = e2ei_core::json::parse_strict(&decode(protected_b64)?)
        .map_err(|e| Problem::malformed(format!("externalAccountBinding header: {e}")))?
    else {
        return Err(Problem::malformed(
            "externalAccountBinding header is not an object",
        ));
    };
    if header.contains_key("nonce") || header.contains_key("jwk") {
        return Err(Problem::malformed(
            "externalAccountBinding header must not carry `nonce` or `jwk`",
        ));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(MacAlgorithm::parse)
        .ok_or_else(|| {
            Problem::malformed("externalAccountBinding alg must be HS256, HS384 or HS512")
        })?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Problem::malformed("externalAccountBinding has no `kid`"))?;
    if header.get("url").and_then(Value::as_str) != Some(new_account_url) {
        return Err(Problem::malformed(
            "externalAccountBinding `url` is not the new-account URL",
        ));
    }
    let key = mac_key(kid).ok_or_else(|| unauthorized("unknown key id"))?;
    let signature = decode(signature_b64)?;
    hmac::verify(
        &hmac::Key::new(alg.aws(), &key),
        format!("{protected_b64}.{payload_b64}").as_bytes(),
        &signature,
    )
    .map_err(|_| unauthorized("MAC does not verify"))?;
    let bound = Jwk::from_json_value(
        &e2ei_core::json::parse_strict(&decode(payload_b64)?)
            .map_err(|e| Problem::malformed(format!("externalAccountBinding payload: {e}")))?,
    )
    .map_err(|e| Problem::malformed(format!("externalAccountBinding payload: {e}")))?;
    if &bound != account_key {
        return Err(unauthorized("it binds another account key"));
    }
    Ok(kid.to_owned())
}

/// Makes a binding (the client side).
pub fn sign(
    alg: MacAlgorithm,
    kid: &str,
    mac_key: &[u8],
    new_account_url: &str,
    account_key: &Jwk,
) -> Value {
    let mut header = Map::new();
    header.insert("alg".into(), json!(alg.name()));
    header.insert("kid".into(), json!(kid));
    header.insert("url".into(), json!(new_account_url));
    let protected = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
    let payload = URL_SAFE_NO_PAD.encode(account_key.to_json_value().to_string());
    let tag = hmac::sign(
        &hmac::Key::new(alg.aws(), mac_key),
        format!("{protected}.{payload}").as_bytes(),
    );
    json!({ "protected": protected, "payload": payload, "signature": URL_SAFE_NO_PAD.encode(tag.as_ref()) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::problem::ProblemType;
    use e2ei_core::ciphersuite::KeyAlgorithm;
    use e2ei_signer::Signer;

    const URL: &str = "https://acme.example/acme/std/new-account";

    fn jwk() -> Jwk {
        Jwk::from_public_key(
            Signer::ephemeral(KeyAlgorithm::P256)
                .unwrap()
                .public_key()
                .clone(),
        )
    }

    fn lookup(kid: &str) -> Option<Zeroizing<Vec<u8>>> {
        (kid == "kid-1").then(|| Zeroizing::new(b"0123456789abcdef0123456789abcdef".to_vec()))
    }

    #[test]
    fn accepts_a_binding_for_the_account_key() {
        let key = jwk();
        for alg in [
            MacAlgorithm::Hs256,
            MacAlgorithm::Hs384,
            MacAlgorithm::Hs512,
        ] {
            let eab = sign(alg, "kid-1", b"0123456789abcdef0123456789abcdef", URL, &key);
            assert_eq!(verify(&eab, URL, &key, lookup).unwrap(), "kid-1");
        }
    }

    #[test]
    fn rejects_unknown_kid_wrong_mac_other_key_and_other_url() {
        let key = jwk();
        let unknown = sign(
            MacAlgorithm::Hs256,
            "kid-2",
            b"0123456789abcdef0123456789abcdef",
            URL,
            &key,
        );
        assert_eq!(
            verify(&unknown, URL, &key, lookup).unwrap_err().kind,
            ProblemType::Unauthorized
        );
        let wrong_mac = sign(
            MacAlgorithm::Hs256,
            "kid-1",
            b"another key, another key, another",
            URL,
            &key,
        );
        assert_eq!(
            verify(&wrong_mac, URL, &key, lookup).unwrap_err().kind,
            ProblemType::Unauthorized
        );
        let good = sign(
            MacAlgorithm::Hs256,
            "kid-1",
            b"0123456789abcdef0123456789abcdef",
            URL,
            &key,
        );
        assert_eq!(
            verify(&good, URL, &jwk(), lookup).unwrap_err().kind,
            ProblemType::Unauthorized
        );
        assert_eq!(
            verify(&good, "https://other.example/new-account", &key, lookup)
                .unwrap_err()
                .kind,
            ProblemType::Malformed
        );
    }
}
