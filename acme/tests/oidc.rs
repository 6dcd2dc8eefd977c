//! `wire-oidc-01` ID-token checks (protocol doc §6.3), with tokens signed by an independent JOSE
//! implementation (josekit, on OpenSSL) as an IdP would sign them: one test per rejection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2ei_acme::oidc::{
    ClaimTransform, IdTokenError, IdTokenExpectations, IdpKeys, WireOidcExpectations,
    check_wire_claims, verify_id_token,
};
use e2ei_core::ciphersuite::{HashAlgorithm, KeyAlgorithm};
use e2ei_core::jwk::Jwk;
use e2ei_signer::Signer;
use josekit::jwk::KeyPair;
use josekit::jws::{ES256, EdDSA, JwsHeader, JwsSigner, PS256, RS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://idp.wire.example.com/realms/wire";
const CLIENT: &str = "wireapp";
const NOW: i64 = 1_800_000_000;
const CHALLENGE_URL: &str = "https://acme.wire.example.com/acme/wire/challenge/a/b";
const CHALLENGE_TOKEN: &str = "MXwp2QZezi1xShr3wjNuqKDmmapvtnxv";

/// An IdP key pair: signer, the JWKS entry (with `kid`, `use`, `alg`), the JWS alg.
struct IdpKey {
    signer: Box<dyn JwsSigner>,
    public: Value,
    alg: &'static str,
}

fn idp_key(alg: &'static str, kid: &str) -> IdpKey {
    let (signer, mut public): (Box<dyn JwsSigner>, josekit::jwk::Jwk) = match alg {
        "RS256" => {
            let kp = RS256.generate_key_pair(2048).unwrap();
            (
                Box::new(RS256.signer_from_pem(kp.to_pem_private_key()).unwrap()),
                kp.to_jwk_public_key(),
            )
        }
        "PS256" => {
            let kp = PS256.generate_key_pair(2048).unwrap();
            (
                Box::new(PS256.signer_from_pem(kp.to_pem_private_key()).unwrap()),
                kp.to_jwk_public_key(),
            )
        }
        "ES256" => {
            let kp = ES256.generate_key_pair().unwrap();
            (
                Box::new(ES256.signer_from_pem(kp.to_pem_private_key()).unwrap()),
                kp.to_jwk_public_key(),
            )
        }
        "EdDSA" => {
            let kp = EdDSA
                .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
                .unwrap();
            (
                Box::new(EdDSA.signer_from_pem(kp.to_pem_private_key()).unwrap()),
                kp.to_jwk_public_key(),
            )
        }
        _ => unreachable!(),
    };
    public.set_key_id(kid);
    public.set_key_use("sig");
    let map: &Map<String, Value> = public.as_ref();
    IdpKey {
        signer,
        public: Value::Object(map.clone()),
        alg,
    }
}

fn jwks(keys: &[&IdpKey]) -> IdpKeys {
    IdpKeys::from_jwks(
        &json!({ "keys": keys.iter().map(|k| k.public.clone()).collect::<Vec<_>>() }),
    )
    .unwrap()
}

fn account() -> Jwk {
    Jwk::from_public_key(
        Signer::ephemeral(KeyAlgorithm::P256)
            .unwrap()
            .public_key()
            .clone(),
    )
}

fn claims(account: &Jwk) -> Map<String, Value> {
    let v = json!({
        "iss": ISSUER, "aud": CLIENT, "exp": NOW + 60, "iat": NOW - 1, "nonce": "n-0S6_WzA2Mj",
        "name": "Alice Smith", "preferred_username": "wireapp://%40alice_wire@wire.example.com",
        "keyauth": format!("{CHALLENGE_TOKEN}.{}", account.thumbprint_sha256()),
        "acme_aud": CHALLENGE_URL,
    });
    v.as_object().unwrap().clone()
}

fn sign(key: &IdpKey, claims: &Map<String, Value>) -> String {
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id(key.public["kid"].as_str().unwrap());
    jwt::encode_with_signer(
        &JwtPayload::from_map(claims.clone()).unwrap(),
        &header,
        key.signer.as_ref(),
    )
    .unwrap()
}

fn expect() -> IdTokenExpectations<'static> {
    IdTokenExpectations {
        issuer: ISSUER,
        client_id: CLIENT,
        algorithms: &[],
    }
}

fn wire<'a>(account: &'a Jwk) -> WireOidcExpectations<'a> {
    WireOidcExpectations {
        challenge_token: CHALLENGE_TOKEN,
        challenge_url: CHALLENGE_URL,
        account_key: account,
        name: "Alice Smith",
        handle: "wireapp://%40alice_wire@wire.example.com",
        domain: "wire.example.com",
    }
}

