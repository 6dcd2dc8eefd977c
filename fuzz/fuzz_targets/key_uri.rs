//! Key URIs from configuration files: parsing never panics, never echoes a `pin-value`, and
//! round-trips through Display.
#![no_main]

use e2ei_signer::KeyUri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match text.parse::<KeyUri>() {
        Ok(uri) => assert_eq!(uri.to_string().parse::<KeyUri>().ok(), Some(uri)),
        Err(e) => {
            if let Some(start) = text.find("pin-value=") {
                let value: String = text[start + 10..].chars().take_while(|c| *c != '&').collect();
                if value.len() >= 4 {
                    assert!(!e.to_string().contains(&format!("pin-value={value}")));
                }
            }
        }
    }
});
