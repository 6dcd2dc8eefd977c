//! DPoP proofs as the backend receives them (§6.2): never panics; whatever the strict JWS layer
//! accepts names one of the four algorithms and carries no forbidden header.
#![no_main]

use e2ei_core::clock::FixedClock;
use e2ei_core::id::{ClientId, DisplayName, QualifiedHandle, TeamId};
use e2ei_dpop::jws::CompactJws;
use e2ei_dpop::{BackendExpectations, BackendPolicy, MAX_PROOF_LEN, ProofVerifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = std::str::from_utf8(data) else { return };
    if let Ok(jws) = CompactJws::parse(proof, MAX_PROOF_LEN) {
        let alg = jws.header().alg().as_str();
        assert!(["EdDSA", "ES256", "ES384", "ES512"].contains(&alg));
    }
    let client_id: ClientId = "wireapp://SvPfLlwBQi-6oddVRrkqpw!4c7@example.com".parse().unwrap();
    let handle: QualifiedHandle = "wireapp://%40john_doe@example.com".parse().unwrap();
    let name = DisplayName::new("John Doe").unwrap();
    let team: TeamId = "6e85e053-536f-4585-8fc8-cada876e5ec7".parse().unwrap();
    let expect = BackendExpectations {
        client_id: &client_id,
        handle: &handle,
        display_name: &name,
        team: Some(&team),
        htu: "https://wire.example.com/client/token",
    };
    let verifier = ProofVerifier::new(expect, BackendPolicy::default());
    if let Err(err) = verifier.verify(proof, &FixedClock::at_unix(1_800_000_000)) {
        assert!(!err.wire_label().is_empty());
    }
});
