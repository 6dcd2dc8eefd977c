//! ACME request bodies (flattened JWS): parsing never panics; whatever parses names a supported
//! algorithm and exactly one key reference, and typed payload decoding never panics.
#![no_main]

use e2ei_acme::jws::{JwsRequestIn, Payload};
use e2ei_acme::messages::{FinalizeRequest, NewAccountRequest, NewOrderRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(jws) = JwsRequestIn::parse(data) else { return };
    assert!(e2ei_acme::jws::SUPPORTED_ALGS.contains(&jws.header().alg.as_str()));
    assert!(!jws.header().url.is_empty());
    if let Ok(verified) = jws.verify_with_embedded_key() {
        if let Payload::Json(_) = verified.payload {
            let _ = verified.payload_as::<NewAccountRequest>();
            let _ = verified.payload_as::<NewOrderRequest>();
            let _ = verified.payload_as::<FinalizeRequest>();
            if let Ok(order) = verified.payload_as::<NewOrderRequest>() {
                let _ = e2ei_acme::order::validate_identifiers(&order.identifiers);
            }
        }
    }
});
