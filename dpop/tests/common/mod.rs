//! A complete, valid DPoP scenario for one algorithm, and builders that break it one way at a
//! time (STYLE.md: negative-path builders).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::FixedClock;
use e2ei_core::id::{ClientId, DisplayName, QualifiedHandle, TeamId};
use e2ei_core::jwk::Jwk;
use e2ei_dpop::jws::sign_compact;
use e2ei_dpop::{
    AccessTokenError, AccessTokenVerifier, AcmePolicy, BackendExpectations, BackendKeys,
    BackendPolicy, BackendPublicKeys, ChallengeExpectations, MemoryNonceStore, MintError,
    ProofOptions, ProofRequest, VerifiedAccessToken, build_proof, mint_access_token,
};
use e2ei_signer::Signer;
use serde_json::{Map, Value};

/// The scenario's "now".
pub const NOW: i64 = 1_800_000_000;

pub type Claims = Map<String, Value>;

pub struct Scenario {
    pub alg: KeyAlgorithm,
    pub account: Signer,
    pub backend: BackendKeys,
    pub client_id: ClientId,
    pub handle: QualifiedHandle,
    pub display_name: DisplayName,
    pub team: TeamId,
    pub htu: String,
    pub challenge_url: String,
    pub challenge_token: String,
    pub nonces: MemoryNonceStore,
    pub nonce: String,
    pub clock: FixedClock,
    /// `client_id` and `handle` as the ACME identifiers spell them.
    pub client_uri: String,
    pub handle_uri: String,
}

impl Scenario {
    pub fn new(alg: KeyAlgorithm) -> Self {
        let client_id: ClientId =
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.example.com"
                .parse()
                .unwrap();
        let clock = FixedClock::at_unix(NOW);
        let nonces = MemoryNonceStore::default();
        let nonce = nonces.issue(&client_id, clock.0);
        let handle: QualifiedHandle = "wireapp://%40alice_wire@wire.example.com".parse().unwrap();
        Self {
            client_uri: client_id.to_uri(),
            handle_uri: handle.to_uri(),
            handle,
            alg,
            account: Signer::ephemeral(alg).unwrap(),
            backend: KeyAlgorithm::ALL
                .into_iter()
                .map(|a| Signer::ephemeral(a).unwrap())
                .collect(),
            client_id,
            display_name: DisplayName::new("Alice Smith").unwrap(),
            team: "6e85e053-536f-4585-8fc8-cada876e5ec7".parse().unwrap(),
            htu: "https://wire.example.com/clients/9ff0457928ebe5f4/access-token".into(),
            challenge_url: "https://acme.wire.example.com/acme/wire/challenge/AAAA/BBBB".into(),
            challenge_token: "OysCZNnV2iJTYfjmTUJZ6vavXXkzPFLf".into(),
            nonces,
            nonce,
            clock,
        }
    }

    pub fn at(mut self, now: i64) -> Self {
        self.clock = FixedClock::at_unix(now);
        self
    }

    // ---- the client's proof ----

    pub fn proof(&self) -> String {
        let request = ProofRequest {
            client_id: &self.client_id,
            handle: &self.handle,
            display_name: &self.display_name,
            team: Some(&self.team),
            backend_nonce: &self.nonce,
            htu: &self.htu,
            challenge_url: &self.challenge_url,
            challenge_token: &self.challenge_token,
        };
        build_proof(
            &self.account,
            &request,
            &ProofOptions::default(),
            &self.clock,
        )
        .unwrap()
    }

    /// The valid proof with its header and claims edited, re-signed by the account key.
    pub fn proof_with(&self, edit: impl FnOnce(&mut Claims, &mut Claims)) -> String {
        resign(&self.proof(), &self.account, edit)
    }

    /// The valid proof's claims edited, re-signed by the account key.
    pub fn proof_claims_with(&self, edit: impl FnOnce(&mut Claims)) -> String {
        self.proof_with(|_, claims| edit(claims))
    }

    // ---- the backend ----

