//! YubiKey PIV tests. They need a real YubiKey (no emulator exists in the reachable
//! registries), so they are ignored by default: run them with
//! `E2EI_YUBIKEY_PIN=123456 cargo test -p e2ei-signer --features yubikey -- --ignored`.
#![cfg(feature = "yubikey")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_signer::{GenerateOptions, KeyUri, Signer, SignerError};

#[test]
#[ignore = "needs a YubiKey with PIV, the default management key and E2EI_YUBIKEY_PIN; overwrites slot 9c"]
fn generates_in_slot_9c_and_signs() {
    let uri: KeyUri = "yubikey:slot=9c".parse().unwrap();
    let options = GenerateOptions {
        touch_policy: Some("never".into()),
        pin_policy: Some("once".into()),
        ..Default::default()
    };
    let signer = Signer::generate(&uri, KeyAlgorithm::P256, &options).unwrap();
    let sig = signer.sign(b"ceremony").unwrap();
    signer
        .public_key()
        .verify_fixed(b"ceremony", sig.to_jws())
        .unwrap();
}

#[test]
#[ignore = "needs a YubiKey with PIV and E2EI_YUBIKEY_PIN"]
fn refuses_ed25519_and_p521() {
    let uri: KeyUri = "yubikey:slot=9d".parse().unwrap();
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::P521] {
        let err = Signer::generate(&uri, alg, &GenerateOptions::default()).unwrap_err();
        assert!(
            matches!(err, SignerError::UnsupportedAlgorithm { .. }),
            "{err}"
        );
    }
}
