//! `wire-dpop-01` verification at the ACME server (protocol doc §6.1, strict §6.4): one test
//! per check, named after what it rejects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{NOW, Scenario, decode, resign, set, sign_keeping_alg};
use e2ei_core::ciphersuite::{HashAlgorithm, KeyAlgorithm};
use e2ei_core::jwk::Jwk;
use e2ei_dpop::acme::Token;
use e2ei_dpop::jws::JwsError;
use e2ei_dpop::{AccessTokenError as E, AcmePolicy, MemoryReplayCache, StrictChecks};
use e2ei_signer::Signer;
use serde_json::json;

const AT: Token = Token::AccessToken;
const PF: Token = Token::Proof;

fn scenario() -> Scenario {
    Scenario::new(KeyAlgorithm::P256)
}

fn stranger() -> Signer {
    Signer::ephemeral(KeyAlgorithm::P256).unwrap()
}

#[test]
fn verifies_a_valid_access_token_for_every_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let s = Scenario::new(alg);
        let token = s.access_token();
        let verified = s.verify(&token).unwrap();
        assert_eq!(
            verified.proof_claims()["sub"],
            s.client_id.to_uri().as_str()
        );
        assert_eq!(verified.access_token_claims()["scope"], "wire_client_id");
        s.verify_strict(&token).unwrap();
    }
}

// ---- the access token: structure, key binding, signature (§6.1 steps 2–4) ----

#[test]
fn rejects_oversized_access_token() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| set(c, "padding", "x".repeat(17_000)));
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::Malformed {
            token: AT,
            source: JwsError::TooLarge { limit: 16384, .. }
        }
    ));
}

#[test]
fn rejects_access_token_with_duplicate_signatures() {
    let s = scenario();
    let token = s.access_token();
    let signature = token.rsplit('.').next().unwrap().to_owned();
    assert!(matches!(
        s.verify(&format!("{token}.{signature}")).unwrap_err(),
        E::Malformed {
            token: AT,
            source: JwsError::NotCompact { segments: 4 }
        }
    ));
}

#[test]
fn rejects_access_token_from_an_unknown_backend_key() {
    let s = scenario();
    let other = stranger();
    let token = s.access_token_with(&other, |h, _| {
        set(h, "jwk", e2ei_dpop::jws::header_jwk(other.public_key()));
    });
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::UnknownBackendKey(_)
    ));
}

#[test]
fn accepts_access_token_naming_the_backend_key_by_kid() {
    let s = scenario();
    let kid = Jwk::from_public_key(s.backend_key().public_key().clone()).thumbprint_sha256();
    let token = s.access_token_with(s.backend_key(), |h, _| {
        h.remove("jwk");
        set(h, "kid", kid.as_str());
    });
    s.verify(&token).unwrap();
}

#[test]
fn rejects_access_token_with_kid_of_another_key() {
    let s = scenario();
    let kid = Jwk::from_public_key(stranger().public_key().clone()).thumbprint_sha256();
    let token = s.access_token_with(s.backend_key(), |h, _| set(h, "kid", kid.as_str()));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::UnknownBackendKey(kid.to_string())
    );
}

#[test]
fn rejects_access_token_naming_no_key() {
    let s = scenario();
    let token = s.access_token_with(s.backend_key(), |h, _| {
        h.remove("jwk");
    });
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::UnknownBackendKey(_)
    ));
}

#[test]
fn rejects_access_token_with_backend_jwk_but_signed_by_another_key() {
    let s = scenario();
    let token = s.access_token_with(&stranger(), |_, _| {});
    assert_eq!(s.verify(&token).unwrap_err(), E::BadSignature { token: AT });
}

#[test]
fn rejects_alg_confusion_on_the_access_token() {
    // The header names the configured Ed25519 key but claims ES256.
    let s = Scenario::new(KeyAlgorithm::Ed25519);
    let (mut header, claims) = decode(&s.access_token());
    set(&mut header, "alg", "ES256");
    let token = sign_keeping_alg(s.backend_key(), &header, &claims);
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::AlgorithmMismatch {
            token: AT,
            key: KeyAlgorithm::Ed25519
        }
    );
}

#[test]
fn rejects_access_token_with_alg_none() {
    let s = scenario();
    let (mut header, claims) = decode(&s.access_token());
    set(&mut header, "alg", "none");
    let token = sign_keeping_alg(s.backend_key(), &header, &claims);
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::Malformed {
            token: AT,
            source: JwsError::UnsupportedAlg(_)
        }
    ));
}