    pub fn expectations(&self) -> BackendExpectations<'_> {
        BackendExpectations {
            client_id: &self.client_id,
            handle: &self.handle,
            display_name: &self.display_name,
            team: Some(&self.team),
            htu: &self.htu,
        }
    }

    pub fn mint(&self, proof: &str) -> Result<String, MintError> {
        self.mint_with(proof, self.expectations(), BackendPolicy::default())
    }

    pub fn mint_with(
        &self,
        proof: &str,
        expect: BackendExpectations<'_>,
        policy: BackendPolicy,
    ) -> Result<String, MintError> {
        mint_access_token(
            proof,
            expect,
            policy,
            &self.nonces,
            &self.backend,
            &self.clock,
        )
        .map(|t| t.token().to_owned())
    }

    pub fn backend_key(&self) -> &Signer {
        self.backend.get(self.alg).unwrap()
    }

    // ---- the access token at the ACME server ----

    /// A fresh valid access token (the scenario's nonce is re-issued for each one).
    pub fn access_token(&self) -> String {
        self.nonces
            .insert(&self.client_id, &self.nonce, self.clock.0);
        self.mint(&self.proof()).unwrap()
    }

    /// A valid access token with its header and claims edited, re-signed by `signer`.
    pub fn access_token_with(
        &self,
        signer: &Signer,
        edit: impl FnOnce(&mut Claims, &mut Claims),
    ) -> String {
        resign(&self.access_token(), signer, edit)
    }

    /// A valid access token with its claims edited, re-signed by the backend key.
    pub fn access_token_claims_with(&self, edit: impl FnOnce(&mut Claims)) -> String {
        self.access_token_with(self.backend_key(), |_, claims| edit(claims))
    }

    /// A valid access token carrying `proof` instead of the valid one.
    pub fn access_token_around(&self, proof: String) -> String {
        self.access_token_claims_with(|c| {
            c.insert("proof".into(), Value::String(proof));
        })
    }

    pub fn account_jwk(&self) -> Jwk {
        Jwk::from_public_key(self.account.public_key().clone())
    }

    pub fn backend_public_keys(&self) -> BackendPublicKeys {
        BackendPublicKeys::new(self.backend.public_keys())
    }

    /// What the ACME server expects for this scenario's challenge, with `account` as the
    /// account key.
    pub fn challenge<'a>(&'a self, account: &'a Jwk) -> ChallengeExpectations<'a> {
        ChallengeExpectations {
            challenge_url: &self.challenge_url,
            challenge_token: &self.challenge_token,
            target: &self.htu,
            client_id: &self.client_uri,
            handle: &self.handle_uri,
            display_name: self.display_name.as_str(),
            account_key: account,
        }
    }

    pub fn verify(&self, token: &str) -> Result<VerifiedAccessToken, AccessTokenError> {
        self.verify_with(token, &AcmePolicy::default())
    }

    pub fn verify_strict(&self, token: &str) -> Result<VerifiedAccessToken, AccessTokenError> {
        self.verify_with(token, &AcmePolicy::strict())
    }

    pub fn verify_with(
        &self,
        token: &str,
        policy: &AcmePolicy,
    ) -> Result<VerifiedAccessToken, AccessTokenError> {
        let keys = self.backend_public_keys();
        let account = self.account_jwk();
        let expect = self.challenge(&account);
        AccessTokenVerifier::new(&keys, policy).verify(token, &expect, &self.clock)
    }
}

/// Decodes a compact JWS (no verification).
pub fn decode(token: &str) -> (Claims, Claims) {
    let mut parts = token.split('.');
    let mut next = || {
        let bytes = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        match serde_json::from_slice(&bytes).unwrap() {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    };
    (next(), next())
}

/// Re-signs `token` with `signer` after editing header and claims; `alg` follows the signer.
pub fn resign(token: &str, signer: &Signer, edit: impl FnOnce(&mut Claims, &mut Claims)) -> String {
    let (mut header, mut claims) = decode(token);
    edit(&mut header, &mut claims);
    sign_compact(signer, &header, &claims).unwrap()
}

/// Signs with `signer` but keeps the header's `alg` as given (algorithm-confusion tests).
pub fn sign_keeping_alg(signer: &Signer, header: &Claims, claims: &Claims) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(Value::Object(header.clone()).to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
    );
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_jws()))
}

pub fn set(claims: &mut Claims, name: &str, value: impl Into<Value>) {
    claims.insert(name.to_owned(), value.into());
}
