//! The backend's access-token endpoint logic (protocol doc §6.2): one test per check, each
//! asserting the error variant and the Wire label of §9.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{NOW, Scenario, decode, set, sign_keeping_alg};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::id::DisplayName;
use e2ei_core::jwk::Jwk;
use e2ei_dpop::jws::JwsError;
use e2ei_dpop::{
    BackendKeys, BackendPolicy, MemoryReplayCache, MintError, ProofVerifier, mint_access_token,
};
use e2ei_signer::Signer;
use serde_json::{Value, json};

fn scenario() -> Scenario {
    Scenario::new(KeyAlgorithm::P256)
}

/// Asserts the error's Wire label and returns the error for a closer look.
fn rejected(result: Result<String, MintError>, label: &str) -> MintError {
    let err = result.expect_err("the proof must be rejected");
    assert_eq!(err.wire_label(), label, "{err:?}");
    assert_eq!(err.http_status(), 400, "{err:?}");
    err
}

#[test]
fn mints_a_valid_access_token_for_every_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let s = Scenario::new(alg);
        let proof = s.proof();
        let token = mint_access_token(
            &proof,
            s.expectations(),
            BackendPolicy::default(),
            &s.nonces,
            &s.backend,
            &s.clock,
        )
        .unwrap();
        assert_eq!(token.expires_in(), 360);
        let body = token.response_body();
        assert_eq!(body["type"], "DPoP");
        assert_eq!(body["expires_in"], 360);

        let (header, claims) = decode(token.token());
        assert_eq!(header["alg"], alg.jws_algorithm().as_str());
        assert_eq!(header["typ"], "at+jwt");
        let backend_jwk = Jwk::from_json_value(&header["jwk"]).unwrap();
        assert_eq!(
            backend_jwk.public_key(),
            s.backend.get(alg).unwrap().public_key()
        );

        let (_, proof_claims) = decode(&proof);
        assert_eq!(claims["iat"], NOW - 3600);
        assert_eq!(claims["nbf"], NOW - 3600);
        assert_eq!(claims["exp"], NOW + 360);
        assert_eq!(claims["iss"], s.htu.as_str());
        assert_eq!(claims["sub"], s.client_id.to_uri().as_str());
        assert_eq!(claims["client_id"], s.client_id.to_uri().as_str());
        assert_eq!(claims["aud"], s.challenge_url.as_str());
        assert_eq!(claims["nonce"], proof_claims["nonce"]);
        assert_eq!(claims["chal"], s.challenge_token.as_str());
        assert_eq!(
            claims["cnf"]["kid"],
            s.account_jwk().thumbprint_sha256().as_str()
        );
        assert_eq!(claims["proof"], proof.as_str());
        assert_eq!(claims["api_version"], 5);
        assert_eq!(claims["scope"], "wire_client_id");
        assert_ne!(claims["jti"], proof_claims["jti"]);
        let order: Vec<&str> = claims.keys().map(String::as_str).collect();
        assert_eq!(
            order,
            [
                "iat",
                "exp",
                "nbf",
                "iss",
                "sub",
                "aud",
                "jti",
                "nonce",
                "chal",
                "cnf",
                "proof",
                "client_id",
                "api_version",
                "scope"
            ]
        );
    }
}

#[test]
fn built_proof_carries_wire_claims_and_backdated_times() {
    let s = scenario();
    let (header, claims) = decode(&s.proof());
    assert_eq!(header.keys().collect::<Vec<_>>(), ["alg", "typ", "jwk"]);
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(claims["iat"], NOW - 3600);
    assert_eq!(claims["nbf"], NOW - 3600);
    assert_eq!(claims["exp"], NOW + 30);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["handle"], "wireapp://%40alice_wire@wire.example.com");
    assert_eq!(claims["team"], s.team.to_string().as_str());
    assert_eq!(claims["name"], "Alice Smith");
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
}

#[test]
fn copies_unknown_proof_claims_into_the_access_token() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| {
        set(c, "device_label", "laptop");
        set(c, "scope", "forged");
    });
    let (_, claims) = decode(&s.mint(&proof).unwrap());
    assert_eq!(claims["device_label"], "laptop");
    assert_eq!(claims["scope"], "wire_client_id");
}