#[test]
fn accepts_id_tokens_of_every_idp_algorithm() {
    let account = account();
    for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
        let key = idp_key(alg, "k1");
        let other = idp_key("ES256", "k0");
        let token = sign(&key, &claims(&account));
        let verified = verify_id_token(&token, &jwks(&[&other, &key]), &expect(), NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let stored =
            check_wire_claims(&verified, &wire(&account), &ClaimTransform::default()).unwrap();
        assert_eq!(stored["name"], "Alice Smith", "{}", key.alg);
    }
}

#[test]
fn rejects_unknown_kid_so_the_caller_refreshes_the_jwks() {
    let key = idp_key("RS256", "new");
    let old = idp_key("RS256", "old");
    let token = sign(&key, &claims(&account()));
    assert_eq!(
        verify_id_token(&token, &jwks(&[&old]), &expect(), NOW).unwrap_err(),
        IdTokenError::UnknownKey(Some("new".into()))
    );
}

#[test]
fn rejects_a_signature_by_another_key_under_the_same_kid() {
    let key = idp_key("ES256", "k1");
    let impostor = idp_key("ES256", "k1");
    let token = sign(&impostor, &claims(&account()));
    assert_eq!(
        verify_id_token(&token, &jwks(&[&key]), &expect(), NOW).unwrap_err(),
        IdTokenError::BadSignature
    );
}

#[test]
fn rejects_alg_none_hmac_and_alg_confusion() {
    let key = idp_key("RS256", "k1");
    let token = sign(&key, &claims(&account()));
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    for alg in ["none", "HS256"] {
        let forged = format!(
            "{}.{}.{}",
            b64(json!({ "alg": alg, "kid": "k1" })),
            parts[1],
            parts[2]
        );
        assert_eq!(
            verify_id_token(&forged, &jwks(&[&key]), &expect(), NOW).unwrap_err(),
            IdTokenError::UnsupportedAlg(alg.into())
        );
    }
    // ES256 claimed for an RSA key: no key fits.
    let confused = format!(
        "{}.{}.{}",
        b64(json!({ "alg": "ES256", "kid": "k1" })),
        parts[1],
        parts[2]
    );
    assert!(matches!(
        verify_id_token(&confused, &jwks(&[&key]), &expect(), NOW).unwrap_err(),
        IdTokenError::UnknownKey(_)
    ));
}

#[test]
fn rejects_an_algorithm_the_provisioner_does_not_accept() {
    let key = idp_key("RS256", "k1");
    let token = sign(&key, &claims(&account()));
    let only_ec = ["ES256".to_owned()];
    let expect = IdTokenExpectations {
        algorithms: &only_ec,
        ..expect()
    };
    assert_eq!(
        verify_id_token(&token, &jwks(&[&key]), &expect, NOW).unwrap_err(),
        IdTokenError::UnsupportedAlg("RS256".into())
    );
}

#[test]
fn rejects_tampered_claims() {
    let key = idp_key("RS256", "k1");
    let token = sign(&key, &claims(&account()));
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let mut c = claims(&account());
    c.insert("name".into(), json!("Mallory"));
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Value::Object(c).to_string()),
        parts[2]
    );
    assert_eq!(
        verify_id_token(&tampered, &jwks(&[&key]), &expect(), NOW).unwrap_err(),
        IdTokenError::BadSignature
    );
}

#[test]
fn rejects_wrong_issuer_audience_and_times() {
    let key = idp_key("ES256", "k1");
    let keys = jwks(&[&key]);
    let account = account();
    let with = |name: &str, value: Value| {
        let mut c = claims(&account);
        c.insert(name.into(), value);
        sign(&key, &c)
    };
    assert!(matches!(
        verify_id_token(
            &with("iss", json!("https://evil.example")),
            &keys,
            &expect(),
            NOW
        )
        .unwrap_err(),
        IdTokenError::WrongIssuer(_)
    ));
    assert_eq!(
        verify_id_token(&with("aud", json!("other")), &keys, &expect(), NOW).unwrap_err(),
        IdTokenError::WrongAudience
    );
    verify_id_token(
        &with("aud", json!(["other", CLIENT])),
        &keys,
        &expect(),
        NOW,
    )
    .unwrap();
    // No leeway on exp: an ID token is dead the second it expires.
    assert_eq!(
        verify_id_token(&with("exp", json!(NOW)), &keys, &expect(), NOW).unwrap_err(),
        IdTokenError::Expired
    );
    assert_eq!(
        verify_id_token(&with("nbf", json!(NOW + 301)), &keys, &expect(), NOW).unwrap_err(),
        IdTokenError::NotYetValid
    );
    verify_id_token(&with("nbf", json!(NOW + 300)), &keys, &expect(), NOW).unwrap();
    let mut no_exp = claims(&account);
    no_exp.remove("exp");
    assert_eq!(
        verify_id_token(&sign(&key, &no_exp), &keys, &expect(), NOW).unwrap_err(),
        IdTokenError::Expired
    );
}