#[test]
fn rejects_access_token_with_tampered_payload() {
    let s = scenario();
    let token = s.access_token();
    let parts: Vec<&str> = token.split('.').collect();
    let (_, mut claims) = decode(&token);
    set(
        &mut claims,
        "client_id",
        "wireapp://yRbSiljXSnCl77-QkM634g!1@wire.example.com",
    );
    let payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!(claims).to_string())
    };
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(
        s.verify(&tampered).unwrap_err(),
        E::BadSignature { token: AT }
    );
}

// ---- the access token: times, issuer, audience (step 5) ----

#[test]
fn rejects_expired_access_token() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| set(c, "exp", NOW - 61));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::Expired {
            token: AT,
            exp: NOW - 61,
            now: NOW
        }
    );
    let token = s.access_token_claims_with(|c| set(c, "exp", NOW - 60));
    s.verify(&token).unwrap();
}

#[test]
fn rejects_access_token_not_yet_valid() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| set(c, "nbf", NOW + 61));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::NotYetValid {
            token: AT,
            nbf: NOW + 61,
            now: NOW
        }
    );
}

#[test]
fn rejects_access_token_with_future_iat_beyond_leeway() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| set(c, "iat", NOW + 61));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::IssuedInFuture {
            token: AT,
            iat: NOW + 61,
            now: NOW
        }
    );
    let token = s.access_token_claims_with(|c| set(c, "iat", NOW + 60));
    s.verify(&token).unwrap();
}

#[test]
fn rejects_access_token_without_exp() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| {
        c.remove("exp");
    });
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::MissingClaim {
            token: AT,
            claim: "exp"
        }
    );
}

#[test]
fn rejects_access_token_expiring_more_than_an_hour_ahead() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| set(c, "exp", NOW + 3601));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::ExpiresTooLate {
            token: AT,
            exp: NOW + 3601,
            max: NOW + 3600
        }
    );
}

#[test]
fn rejects_access_token_with_wrong_issuer() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| {
        set(c, "iss", "https://wire.example.com/clients/1/access-token")
    });
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::WrongIssuer { .. }
    ));
}

#[test]
fn rejects_access_token_with_wrong_audience() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| {
        set(
            c,
            "aud",
            "https://acme.wire.example.com/acme/wire/challenge/AAAA/CCCC",
        )
    });
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::WrongAudience { token: AT }
    );
}

#[test]
fn accepts_audience_as_an_array_containing_the_challenge_url() {
    let s = scenario();
    let url = s.challenge_url.clone();
    let token =
        s.access_token_claims_with(|c| set(c, "aud", json!(["https://other.example", url])));
    s.verify(&token).unwrap();
}

// ---- the access token: chal, cnf.kid, client_id, scope (step 6) ----

#[test]
fn rejects_access_token_without_chal() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| set(c, "chal", ""));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::MissingClaim {
            token: AT,
            claim: "chal"
        }
    );
}

#[test]
fn rejects_cnf_kid_mismatch() {
    let s = scenario();
    let other = Jwk::from_public_key(stranger().public_key().clone()).thumbprint_sha256();
    let token = s.access_token_claims_with(|c| set(c, "cnf", json!({ "kid": other.as_str() })));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::CnfKidMismatch {
            got: Some(other.to_string())
        }
    );
    let token = s.access_token_claims_with(|c| {
        c.remove("cnf");
    });
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::CnfKidMismatch { got: None }
    );
    // RFC 9449's member name is `jkt`; Wire's is `kid`, and only `kid` binds.
    let jkt = s.account_jwk().thumbprint_sha256();
    let token = s.access_token_claims_with(|c| set(c, "cnf", json!({ "jkt": jkt.as_str() })));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::CnfKidMismatch { got: None }
    );
}

#[test]
fn accepts_suite_hash_thumbprint_for_p384_and_p521_account_keys() {
    for (alg, hash) in [
        (KeyAlgorithm::P384, HashAlgorithm::Sha384),
        (KeyAlgorithm::P521, HashAlgorithm::Sha512),
    ] {
        let s = Scenario::new(alg);
        let suite = s.account_jwk().thumbprint(hash);
        let token = s.access_token_claims_with(|c| set(c, "cnf", json!({ "kid": suite.as_str() })));
        s.verify(&token).unwrap();
        let policy = AcmePolicy {
            accept_suite_hash_thumbprint: false,
            ..AcmePolicy::default()
        };
        assert!(matches!(
            s.verify_with(&token, &policy).unwrap_err(),
            E::CnfKidMismatch { .. }
        ));
    }
}

