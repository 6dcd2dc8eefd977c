//! Per algorithm: proof build, proof verification + access-token mint, access-token
//! verification (§6.1, which checks two signatures), next to raw aws-lc-rs signature
//! verification of the same messages. `cargo bench -p e2ei-dpop`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::FixedClock;
use e2ei_core::id::{ClientId, DisplayName, QualifiedHandle, TeamId};
use e2ei_core::jwk::Jwk;
use e2ei_dpop::{
    AccessTokenVerifier, AcmePolicy, BackendExpectations, BackendKeys, BackendPolicy,
    BackendPublicKeys, ChallengeExpectations, ProofOptions, ProofRequest, ProofVerifier,
    build_proof,
};
use e2ei_signer::Signer;

const NOW: i64 = 1_800_000_000;
const HTU: &str = "https://wire.example.com/clients/9ff0457928ebe5f4/access-token";
const CHALLENGE_URL: &str = "https://acme.wire.example.com/acme/wire/challenge/AAAA/BBBB";
const CHALLENGE_TOKEN: &str = "OysCZNnV2iJTYfjmTUJZ6vavXXkzPFLf";
const NONCE: &str = "UhaLt4MDQpGJWKm5tvcjDQ";

/// The signing input and the signature bytes of a compact JWS.
fn split(token: &str) -> (&str, Vec<u8>) {
    use base64::Engine;
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap();
    (input, signature)
}

fn bench(c: &mut Criterion) {
    let client_id: ClientId = "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.example.com"
        .parse()
        .unwrap();
    let handle: QualifiedHandle = "wireapp://%40alice_wire@wire.example.com".parse().unwrap();
    let name = DisplayName::new("Alice Smith").unwrap();
    let team: TeamId = "6e85e053-536f-4585-8fc8-cada876e5ec7".parse().unwrap();
    let clock = FixedClock::at_unix(NOW);
    let expect = BackendExpectations {
        client_id: &client_id,
        handle: &handle,
        display_name: &name,
        team: Some(&team),
        htu: HTU,
    };
    let request = ProofRequest {
        client_id: &client_id,
        handle: &handle,
        display_name: &name,
        team: Some(&team),
        backend_nonce: NONCE,
        htu: HTU,
        challenge_url: CHALLENGE_URL,
        challenge_token: CHALLENGE_TOKEN,
    };
    let client_uri = client_id.to_uri();
    let handle_uri = handle.to_uri();

    for alg in KeyAlgorithm::ALL {
        let account = Signer::ephemeral(alg).unwrap();
        let account_jwk = Jwk::from_public_key(account.public_key().clone());
        let backend: BackendKeys = [Signer::ephemeral(alg).unwrap()].into_iter().collect();
        let backend_public = BackendPublicKeys::new(backend.public_keys());
        let policy = AcmePolicy::default();
        let verifier = ProofVerifier::new(expect, BackendPolicy::default());
        let challenge = ChallengeExpectations {
            challenge_url: CHALLENGE_URL,
            challenge_token: CHALLENGE_TOKEN,
            target: HTU,
            client_id: &client_uri,
            handle: &handle_uri,
            display_name: name.as_str(),
            account_key: &account_jwk,
        };
        let proof = build_proof(&account, &request, &ProofOptions::default(), &clock).unwrap();
        let token = verifier
            .verify(&proof, &clock)
            .unwrap()
            .confirm_nonce(true)
            .unwrap()
            .mint(&backend, &clock)
            .unwrap();
        let token = token.token().to_owned();

        let mut group = c.benchmark_group(alg.jws_algorithm().as_str());
        group.bench_function("proof_build", |b| {
            b.iter(|| {
                build_proof(
                    &account,
                    black_box(&request),
                    &ProofOptions::default(),
                    &clock,
                )
            })
        });
        group.bench_function("proof_verify_and_mint", |b| {
            b.iter(|| {
                verifier
                    .verify(black_box(&proof), &clock)
                    .unwrap()
                    .confirm_nonce(true)
                    .unwrap()
                    .mint(&backend, &clock)
                    .unwrap()
            })
        });
        group.bench_function("access_token_verify", |b| {
            let at_verifier = AccessTokenVerifier::new(&backend_public, &policy);
            b.iter(|| {
                at_verifier
                    .verify(black_box(&token), &challenge, &clock)
                    .unwrap()
            })
        });
        // Baselines: the signature checks the token verification cannot avoid.
        let backend_key = backend.public_keys().remove(0);
        let (at_input, at_signature) = split(&token);
        let (proof_input, proof_signature) = split(&proof);
        group.bench_function("raw_verify", |b| {
            b.iter(|| {
                backend_key
                    .verify_fixed(black_box(at_input.as_bytes()), &at_signature)
                    .unwrap()
            })
        });
        group.bench_function("raw_verify_x2", |b| {
            b.iter(|| {
                backend_key
                    .verify_fixed(black_box(at_input.as_bytes()), &at_signature)
                    .unwrap();
                account
                    .public_key()
                    .verify_fixed(black_box(proof_input.as_bytes()), &proof_signature)
                    .unwrap()
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
