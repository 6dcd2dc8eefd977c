//! Client ids and handles from untrusted text: parsing never panics, and whatever parses
//! renders back to a form that parses to the same value.
#![no_main]

use e2ei_core::id::{ClientId, QualifiedHandle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(id) = text.parse::<ClientId>() {
        for form in [id.to_uri(), id.to_certificate_uri(), id.to_qualified(), id.to_mls_identity()] {
            assert_eq!(form.parse::<ClientId>().ok(), Some(id.clone()), "{form}");
        }
    }
    if let Ok(handle) = text.parse::<QualifiedHandle>() {
        assert_eq!(handle.to_uri().parse::<QualifiedHandle>().ok(), Some(handle));
    }
});