#[test]
fn rejects_non_sha256_thumbprint_for_p256_account_keys() {
    let s = scenario();
    let sha384 = s.account_jwk().thumbprint(HashAlgorithm::Sha384);
    let token = s.access_token_claims_with(|c| set(c, "cnf", json!({ "kid": sha384.as_str() })));
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::CnfKidMismatch { .. }
    ));
}

#[test]
fn rejects_access_token_with_wrong_client_id() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| {
        set(
            c,
            "client_id",
            "wireapp://yRbSiljXSnCl77-QkM634g!1@wire.example.com",
        )
    });
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::ClientIdMismatch { .. }
    ));
    // String equality: the certificate's `%21` spelling is a different client id here.
    let token = s.access_token_claims_with(|c| {
        set(
            c,
            "client_id",
            "wireapp://yRbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.example.com",
        )
    });
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::ClientIdMismatch { .. }
    ));
}

#[test]
fn rejects_access_token_with_wrong_scope() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| set(c, "scope", "openid"));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::WrongScope {
            got: Some("openid".into())
        }
    );
}

// ---- the proof: parse, key, signature (steps 7–8) ----

#[test]
fn rejects_access_token_without_proof() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| {
        c.remove("proof");
    });
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::MissingClaim {
            token: AT,
            claim: "proof"
        }
    );
}

#[test]
fn rejects_malformed_proof() {
    let s = scenario();
    let token = s.access_token_around("a.b".into());
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::Malformed { token: PF, .. }
    ));
}

#[test]
fn rejects_proof_signed_by_another_key() {
    // A proof that is internally consistent but made with a key other than the ACME account's.
    let s = scenario();
    let other = stranger();
    let proof = resign(&s.proof(), &other, |h, _| {
        set(h, "jwk", e2ei_dpop::jws::header_jwk(other.public_key()))
    });
    let token = s.access_token_around(proof);
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::ProofKeyNotAccountKey(_)
    ));
}

#[test]
fn rejects_proof_with_account_jwk_but_another_signature() {
    let s = scenario();
    let proof = resign(&s.proof(), &stranger(), |_, _| {});
    let token = s.access_token_around(proof);
    assert_eq!(s.verify(&token).unwrap_err(), E::BadSignature { token: PF });
}

#[test]
fn rejects_alg_confusion_on_the_proof() {
    let s = Scenario::new(KeyAlgorithm::Ed25519);
    let (mut header, claims) = decode(&s.proof());
    set(&mut header, "alg", "ES256");
    let proof = sign_keeping_alg(&s.account, &header, &claims);
    let token = s.access_token_around(proof);
    assert_eq!(
        s.verify(&token).unwrap_err(),
        E::AlgorithmMismatch {
            token: PF,
            key: KeyAlgorithm::Ed25519
        }
    );
}

// ---- the proof: claims (step 9) ----

fn proof_error(s: &Scenario, edit: impl FnOnce(&mut common::Claims)) -> E {
    let token = s.access_token_around(s.proof_claims_with(edit));
    s.verify(&token).unwrap_err()
}

#[test]
fn rejects_expired_proof() {
    let s = scenario();
    assert_eq!(
        proof_error(&s, |c| set(c, "exp", NOW - 61)),
        E::Expired {
            token: PF,
            exp: NOW - 61,
            now: NOW
        }
    );
}

#[test]
fn rejects_proof_not_yet_valid() {
    let s = scenario();
    assert_eq!(
        proof_error(&s, |c| set(c, "nbf", NOW + 61)),
        E::NotYetValid {
            token: PF,
            nbf: NOW + 61,
            now: NOW
        }
    );
}

#[test]
fn rejects_proof_with_future_iat_beyond_leeway() {
    let s = scenario();
    assert_eq!(
        proof_error(&s, |c| set(c, "iat", NOW + 61)),
        E::IssuedInFuture {
            token: PF,
            iat: NOW + 61,
            now: NOW
        }
    );
}

#[test]
fn rejects_proof_expiring_more_than_an_hour_ahead() {
    let s = scenario();
    assert_eq!(
        proof_error(&s, |c| set(c, "exp", NOW + 3601)),
        E::ExpiresTooLate {
            token: PF,
            exp: NOW + 3601,
            max: NOW + 3600
        }
    );
}

