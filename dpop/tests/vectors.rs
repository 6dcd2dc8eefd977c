//! Wire's own vectors (protocol doc §11), from `testdata/dpop/` (origins in its README).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::decode;
use e2ei_core::clock::FixedClock;
use e2ei_core::id::{
    ClientId, DeviceId, DisplayName, Domain, Handle, QualifiedHandle, TeamId, UserId,
};
use e2ei_core::jwk::Jwk;
use e2ei_dpop::{
    AccessTokenVerifier, AcmePolicy, BackendExpectations, BackendKeys, BackendPolicy,
    BackendPublicKeys, ChallengeExpectations, MemoryNonceStore, MintError, StrictChecks,
    mint_access_token,
};
use e2ei_signer::Signer;
use e2ei_signer::software::SoftwareKey;
use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/dpop")
        .join(name)
}

fn load(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(testdata(name)).unwrap()).unwrap()
}

fn text(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap().to_owned()
}

/// The wire-server FFI inputs of a vector, as backend expectations.
struct FfiVector {
    v: Value,
    client_id: ClientId,
    handle: QualifiedHandle,
    display_name: DisplayName,
    team: TeamId,
    keys: BackendKeys,
}

impl FfiVector {
    fn load(name: &str) -> Self {
        let v = load(name);
        let domain = Domain::new(text(&v, "domain")).unwrap();
        let user: UserId = text(&v, "user_id").parse().unwrap();
        let device = DeviceId::new(v["client_id"].as_u64().unwrap());
        let keys = [Signer::from_backend(Box::new(
            SoftwareKey::from_pem(&text(&v, "backend_key_pem"), "dpopSigKeyBundle").unwrap(),
        ))]
        .into_iter()
        .collect();
        Self {
            client_id: ClientId::new(user, device, domain.clone()),
            handle: QualifiedHandle::new(Handle::new(text(&v, "handle")).unwrap(), domain),
            display_name: DisplayName::new(text(&v, "display_name")).unwrap(),
            team: text(&v, "team").parse().unwrap(),
            keys,
            v,
        }
    }

    /// Runs the backend at `now` with the stored nonce `stored_nonce`.
    fn mint(&self, now: i64, stored_nonce: &str) -> Result<e2ei_dpop::AccessToken, MintError> {
        let clock = FixedClock::at_unix(now);
        let nonces = MemoryNonceStore::default();
        nonces.insert(&self.client_id, stored_nonce, clock.0);
        let uri = text(&self.v, "uri");
        let expect = BackendExpectations {
            client_id: &self.client_id,
            handle: &self.handle,
            display_name: &self.display_name,
            team: Some(&self.team),
            htu: &uri,
        };
        // The FFI takes an absolute bound; the policy holds it relative to now.
        let max_expiration = self.v["max_expiration"].as_i64().unwrap();
        let policy = BackendPolicy {
            max_skew: Duration::from_secs(self.v["max_skew_secs"].as_u64().unwrap()),
            max_proof_lifetime: Duration::from_secs((max_expiration - now) as u64),
            ..BackendPolicy::default()
        };
        mint_access_token(
            &text(&self.v, "proof"),
            expect,
            policy,
            &nonces,
            &self.keys,
            &clock,
        )
    }
}

#[test]
fn wire_server_es256_vector_yields_a_valid_access_token() {
    let vector = FfiVector::load("wire-server-es256.json");
    assert_eq!(
        vector.client_id.to_uri(),
        "wireapp://SvPfLlwBQi-6oddVRrkqpw!4c7@example.com"
    );
    let nonce = text(&vector.v, "backend_nonce");
    // Any time between the proof's iat (1727212942) and exp (2042576542).
    let token = vector.mint(1_800_000_000, &nonce).unwrap();
    let (header, claims) = decode(token.token());
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    let (_, proof) = decode(&text(&vector.v, "proof"));
    assert_eq!(claims["iss"], proof["htu"]);
    assert_eq!(claims["nonce"], nonce.as_str());
    assert_eq!(claims["chal"], proof["chal"]);
    assert_eq!(claims["sub"], vector.client_id.to_uri().as_str());
    let proof_key = Jwk::from_json_value(&decode(&text(&vector.v, "proof")).0["jwk"]).unwrap();
    assert_eq!(claims["cnf"]["kid"], proof_key.thumbprint_sha256().as_str());
}