#[test]
fn rejects_oversized_proof() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "padding", "x".repeat(9000)));
    let err = rejected(s.mint(&proof), "client-token-parse-error");
    assert!(matches!(err, MintError::TooLarge { limit: 8192, .. }));
}

#[test]
fn rejects_proof_that_is_not_a_compact_jws() {
    let s = scenario();
    let err = rejected(s.mint("not a token"), "client-token-parse-error");
    assert!(matches!(
        err,
        MintError::Malformed(JwsError::NotCompact { .. })
    ));
}

#[test]
fn rejects_proof_with_two_signatures() {
    let s = scenario();
    let proof = s.proof();
    let signature = proof.rsplit('.').next().unwrap().to_owned();
    let err = rejected(
        s.mint(&format!("{proof}.{signature}")),
        "client-token-parse-error",
    );
    assert!(matches!(
        err,
        MintError::Malformed(JwsError::NotCompact { segments: 4 })
    ));
}

#[test]
fn rejects_proof_with_wrong_typ() {
    let s = scenario();
    let proof = s.proof_with(|h, _| set(h, "typ", "JWT"));
    let err = rejected(s.mint(&proof), "client-token-type-error");
    assert_eq!(
        err,
        MintError::WrongType {
            got: Some("JWT".into())
        }
    );
    let proof = s.proof_with(|h, _| set(h, "typ", "DPOP+JWT"));
    rejected(s.mint(&proof), "client-token-type-error");
}

#[test]
fn rejects_proof_without_typ() {
    let s = scenario();
    let proof = s.proof_with(|h, _| {
        h.remove("typ");
    });
    assert_eq!(
        rejected(s.mint(&proof), "client-token-type-error"),
        MintError::WrongType { got: None }
    );
}

#[test]
fn rejects_alg_none_hmac_rsa_and_pss() {
    let s = scenario();
    let (header, claims) = decode(&s.proof());
    for alg in ["none", "HS256", "RS256", "PS256"] {
        let mut h = header.clone();
        set(&mut h, "alg", alg);
        let proof = sign_keeping_alg(&s.account, &h, &claims);
        let err = rejected(s.mint(&proof), "client-token-unsupported-alg");
        assert_eq!(err, MintError::UnsupportedAlg(alg.into()));
    }
}

#[test]
fn rejects_alg_confusion_between_header_and_key_type() {
    // ES256 claimed, but the header key (and the signature) are Ed25519.
    let s = Scenario::new(KeyAlgorithm::Ed25519);
    let (mut header, claims) = decode(&s.proof());
    set(&mut header, "alg", "ES256");
    let proof = sign_keeping_alg(&s.account, &header, &claims);
    let err = rejected(s.mint(&proof), "client-token-bad-signature");
    assert!(matches!(
        err,
        MintError::AlgorithmMismatch {
            key: KeyAlgorithm::Ed25519,
            ..
        }
    ));
}

#[test]
fn rejects_proof_without_jwk() {
    let s = scenario();
    let proof = s.proof_with(|h, _| {
        h.remove("jwk");
    });
    assert_eq!(
        rejected(s.mint(&proof), "client-token-parse-error"),
        MintError::MissingJwk
    );
}

#[test]
fn rejects_proof_with_header_key_url() {
    let s = scenario();
    let proof = s.proof_with(|h, _| set(h, "jku", "https://attacker.example/jwks"));
    let err = rejected(s.mint(&proof), "client-token-parse-error");
    assert_eq!(
        err,
        MintError::Malformed(JwsError::ForbiddenHeader("jku".into()))
    );
}

#[test]
fn rejects_proof_signed_by_another_key() {
    let s = scenario();
    let other = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    // Header still carries the account key; the signature is the other key's.
    let proof = common::resign(&s.proof(), &other, |_, _| {});
    assert_eq!(
        rejected(s.mint(&proof), "client-token-bad-signature"),
        MintError::BadSignature
    );
}