#[test]
fn rejects_proof_with_wrong_audience() {
    let s = scenario();
    assert_eq!(
        proof_error(&s, |c| set(
            c,
            "aud",
            "https://acme.wire.example.com/acme/wire/challenge/X/Y"
        )),
        E::WrongAudience { token: PF }
    );
}

#[test]
fn rejects_proof_with_wrong_htu() {
    let s = scenario();
    assert!(matches!(
        proof_error(&s, |c| set(
            c,
            "htu",
            "https://wire.example.com/clients/1/access-token"
        )),
        E::ProofHtuMismatch { .. }
    ));
    assert!(matches!(
        proof_error(&s, |c| set(c, "htu", "")),
        E::ProofHtuMismatch { .. }
    ));
}

#[test]
fn rejects_proof_with_wrong_sub() {
    let s = scenario();
    assert!(matches!(
        proof_error(&s, |c| set(
            c,
            "sub",
            "wireapp://yRbSiljXSnCl77-QkM634g!1@wire.example.com"
        )),
        E::ProofSubjectMismatch { .. }
    ));
}

#[test]
fn rejects_proof_nonce_that_differs_from_the_access_token() {
    let s = scenario();
    assert_eq!(
        proof_error(&s, |c| set(c, "nonce", "foobar")),
        E::NonceMismatch
    );
    assert_eq!(
        proof_error(&s, |c| {
            c.remove("nonce");
        }),
        E::MissingClaim {
            token: PF,
            claim: "nonce"
        }
    );
}

#[test]
fn rejects_proof_chal_that_differs_from_the_access_token() {
    let s = scenario();
    assert_eq!(
        proof_error(&s, |c| set(c, "chal", "otherchallengetokenotherchallenge")),
        E::ChallengeMismatch
    );
}

#[test]
fn rejects_chal_that_is_not_this_challenges_token() {
    // Proof and access token agree with each other, but on another challenge's token.
    let s = scenario();
    let other = "dZadliwq2O3I5j2MHAxXkYT2y2jx3prI";
    let proof = s.proof_claims_with(|c| set(c, "chal", other));
    let token = s.access_token_claims_with(|c| {
        set(c, "proof", proof);
        set(c, "chal", other);
    });
    assert_eq!(s.verify(&token).unwrap_err(), E::ChallengeMismatch);
}

#[test]
fn rejects_proof_with_wrong_handle() {
    let s = scenario();
    assert!(matches!(
        proof_error(&s, |c| set(
            c,
            "handle",
            "wireapp://%40mallory@wire.example.com"
        )),
        E::HandleMismatch { .. }
    ));
    assert!(matches!(
        proof_error(&s, |c| set(c, "handle", json!(1))),
        E::ClaimType {
            token: PF,
            claim: "handle"
        }
    ));
}

#[test]
fn rejects_proof_with_wrong_display_name() {
    let s = scenario();
    assert!(matches!(
        proof_error(&s, |c| set(c, "name", "Mallory")),
        E::DisplayNameMismatch { .. }
    ));
}

#[test]
fn default_mode_leaves_unchecked_claims_alone_like_step_ca() {
    // §6.1 does not look at the proof's typ/htm/team/jti or the access token's api_version/sub.
    let s = scenario();
    let proof = s.proof_with(|h, c| {
        set(h, "typ", "JWT");
        set(c, "htm", "GET");
        set(c, "team", "another-team");
        c.remove("jti");
    });
    let token = s.access_token_claims_with(|c| {
        set(c, "proof", proof);
        c.remove("api_version");
        set(c, "sub", "someone else");
    });
    s.verify(&token).unwrap();
}

// ---- strict mode (§6.4) ----

#[test]
fn strict_rejects_access_token_with_wrong_typ() {
    let s = scenario();
    let token = s.access_token_with(s.backend_key(), |h, _| set(h, "typ", "JWT"));
    s.verify(&token).unwrap();
    assert_eq!(
        s.verify_strict(&token).unwrap_err(),
        E::WrongType {
            token: AT,
            got: Some("JWT".into())
        }
    );
}

