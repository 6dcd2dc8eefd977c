//! ACME `wireapp-user` / `wireapp-device` identifier values (JSON inside a string).
#![no_main]

use e2ei_core::identifier::{WireDeviceIdentifier, WireUserIdentifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(device) = WireDeviceIdentifier::from_value_str(text) {
        let again = WireDeviceIdentifier::from_value_str(&device.to_value_string());
        assert_eq!(again.ok(), Some(device));
    }
    if let Ok(user) = WireUserIdentifier::from_value_str(text) {
        let again = WireUserIdentifier::from_value_str(&user.to_value_string());
        assert_eq!(again.ok(), Some(user));
    }
});