#[test]
fn rejects_oversized_and_malformed_tokens() {
    let key = idp_key("ES256", "k1");
    let keys = jwks(&[&key]);
    let huge = "a".repeat(17 * 1024);
    assert!(matches!(
        verify_id_token(&huge, &keys, &expect(), NOW).unwrap_err(),
        IdTokenError::Malformed(_)
    ));
    assert!(matches!(
        verify_id_token("a.b", &keys, &expect(), NOW).unwrap_err(),
        IdTokenError::Malformed(_)
    ));
}

fn wire_error(edit: impl FnOnce(&mut Map<String, Value>, &Jwk)) -> IdTokenError {
    let account = account();
    let mut c = claims(&account);
    edit(&mut c, &account);
    check_wire_claims(&c, &wire(&account), &ClaimTransform::default()).unwrap_err()
}

#[test]
fn rejects_keyauth_for_another_token_or_account() {
    assert_eq!(
        wire_error(|c, a| {
            c.insert(
                "keyauth".into(),
                json!(format!("other.{}", a.thumbprint_sha256())),
            );
        }),
        IdTokenError::KeyAuthorization
    );
    assert_eq!(
        wire_error(|c, _| {
            c.insert(
                "keyauth".into(),
                json!(format!(
                    "{CHALLENGE_TOKEN}.{}",
                    account().thumbprint_sha256()
                )),
            );
        }),
        IdTokenError::KeyAuthorization
    );
    assert_eq!(
        wire_error(|c, _| {
            c.remove("keyauth");
        }),
        IdTokenError::KeyAuthorization
    );
}

#[test]
fn rejects_acme_aud_of_another_challenge() {
    assert_eq!(
        wire_error(|c, _| {
            c.insert(
                "acme_aud".into(),
                json!("https://acme.wire.example.com/acme/wire/challenge/x/y"),
            );
        }),
        IdTokenError::AcmeAudience
    );
}

#[test]
fn rejects_name_or_handle_that_differ_from_the_identifier() {
    assert!(matches!(
        wire_error(|c, _| {
            c.insert("name".into(), json!("Alice  Smith"));
        }),
        IdTokenError::ClaimsMismatch(_)
    ));
    assert!(matches!(
        wire_error(|c, _| {
            c.insert(
                "preferred_username".into(),
                json!("wireapp://%40mallory@wire.example.com"),
            );
        }),
        IdTokenError::ClaimsMismatch(_)
    ));
    assert!(matches!(
        wire_error(|c, _| {
            c.remove("name");
        }),
        IdTokenError::ClaimsMismatch(_)
    ));
}

#[test]
fn transforms_preferred_username_into_the_handle_uri() {
    let account = account();
    let mut c = claims(&account);
    c.insert(
        "preferred_username".into(),
        json!("alice_wire@wire.example.com"),
    );
    let transform = ClaimTransform {
        preferred_username: Some("wireapp://%40{username}@{domain}".into()),
        ..ClaimTransform::default()
    };
    let stored = check_wire_claims(&c, &wire(&account), &transform).unwrap();
    assert_eq!(
        stored["preferred_username"],
        "wireapp://%40alice_wire@wire.example.com"
    );
    assert!(check_wire_claims(&c, &wire(&account), &ClaimTransform::default()).is_err());
}

#[test]
fn transforms_the_name_from_other_claims() {
    let account = account();
    let mut c = claims(&account);
    c.remove("name");
    c.insert("given_name".into(), json!("Alice"));
    c.insert("family_name".into(), json!("Smith"));
    let transform = ClaimTransform {
        name: Some("{given_name} {family_name}".into()),
        ..ClaimTransform::default()
    };
    let stored = check_wire_claims(&c, &wire(&account), &transform).unwrap();
    assert_eq!(stored["name"], "Alice Smith");
    // A claim the token lacks renders empty, and then does not match.
    c.remove("family_name");
    assert!(matches!(
        check_wire_claims(&c, &wire(&account), &transform).unwrap_err(),
        IdTokenError::ClaimsMismatch(_)
    ));
}

#[test]
fn accepts_the_suite_hash_keyauth_for_p384_accounts() {
    let account = Jwk::from_public_key(
        Signer::ephemeral(KeyAlgorithm::P384)
            .unwrap()
            .public_key()
            .clone(),
    );
    let mut c = claims(&account);
    c.insert(
        "keyauth".into(),
        json!(format!(
            "{CHALLENGE_TOKEN}.{}",
            account.thumbprint(HashAlgorithm::Sha384)
        )),
    );
    check_wire_claims(&c, &wire(&account), &ClaimTransform::default()).unwrap();
}