#[test]
fn wire_server_es256_vector_with_nonce_foobar_is_a_nonce_mismatch() {
    let vector = FfiVector::load("wire-server-es256.json");
    let err = vector.mint(1_800_000_000, "foobar").unwrap_err();
    assert_eq!(err, MintError::NonceMismatch);
    assert_eq!(err.wire_label(), "client-token-bad-nonce");
}

#[test]
fn wire_server_eddsa_vector_yields_the_expected_access_token_header() {
    let vector = FfiVector::load("wire-server-eddsa.json");
    let nonce = text(&vector.v, "backend_nonce");
    // Between the proof's iat (1708344674) and exp (1739880674).
    let token = vector.mint(1_739_880_000, &nonce).unwrap();
    let header_b64 = token.token().split('.').next().unwrap();
    assert_eq!(
        header_b64,
        vector.v["expected"]["access_token_header_b64"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        vector
            .mint(1_739_880_000, "foobar")
            .unwrap_err()
            .wire_label(),
        "client-token-bad-nonce"
    );
}

fn transcript_verify(
    policy: &AcmePolicy,
    now: i64,
) -> Result<e2ei_dpop::VerifiedAccessToken, e2ei_dpop::AccessTokenError> {
    let v = load("transcript-ed25519.json");
    let token =
        std::fs::read_to_string(testdata(v["access_token_file"].as_str().unwrap())).unwrap();
    let backend = Jwk::from_json_value(&v["backend_public_jwk"]).unwrap();
    let account = Jwk::from_json_value(&v["account_public_jwk"]).unwrap();
    assert_eq!(
        account.thumbprint_sha256().as_str(),
        text(&v, "account_thumbprint")
    );
    let keys = BackendPublicKeys::new([backend.public_key().clone()]);
    let (url, chal, target, client_id, handle, name) = (
        text(&v, "challenge_url"),
        text(&v, "challenge_token"),
        text(&v, "target"),
        text(&v, "client_id"),
        text(&v, "handle"),
        text(&v, "display_name"),
    );
    let expect = ChallengeExpectations {
        challenge_url: &url,
        challenge_token: &chal,
        target: &target,
        client_id: &client_id,
        handle: &handle,
        display_name: &name,
        account_key: &account,
    };
    AccessTokenVerifier::new(&keys, policy).verify(token.trim(), &expect, &FixedClock::at_unix(now))
}

#[test]
fn ed25519_transcript_access_token_verifies_at_its_time() {
    let now = load("transcript-ed25519.json")["now"].as_i64().unwrap();
    let verified = transcript_verify(&AcmePolicy::default(), now).unwrap();
    let proof = verified.proof_claims();
    assert_eq!(
        proof["sub"],
        "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com"
    );
    assert_eq!(proof["team"], "wire");
    let strict = AcmePolicy {
        strict: Some(StrictChecks {
            team: Some(Some("wire".into())),
            ..StrictChecks::default()
        }),
        ..AcmePolicy::default()
    };
    transcript_verify(&strict, now).unwrap();
}

#[test]
fn ed25519_transcript_access_token_is_expired_two_hours_later() {
    let now = load("transcript-ed25519.json")["now"].as_i64().unwrap();
    let err = transcript_verify(&AcmePolicy::default(), now + 7200).unwrap_err();
    assert!(
        matches!(err, e2ei_dpop::AccessTokenError::Expired { .. }),
        "{err}"
    );
}

#[test]
fn ed25519_transcript_proof_verifies_with_the_account_key() {
    let v = load("transcript-ed25519.json");
    let proof = std::fs::read_to_string(testdata(v["proof_file"].as_str().unwrap())).unwrap();
    let jws = e2ei_dpop::jws::CompactJws::parse(proof.trim(), e2ei_dpop::MAX_PROOF_LEN).unwrap();
    let account = Jwk::from_json_value(&v["account_public_jwk"]).unwrap();
    assert_eq!(jws.header().jwk(), Some(&account));
    jws.verify(account.public_key()).unwrap();
}