#[test]
fn strict_rejects_access_token_without_the_backend_jwk() {
    let s = scenario();
    let kid = Jwk::from_public_key(s.backend_key().public_key().clone()).thumbprint_sha256();
    let token = s.access_token_with(s.backend_key(), |h, _| {
        h.remove("jwk");
        set(h, "kid", kid.as_str());
    });
    assert_eq!(s.verify_strict(&token).unwrap_err(), E::BackendJwkMismatch);
}

#[test]
fn strict_rejects_access_token_with_wrong_sub() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| {
        set(
            c,
            "sub",
            "wireapp://yRbSiljXSnCl77-QkM634g!1@wire.example.com",
        )
    });
    assert!(matches!(
        s.verify_strict(&token).unwrap_err(),
        E::SubjectMismatch { .. }
    ));
}

#[test]
fn strict_rejects_access_token_without_jti_iat_or_nbf() {
    let s = scenario();
    for claim in ["jti", "iat", "nbf"] {
        let token = s.access_token_claims_with(|c| {
            c.remove(claim);
        });
        s.verify(&token).unwrap();
        assert_eq!(
            s.verify_strict(&token).unwrap_err(),
            E::MissingClaim { token: AT, claim },
            "{claim}"
        );
    }
}

#[test]
fn strict_rejects_wrong_api_version() {
    let s = scenario();
    let token = s.access_token_claims_with(|c| set(c, "api_version", 4));
    assert_eq!(
        s.verify_strict(&token).unwrap_err(),
        E::ApiVersionMismatch {
            expected: 5,
            got: Some(json!(4))
        }
    );
}

#[test]
fn strict_rejects_proof_with_wrong_typ() {
    let s = scenario();
    let token = s.access_token_around(s.proof_with(|h, _| set(h, "typ", "JWT")));
    assert_eq!(
        s.verify_strict(&token).unwrap_err(),
        E::WrongType {
            token: PF,
            got: Some("JWT".into())
        }
    );
}

#[test]
fn strict_rejects_proof_with_wrong_htm() {
    let s = scenario();
    let token = s.access_token_around(s.proof_claims_with(|c| set(c, "htm", "GET")));
    assert_eq!(
        s.verify_strict(&token).unwrap_err(),
        E::ProofMethodMismatch {
            got: Some("GET".into())
        }
    );
}

#[test]
fn strict_rejects_proof_with_wrong_team() {
    let s = scenario();
    let policy = AcmePolicy {
        strict: Some(StrictChecks {
            team: Some(Some(s.team.to_string())),
            ..StrictChecks::default()
        }),
        ..AcmePolicy::default()
    };
    s.verify_with(&s.access_token(), &policy).unwrap();
    let token = s.access_token_around(s.proof_claims_with(|c| set(c, "team", "wire")));
    assert!(matches!(
        s.verify_with(&token, &policy).unwrap_err(),
        E::TeamMismatch { .. }
    ));
}

#[test]
fn rejects_replayed_proof_when_a_replay_cache_is_configured() {
    let s = scenario();
    let cache = MemoryReplayCache::new(100);
    let keys = s.backend_public_keys();
    let policy = AcmePolicy::default();
    let account = s.account_jwk();
    let expect = s.challenge(&account);
    let verifier = e2ei_dpop::AccessTokenVerifier::new(&keys, &policy).with_replay_cache(&cache);
    let token = s.access_token();
    verifier.verify(&token, &expect, &s.clock).unwrap();
    assert_eq!(
        verifier.verify(&token, &expect, &s.clock).unwrap_err(),
        E::Replayed
    );
}

mod mutations {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any change to any character of a valid access token is rejected.
        #[test]
        fn any_changed_character_is_rejected(position in 0usize..4096, replacement in "[A-Za-z0-9_.-]") {
            let s = scenario();
            let token = s.access_token();
            let position = position % token.len();
            let replacement = replacement.chars().next().unwrap();
            prop_assume!(token.as_bytes()[position] as char != replacement);
            let mut mutated = token.clone().into_bytes();
            mutated[position] = replacement as u8;
            let mutated = String::from_utf8(mutated).unwrap();
            prop_assert!(s.verify(&mutated).is_err());
        }
    }
}

#[test]
fn rejects_oversized_proof_inside_a_small_enough_access_token() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "padding", "x".repeat(7000)));
    let token = s.access_token_around(proof);
    assert!(token.len() < 16384);
    assert!(matches!(
        s.verify(&token).unwrap_err(),
        E::Malformed {
            token: PF,
            source: JwsError::TooLarge { limit: 8192, .. }
        }
    ));
}
