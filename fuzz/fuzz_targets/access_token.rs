//! `wire-dpop-01` access tokens as the ACME server receives them (§6.1, §6.4): never panics,
//! in default and strict mode.
#![no_main]

use e2ei_core::clock::FixedClock;
use e2ei_core::jwk::Jwk;
use e2ei_dpop::{AccessTokenVerifier, AcmePolicy, BackendPublicKeys, ChallengeExpectations};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    // The Ed25519 transcript's keys and challenge (testdata/dpop/transcript-ed25519.json).
    let backend = Jwk::from_json(r#"{"kty":"OKP","crv":"Ed25519","x":"p8RM7kLwp61kjwCsfncENGOKlf1MZPIcFaUeg0ZytpQ"}"#).unwrap();
    let account = Jwk::from_json(r#"{"kty":"OKP","crv":"Ed25519","x":"-5zCew93D_bahlxo2Gw5ceNyNOSqAxcbMuM8dBMI1Kg"}"#).unwrap();
    let keys = BackendPublicKeys::new([backend.public_key().clone()]);
    let expect = ChallengeExpectations {
        challenge_url: "https://stepca:32791/acme/wire/challenge/xHRAajFP4HlKRNPe0IstIzHWrrDS6ev0/pN19guj2sKZCQ3Q27w6YBAZlrbl3RogU",
        challenge_token: "OysCZNnV2iJTYfjmTUJZ6vavXXkzPFLf",
        target: "http://wire.com:46335/clients/9ff0457928ebe5f4/access-token",
        client_id: "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com",
        handle: "wireapp://%40alice_wire@wire.com",
        display_name: "Alice Smith",
        account_key: &account,
    };
    let clock = FixedClock::at_unix(1_763_129_547);
    for policy in [AcmePolicy::default(), AcmePolicy::strict()] {
        let _ = AccessTokenVerifier::new(&keys, &policy).verify(token, &expect, &clock);
    }
});
