//! YubiKey PIV tests. No YubiKey emulator exists in the reachable registries, so the tests that
//! touch a device are ignored by default; with a YubiKey plugged in (PIV, the factory default
//! management key, PIN in `E2EI_YUBIKEY_PIN`) run them with
//! `E2EI_YUBIKEY_PIN=123456 cargo test -p e2ei-signer --features yubikey --test yubikey_hardware -- --ignored`.
//! They OVERWRITE the key and certificate in slot 9c.
#![cfg(feature = "yubikey")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use der::Encode;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::FixedClock;
use e2ei_core::key::{PublicKey, fixed_signature_to_x509};
use e2ei_core::x509::{
    CertificateParts, NameAttribute, ToBeSigned, build_name, random_serial, validity,
};
use e2ei_signer::uri::YubiKeyUri;
use e2ei_signer::yubikey::YubiKeySlot;
use e2ei_signer::{GenerateOptions, KeyUri, Signer, SignerError, SigningBackend};

fn slot_9c() -> (KeyUri, YubiKeyUri) {
    let uri: KeyUri = "yubikey:slot=9c".parse().unwrap();
    let KeyUri::YubiKey(yk) = uri.clone() else {
        unreachable!()
    };
    (uri, yk)
}

/// A certificate for `subject` signed by the slot (self-signed when `subject` is the slot's key).
fn certificate(slot: &YubiKeySlot, subject: &PublicKey) -> Vec<u8> {
    let name = build_name(&[NameAttribute {
        oid: e2ei_core::oid::COMMON_NAME,
        value: "e2ei YubiKey test".into(),
    }])
    .unwrap();
    let tbs = ToBeSigned::new(CertificateParts {
        serial: random_serial().unwrap(),
        issuer: name.clone(),
        subject: name,
        validity: validity(
            FixedClock::at_unix(1_700_000_000).0,
            FixedClock::at_unix(2_000_000_000).0,
        )
        .unwrap(),
        subject_public_key: subject.clone(),
        issuer_algorithm: slot.public_key().algorithm(),
        extensions: Vec::new(),
    })
    .unwrap();
    let fixed = slot.sign_fixed(tbs.der()).unwrap();
    slot.public_key().verify_fixed(tbs.der(), &fixed).unwrap();
    let x509 = fixed_signature_to_x509(slot.public_key().algorithm(), &fixed).unwrap();
    tbs.into_certificate(&x509).unwrap().to_der().unwrap()
}

#[test]
#[ignore = "needs a YubiKey with PIV, the default management key and E2EI_YUBIKEY_PIN; overwrites slot 9c"]
fn generates_in_slot_9c_signs_and_verifies() {
    let (uri, _) = slot_9c();
    let options = GenerateOptions {
        touch_policy: Some("never".into()),
        pin_policy: Some("once".into()),
        ..Default::default()
    };
    for alg in [KeyAlgorithm::P256, KeyAlgorithm::P384] {
        let signer = Signer::generate(&uri, alg, &options).unwrap();
        assert_eq!(signer.algorithm(), alg);
        for message in [&b"ceremony"[..], &[0x5a; 2048]] {
            let sig = signer.sign(message).unwrap();
            assert_eq!(sig.to_jws().len(), alg.fixed_signature_len());
            signer
                .public_key()
                .verify_fixed(message, sig.to_jws())
                .unwrap();
            signer
                .public_key()
                .verify_x509(message, &sig.to_x509().unwrap())
                .unwrap();
        }
        let public = signer.public_key().clone();
        drop(signer);
        // Reopened: the public key comes from the slot metadata.
        let reopened = Signer::open(&uri).unwrap();
        assert_eq!(reopened.public_key(), &public);
    }
}

#[test]
#[ignore = "needs a YubiKey with PIV, the default management key and E2EI_YUBIKEY_PIN; overwrites slot 9c"]
fn stores_the_ceremony_certificate_in_the_slot() {
    let (uri, yk) = slot_9c();
    let slot = YubiKeySlot::generate(&yk, KeyAlgorithm::P256, &GenerateOptions::default()).unwrap();
    // A certificate for another key is refused.
    let other = tempfile::tempdir().unwrap();
    let file: KeyUri = format!("file:{}/other.pem", other.path().display())
        .parse()
        .unwrap();
    let other_key =
        Signer::generate(&file, KeyAlgorithm::P256, &GenerateOptions::default()).unwrap();
    let err = slot
        .store_certificate(&certificate(&slot, other_key.public_key()))
        .unwrap_err();
    assert!(matches!(err, SignerError::MalformedKey(_)), "{err}");
    slot.store_certificate(&certificate(&slot, &slot.public_key().clone()))
        .unwrap();
    let public = slot.public_key().clone();
    drop(slot);
    let reopened = Signer::open(&uri).unwrap();
    assert_eq!(reopened.public_key(), &public);
}

#[test]
fn refuses_ed25519_and_p521_before_touching_a_device() {
    let (uri, _) = slot_9c();
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::P521] {
        let err = Signer::generate(&uri, alg, &GenerateOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                SignerError::UnsupportedAlgorithm {
                    backend: "yubikey",
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn refuses_unknown_pin_and_touch_policies_before_touching_a_device() {
    let (uri, _) = slot_9c();
    for options in [
        GenerateOptions {
            pin_policy: Some("sometimes".into()),
            ..Default::default()
        },
        GenerateOptions {
            touch_policy: Some("maybe".into()),
            ..Default::default()
        },
    ] {
        let err = Signer::generate(&uri, KeyAlgorithm::P256, &options).unwrap_err();
        assert!(err.to_string().contains("policy"), "{err}");
    }
}
