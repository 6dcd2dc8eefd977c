//! Public JWKs from JWS headers: parsing never panics; accepted keys re-serialise canonically.
#![no_main]

use e2ei_core::jwk::Jwk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(jwk) = Jwk::from_json(text) {
        let again = Jwk::from_json(&jwk.canonical_json()).ok();
        assert_eq!(again.as_ref(), Some(&jwk));
        let _ = jwk.thumbprint_sha256();
    }
});