#[test]
fn rejects_tampered_proof_payload() {
    let s = scenario();
    let proof = s.proof();
    let parts: Vec<&str> = proof.split('.').collect();
    let (_, mut claims) = decode(&proof);
    set(&mut claims, "name", "Mallory");
    let payload = base64_json(&Value::Object(claims));
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(
        rejected(s.mint(&tampered), "client-token-bad-signature"),
        MintError::BadSignature
    );
}

fn base64_json(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn rejects_proof_with_wrong_sub() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| {
        set(
            c,
            "sub",
            "wireapp://yRbSiljXSnCl77-QkM634g!1@wire.example.com",
        )
    });
    let err = rejected(s.mint(&proof), "client-token-bad-client-id");
    assert!(matches!(err, MintError::ClientIdMismatch { .. }));
}

#[test]
fn rejects_proof_without_nonce() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| {
        c.remove("nonce");
    });
    assert_eq!(
        rejected(s.mint(&proof), "client-token-bad-nonce"),
        MintError::MissingNonce
    );
}

#[test]
fn rejects_proof_with_wrong_nonce() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "nonce", "foobar"));
    assert_eq!(
        rejected(s.mint(&proof), "client-token-bad-nonce"),
        MintError::NonceMismatch
    );
}

#[test]
fn rejects_reused_nonce() {
    let s = scenario();
    let proof = s.proof();
    s.mint(&proof).unwrap();
    assert_eq!(
        rejected(s.mint(&proof), "client-token-bad-nonce"),
        MintError::NonceMismatch
    );
}

#[test]
fn rejects_nonce_issued_to_another_client() {
    let s = scenario();
    let other = "wireapp://yRbSiljXSnCl77-QkM634g!1@wire.example.com"
        .parse()
        .unwrap();
    let foreign = s.nonces.issue(&other, s.clock.0);
    let proof = s.proof_claims_with(|c| set(c, "nonce", foreign.as_str()));
    assert_eq!(
        rejected(s.mint(&proof), "client-token-bad-nonce"),
        MintError::NonceMismatch
    );
}

#[test]
fn rejects_expired_nonce() {
    let s = scenario();
    let stale = "c3RhbGUtbm9uY2UtdmFsdWU";
    let issued = time::OffsetDateTime::from_unix_timestamp(NOW - 301).unwrap();
    s.nonces.insert(&s.client_id, stale, issued);
    let proof = s.proof_claims_with(|c| set(c, "nonce", stale));
    assert_eq!(
        rejected(s.mint(&proof), "client-token-bad-nonce"),
        MintError::NonceMismatch
    );
}

#[test]
fn bad_proof_leaves_the_nonce_usable() {
    let s = scenario();
    let bad = s.proof_claims_with(|c| set(c, "name", "Mallory"));
    rejected(s.mint(&bad), "dpop-display-name-mismatch");
    s.mint(&s.proof()).unwrap();
}

#[test]
fn rejects_proof_without_iat() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| {
        c.remove("iat");
    });
    assert_eq!(
        rejected(s.mint(&proof), "client-token-iat-missing"),
        MintError::MissingIat
    );
}

#[test]
fn rejects_future_iat_beyond_skew() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "iat", NOW + 2));
    assert_eq!(
        rejected(s.mint(&proof), "client-token-bad-iat"),
        MintError::IssuedInFuture {
            iat: NOW + 2,
            now: NOW
        }
    );
}

#[test]
fn accepts_iat_within_skew_and_iat_backdated_by_an_hour() {
    let s = scenario();
    s.mint(&s.proof_claims_with(|c| set(c, "iat", NOW + 1)))
        .unwrap();
    let s = scenario();
    s.mint(&s.proof_claims_with(|c| set(c, "iat", NOW - 7200)))
        .unwrap();
}

#[test]
fn rejects_proof_without_nbf() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| {
        c.remove("nbf");
    });
    assert_eq!(
        rejected(s.mint(&proof), "internal-error"),
        MintError::MissingNbf
    );
}

#[test]
fn rejects_nbf_in_the_future() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "nbf", NOW + 10));
    assert_eq!(
        rejected(s.mint(&proof), "not-yet-valid"),
        MintError::NotYetValid {
            nbf: NOW + 10,
            now: NOW
        }
    );
}

