//! Differential tests against an independent JOSE implementation (josekit, on OpenSSL): tokens
//! made here verify there, and tokens made there verify here, for all four algorithms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Claims, Scenario, decode};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::jwk::Jwk;
use e2ei_dpop::{AccessTokenVerifier, AcmePolicy, BackendPolicy, BackendPublicKeys, ProofVerifier};
use josekit::jwk::KeyPair;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{ES256, ES384, ES512, EdDSA, JwsHeader, JwsSigner, JwsVerifier};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Value, json};

/// A josekit key pair: its signer, its public JWK.
struct JoseKey {
    signer: Box<dyn JwsSigner>,
    public: josekit::jwk::Jwk,
}

fn jose_key(alg: KeyAlgorithm) -> JoseKey {
    let (pem, public) = match alg {
        KeyAlgorithm::Ed25519 => {
            let kp = EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
            (kp.to_pem_private_key(), kp.to_jwk_public_key())
        }
        KeyAlgorithm::P256 => {
            let kp = ES256.generate_key_pair().unwrap();
            (kp.to_pem_private_key(), kp.to_jwk_public_key())
        }
        KeyAlgorithm::P384 => {
            let kp = ES384.generate_key_pair().unwrap();
            (kp.to_pem_private_key(), kp.to_jwk_public_key())
        }
        KeyAlgorithm::P521 => {
            let kp = ES512.generate_key_pair().unwrap();
            (kp.to_pem_private_key(), kp.to_jwk_public_key())
        }
    };
    let signer: Box<dyn JwsSigner> = match alg {
        KeyAlgorithm::Ed25519 => Box::new(EdDSA.signer_from_pem(&pem).unwrap()),
        KeyAlgorithm::P256 => Box::new(ES256.signer_from_pem(&pem).unwrap()),
        KeyAlgorithm::P384 => Box::new(ES384.signer_from_pem(&pem).unwrap()),
        KeyAlgorithm::P521 => Box::new(ES512.signer_from_pem(&pem).unwrap()),
    };
    JoseKey { signer, public }
}

fn jose_verifier(jwk: &Jwk) -> Box<dyn JwsVerifier> {
    let map = match jwk.to_json_value() {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let jwk = josekit::jwk::Jwk::from_map(map).unwrap();
    match jwk.curve() {
        Some("Ed25519") => Box::new(EdDSA.verifier_from_jwk(&jwk).unwrap()),
        Some("P-256") => Box::new(ES256.verifier_from_jwk(&jwk).unwrap()),
        Some("P-384") => Box::new(ES384.verifier_from_jwk(&jwk).unwrap()),
        Some("P-521") => Box::new(ES512.verifier_from_jwk(&jwk).unwrap()),
        other => panic!("unexpected curve {other:?}"),
    }
}

fn our_jwk(public: &josekit::jwk::Jwk) -> Jwk {
    let map: &serde_json::Map<String, Value> = public.as_ref();
    Jwk::from_json_value(&Value::Object(map.clone())).unwrap()
}

fn jose_sign(key: &JoseKey, typ: &str, claims: Claims) -> String {
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    header.set_jwk(key.public.clone());
    let payload = JwtPayload::from_map(claims).unwrap();
    jwt::encode_with_signer(&payload, &header, key.signer.as_ref()).unwrap()
}

#[test]
fn tokens_made_here_verify_with_josekit() {
    for alg in KeyAlgorithm::ALL {
        let s = Scenario::new(alg);
        let token = s.access_token();
        let (_, at_claims) = decode(&token);
        let backend = Jwk::from_public_key(s.backend_key().public_key().clone());

        let (payload, header) =
            jwt::decode_with_verifier(&token, jose_verifier(&backend).as_ref()).unwrap();
        assert_eq!(header.token_type(), Some("at+jwt"), "{alg}");
        assert_eq!(payload.as_ref(), &at_claims, "{alg}");

        let proof = at_claims["proof"].as_str().unwrap();
        let (payload, header) =
            jwt::decode_with_verifier(proof, jose_verifier(&s.account_jwk()).as_ref()).unwrap();
        assert_eq!(header.token_type(), Some("dpop+jwt"), "{alg}");
        assert_eq!(
            payload.subject(),
            Some(s.client_id.to_uri().as_str()),
            "{alg}"
        );

        // And josekit refuses them under another key of the same type.
        let stranger = Jwk::from_public_key(
            e2ei_signer::Signer::ephemeral(alg)
                .unwrap()
                .public_key()
                .clone(),
        );
        assert!(jwt::decode_with_verifier(&token, jose_verifier(&stranger).as_ref()).is_err());
    }
}

#[test]
fn tokens_made_by_josekit_verify_here() {
    for alg in KeyAlgorithm::ALL {
        let s = Scenario::new(alg);
        let account = jose_key(alg);
        let backend = jose_key(alg);
        let account_jwk = our_jwk(&account.public);

        // The client's proof, made by josekit, passes the backend's §6.2 checks here.
        let (_, template) = decode(&s.proof());
        let proof = jose_sign(&account, "dpop+jwt", template);
        let verified = ProofVerifier::new(s.expectations(), BackendPolicy::default())
            .verify(&proof, &s.clock)
            .unwrap_or_else(|e| panic!("{alg}: {e}"))
            .consume_nonce(&s.nonces, &s.clock)
            .unwrap();
        assert_eq!(verified.account_key(), &account_jwk);

        // An access token made by josekit around that proof passes §6.1 and §6.4 here.
        let (_, mut claims) = decode(&s.access_token());
        claims.insert("proof".into(), json!(proof));
        claims.insert(
            "cnf".into(),
            json!({ "kid": account_jwk.thumbprint_sha256().as_str() }),
        );
        let token = jose_sign(&backend, "at+jwt", claims);

        let keys = BackendPublicKeys::new([our_jwk(&backend.public).public_key().clone()]);
        let expect = s.challenge(&account_jwk);
        for policy in [AcmePolicy::default(), AcmePolicy::strict()] {
            AccessTokenVerifier::new(&keys, &policy)
                .verify(&token, &expect, &s.clock)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
        }
    }
}