#[test]
fn rejects_proof_without_exp() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| {
        c.remove("exp");
    });
    assert_eq!(
        rejected(s.mint(&proof), "client-token-exp-missing"),
        MintError::MissingExp
    );
}

#[test]
fn rejects_expired_proof() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "exp", NOW - 2));
    assert_eq!(
        rejected(s.mint(&proof), "client-token-exp-too-small"),
        MintError::Expired {
            exp: NOW - 2,
            now: NOW
        }
    );
}

#[test]
fn rejects_proof_expiring_after_the_backend_bound() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "exp", NOW + 301));
    assert_eq!(
        rejected(s.mint(&proof), "client-token-exp-too-large"),
        MintError::ExpiresTooLate {
            exp: NOW + 301,
            max: NOW + 300
        }
    );
    let policy = BackendPolicy {
        max_proof_lifetime: Duration::from_secs(400),
        ..BackendPolicy::default()
    };
    s.mint_with(&proof, s.expectations(), policy).unwrap();
}

#[test]
fn rejects_proof_without_jti() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| {
        c.remove("jti");
    });
    assert_eq!(
        rejected(s.mint(&proof), "client-token-jti-missing"),
        MintError::MissingJti
    );
}

#[test]
fn rejects_proof_without_chal() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| {
        c.remove("chal");
    });
    assert_eq!(
        rejected(s.mint(&proof), "client-token-chal-missing"),
        MintError::MissingChallenge
    );
    let proof = s.proof_claims_with(|c| set(c, "chal", ""));
    assert_eq!(
        rejected(s.mint(&proof), "client-token-chal-missing"),
        MintError::MissingChallenge
    );
}

#[test]
fn rejects_proof_with_wrong_htm() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "htm", "GET"));
    assert_eq!(
        rejected(s.mint(&proof), "client-token-bad-method"),
        MintError::BadMethod {
            got: Some("GET".into())
        }
    );
    let proof = s.proof_claims_with(|c| set(c, "htm", "post"));
    rejected(s.mint(&proof), "client-token-bad-method");
}

#[test]
fn rejects_proof_with_wrong_htu() {
    let s = scenario();
    for htu in [
        "https://wire.example.com/clients/1/access-token",
        "https://wire.example.com/v5/clients/9ff0457928ebe5f4/access-token",
        "https://wire.example.com/clients/9ff0457928ebe5f4/access-token?x=1",
        "https://wire.example.com/clients/9ff0457928ebe5f4/access-token#f",
        "/clients/9ff0457928ebe5f4/access-token",
    ] {
        let proof = s.proof_claims_with(|c| set(c, "htu", htu));
        let err = rejected(s.mint(&proof), "client-token-bad-uri");
        assert!(matches!(err, MintError::BadUri { .. }), "{htu}");
    }
}

#[test]
fn compares_htu_as_parsed_urls() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| {
        set(
            c,
            "htu",
            "HTTPS://WIRE.example.com:443/clients/9ff0457928ebe5f4/access-token",
        )
    });
    s.mint(&proof).unwrap();
}

#[test]
fn rejects_proof_without_a_url_audience() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| {
        c.remove("aud");
    });
    assert_eq!(
        rejected(s.mint(&proof), "internal-error"),
        MintError::BadAudience
    );
    let proof = s.proof_claims_with(|c| set(c, "aud", "not a url"));
    assert_eq!(
        rejected(s.mint(&proof), "internal-error"),
        MintError::BadAudience
    );
}

#[test]
fn rejects_proof_with_wrong_handle() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "handle", "wireapp://%40mallory@wire.example.com"));
    let err = rejected(s.mint(&proof), "dpop-handle-mismatch");
    assert!(matches!(err, MintError::HandleMismatch { .. }));
}

#[test]
fn rejects_proof_with_wrong_team() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "team", "c151975e-b193-4009-a3d2-747c961f2333"));
    rejected(s.mint(&proof), "dpop-team-mismatch");
    let proof = s.proof_claims_with(|c| {
        c.remove("team");
    });
    let err = rejected(s.mint(&proof), "dpop-team-mismatch");
    assert_eq!(
        err,
        MintError::TeamMismatch {
            expected: Some(s.team.to_string()),
            got: None
        }
    );
}

#[test]
fn rejects_team_claim_for_a_user_without_team() {
    let s = scenario();
    let expect = e2ei_dpop::BackendExpectations {
        team: None,
        ..s.expectations()
    };
    let err = s
        .mint_with(&s.proof(), expect, BackendPolicy::default())
        .unwrap_err();
    assert_eq!(err.wire_label(), "dpop-team-mismatch");
}

#[test]
fn rejects_proof_with_wrong_display_name() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "name", "Alice  Smith"));
    let err = rejected(s.mint(&proof), "dpop-display-name-mismatch");
    assert!(matches!(err, MintError::DisplayNameMismatch { .. }));
    let other = DisplayName::new("Alice Smith ").unwrap();
    let expect = e2ei_dpop::BackendExpectations {
        display_name: &other,
        ..s.expectations()
    };
    let err = s
        .mint_with(&s.proof(), expect, BackendPolicy::default())
        .unwrap_err();
    assert_eq!(err.wire_label(), "dpop-display-name-mismatch");
}

#[test]
fn rejects_claim_of_the_wrong_type() {
    let s = scenario();
    let proof = s.proof_claims_with(|c| set(c, "exp", json!(format!("{}", NOW + 10))));
    assert_eq!(
        rejected(s.mint(&proof), "client-token-parse-error"),
        MintError::ClaimType("exp")
    );
    let proof = s.proof_claims_with(|c| set(c, "iat", json!(1.5)));
    assert_eq!(
        rejected(s.mint(&proof), "client-token-parse-error"),
        MintError::ClaimType("iat")
    );
}

#[test]
fn rejects_proof_when_the_backend_has_no_key_for_its_algorithm() {
    let s = Scenario::new(KeyAlgorithm::P521);
    let keys: BackendKeys = [Signer::ephemeral(KeyAlgorithm::P256).unwrap()]
        .into_iter()
        .collect();
    let err = mint_access_token(
        &s.proof(),
        s.expectations(),
        BackendPolicy::default(),
        &s.nonces,
        &keys,
        &s.clock,
    )
    .unwrap_err();
    assert_eq!(err, MintError::InvalidBackendKeys(KeyAlgorithm::P521));
    assert_eq!(err.wire_label(), "invalid-backend-keys");
}

#[test]
fn rejects_replayed_proof_when_a_replay_cache_is_configured() {
    let s = scenario();
    let cache = MemoryReplayCache::new(100);
    let proof = s.proof();
    let verifier =
        ProofVerifier::new(s.expectations(), BackendPolicy::default()).with_replay_cache(&cache);
    verifier.verify(&proof, &s.clock).unwrap();
    let err = verifier.verify(&proof, &s.clock).unwrap_err();
    assert_eq!(err, MintError::Replayed);
    assert_eq!(err.wire_label(), "client-token-bad-nonce");
}

#[test]
fn misconfigured_backend_url_is_a_server_error() {
    let s = scenario();
    let expect = e2ei_dpop::BackendExpectations {
        htu: "clients/1/access-token",
        ..s.expectations()
    };
    let err = s
        .mint_with(&s.proof(), expect, BackendPolicy::default())
        .unwrap_err();
    assert_eq!(err.wire_label(), "misconfigured-request-url");
    assert_eq!(err.http_status(), 500);
}

#[test]
fn async_callers_confirm_the_nonce_themselves() {
    let s = scenario();
    let awaiting = ProofVerifier::new(s.expectations(), BackendPolicy::default())
        .verify(&s.proof(), &s.clock)
        .unwrap();
    assert_eq!(awaiting.nonce(), s.nonce);
    assert_eq!(awaiting.client_id(), &s.client_id);
    let verified = awaiting.confirm_nonce(true).unwrap();
    verified.mint(&s.backend, &s.clock).unwrap();
    let awaiting = ProofVerifier::new(s.expectations(), BackendPolicy::default())
        .verify(&s.proof(), &s.clock)
        .unwrap();
    assert_eq!(
        awaiting.confirm_nonce(false).unwrap_err(),
        MintError::NonceMismatch
    );
}
