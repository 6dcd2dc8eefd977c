//! The PKCS#11 backend against fresh SoftHSM2 tokens.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once, when the module is initialised, and environment
//! variables are process-wide, so `softhsm_suite` creates a token directory in a tempdir (two
//! tokens, `e2ei-test` and `e2ei-other`), then re-runs this test binary with `SOFTHSM2_CONF`
//! pointing at it and executes the `token_*` tests there, one at a time. In a plain run the
//! `token_*` tests are `#[ignore]`d; run alone with `--ignored` and no token they fail loudly.
//!
//! The PIN reaches the backend through `pin-source=file:…` (or the `E2EI_PKCS11_PIN`
//! environment variable), never through argv.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use der::Encode;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_signer::uri::Pkcs11Uri;
use e2ei_signer::{GenerateOptions, KeyUri, Signer, SignerError};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "e2ei-test";
const OTHER_TOKEN: &str = "e2ei-other";
const PIN: &str = "1234";
const WRONG_PIN: &str = "98765";
/// The `token_*` tests `softhsm_suite` expects to pass.
const TOKEN_TESTS: usize = 11;

/// The token directory prepared by `softhsm_suite`; panics outside of it.
fn suite_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("E2EI_TEST_SOFTHSM_DIR").expect(
        "the token_* tests run inside softhsm_suite (`cargo test -p e2ei-signer --test \
         pkcs11_softhsm`), which provides the SoftHSM2 token",
    ))
}

fn pin_file() -> PathBuf {
    suite_dir().join("pin")
}

fn wrong_pin_file() -> PathBuf {
    suite_dir().join("wrong-pin")
}

fn key_uri(path: &str) -> KeyUri {
    format!(
        "pkcs11:token={TOKEN};{path}?module-path={MODULE}&pin-source=file:{}",
        pin_file().display()
    )
    .parse()
    .unwrap()
}

fn p11(uri: &KeyUri) -> &Pkcs11Uri {
    match uri {
        KeyUri::Pkcs11(p) => p,
        other => panic!("not a pkcs11 URI: {other}"),
    }
}

fn generate(uri: &KeyUri, alg: KeyAlgorithm) -> Result<Signer, SignerError> {
    Signer::generate(uri, alg, &GenerateOptions::default())
}

/// A logged-in session of the test's own, to look at objects behind the backend's back.
fn inspector() -> Session {
    let ctx = Pkcs11::new(MODULE).unwrap();
    // Already initialised by the backend in this process, or not yet: both are fine.
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == TOKEN)
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&AuthPin::from(PIN.to_owned())));
    session
}

fn softhsm_installed() -> bool {
    Path::new(MODULE).exists()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

#[test]
fn softhsm_suite() {
    if !softhsm_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "SoftHSM2 is required under CI: apt-get install softhsm2 ({MODULE} and \
             softhsm2-util)"
        );
        eprintln!(
            "\n==========\nSKIPPED: softhsm2-util not installed (apt-get install softhsm2)\n==========\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("pin"), format!("{PIN}\n")).unwrap();
    std::fs::write(dir.path().join("wrong-pin"), format!("{WRONG_PIN}\n")).unwrap();
    for label in [TOKEN, OTHER_TOKEN] {
        // softhsm2-util is not our code; its PIN argument is test setup.
        let init = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                "12345678",
                "--pin",
                PIN,
            ])
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let run = Command::new(std::env::current_exe().unwrap())
        .env("SOFTHSM2_CONF", &conf)
        .env("E2EI_TEST_SOFTHSM_DIR", dir.path())
        .env("E2EI_PKCS11_PIN", PIN)
        .env_remove("E2EI_PKCS11_MODULE")
        .args(["--ignored", "--test-threads", "1", "token_"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        report.contains(&format!("{TOKEN_TESTS} passed; 0 failed")),
        "{report}"
    );
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_generates_signs_and_verifies_every_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let uri = key_uri(&format!("object=key-{alg}"));
        let signer = generate(&uri, alg).unwrap();
        assert_eq!(signer.algorithm(), alg);
        for message in [&b""[..], b"to be signed", &[0xa5; 4096]] {
            let sig = signer.sign(message).unwrap();
            assert_eq!(sig.to_jws().len(), alg.fixed_signature_len(), "{alg}");
            signer
                .public_key()
                .verify_fixed(message, sig.to_jws())
                .unwrap();
            signer
                .public_key()
                .verify_x509(message, &sig.to_x509().unwrap())
                .unwrap();
        }
    }
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_open_finds_the_key_again_by_label_and_by_id() {
    for alg in KeyAlgorithm::ALL {
        let by_label = key_uri(&format!("object=again-{alg}"));
        let generated = generate(&by_label, alg).unwrap();
        // No id in the URI: a random one was set, and describe() names the key with it.
        let described: KeyUri = generated.describe().parse().unwrap();
        let id = p11(&described).id.clone().expect("generated id");
        assert_eq!(id.len(), 16);
        assert!(!generated.describe().contains(PIN));

        let reopened = Signer::open(&by_label).unwrap();
        assert_eq!(reopened.public_key(), generated.public_key(), "{alg}");
        let id_path: String = id.iter().map(|b| format!("%{b:02X}")).collect();
        let by_id = key_uri(&format!("id={id_path}"));
        let reopened = Signer::open(&by_id).unwrap();
        assert_eq!(reopened.public_key(), generated.public_key(), "{alg}");
        let sig = reopened.sign(b"reopened").unwrap();
        generated
            .public_key()
            .verify_fixed(b"reopened", sig.to_jws())
            .unwrap();
    }
    // An id chosen in the URI is used for both halves.
    let chosen = key_uri("object=chosen-id;id=%C0%FF%EE");
    let generated = generate(&chosen, KeyAlgorithm::P256).unwrap();
    let reopened = Signer::open(&key_uri("id=%C0%FF%EE")).unwrap();
    assert_eq!(reopened.public_key(), generated.public_key());
    assert_eq!(generated.describe(), chosen.to_string());
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_private_keys_are_sensitive_and_never_extractable() {
    for alg in KeyAlgorithm::ALL {
        let label = format!("guarded-{alg}");
        generate(&key_uri(&format!("object={label}")), alg).unwrap();
        let session = inspector();
        let keys = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label.clone().into_bytes()),
            ])
            .unwrap();
        assert_eq!(keys.len(), 1);
        let attrs = session
            .get_attributes(
                keys[0],
                &[
                    AttributeType::Token,
                    AttributeType::Private,
                    AttributeType::Sensitive,
                    AttributeType::AlwaysSensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::Sign,
                    AttributeType::Value,
                ],
            )
            .unwrap();
        for expected in [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::AlwaysSensitive(true),
            Attribute::Extractable(false),
            Attribute::NeverExtractable(true),
            Attribute::Sign(true),
        ] {
            assert!(
                attrs.contains(&expected),
                "{alg}: {expected:?} in {attrs:?}"
            );
        }
        // CKA_VALUE is refused (CKR_ATTRIBUTE_SENSITIVE), so cryptoki leaves it out.
        assert!(
            !attrs.iter().any(|a| matches!(a, Attribute::Value(_))),
            "{alg}: the private value was readable"
        );
    }
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_ed25519_public_key_uses_the_curve_oid() {
    let label = "edwards-params";
    generate(&key_uri(&format!("object={label}")), KeyAlgorithm::Ed25519).unwrap();
    let session = inspector();
    let public = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .unwrap();
    let attrs = session
        .get_attributes(public[0], &[AttributeType::EcParams])
        .unwrap();
    let oid_der = e2ei_core::oid::ED25519.to_der().unwrap();
    assert_eq!(attrs, vec![Attribute::EcParams(oid_der)]);
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_rejects_a_wrong_pin_without_echoing_it() {
    generate(&key_uri("object=pinned"), KeyAlgorithm::P256).unwrap();
    let wrong: KeyUri = format!(
        "pkcs11:token={TOKEN};object=pinned?module-path={MODULE}&pin-source=file:{}",
        wrong_pin_file().display()
    )
    .parse()
    .unwrap();
    for err in [
        Signer::open(&wrong).unwrap_err(),
        generate(&wrong, KeyAlgorithm::P256).unwrap_err(),
    ] {
        assert!(matches!(err, SignerError::Authentication(_)), "{err}");
        assert!(err.to_string().contains("CKR_PIN_INCORRECT"), "{err}");
        assert!(!err.to_string().contains(WRONG_PIN), "{err}");
        assert!(!format!("{err:?}").contains(WRONG_PIN), "{err:?}");
    }
    // A PIN SoftHSM cannot even accept (it allows 4 to 255 characters).
    let short = suite_dir().join("short-pin");
    std::fs::write(&short, "12\n").unwrap();
    let err = Signer::open(
        &format!(
            "pkcs11:token={TOKEN};object=pinned?module-path={MODULE}&pin-source=file:{}",
            short.display()
        )
        .parse()
        .unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, SignerError::Authentication(_)), "{err}");
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_reads_the_pin_from_e2ei_pkcs11_pin_by_default() {
    // softhsm_suite sets E2EI_PKCS11_PIN for this process; the URI names no pin-source.
    let uri: KeyUri = format!("pkcs11:token={TOKEN};object=env-pin?module-path={MODULE}")
        .parse()
        .unwrap();
    let signer = generate(&uri, KeyAlgorithm::P384).unwrap();
    signer.sign(b"env").unwrap();
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_unknown_label_or_token_is_key_not_found() {
    let err = Signer::open(&key_uri("object=no-such-key")).unwrap_err();
    assert!(matches!(err, SignerError::KeyNotFound(_)), "{err}");
    assert!(err.to_string().contains("no-such-key"), "{err}");

    let absent: KeyUri = format!(
        "pkcs11:token=absent;object=k?module-path={MODULE}&pin-source=file:{}",
        pin_file().display()
    )
    .parse()
    .unwrap();
    let err = Signer::open(&absent).unwrap_err();
    assert!(matches!(err, SignerError::KeyNotFound(_)), "{err}");
    assert!(err.to_string().contains("token `absent`"), "{err}");

    // Two initialised tokens and no token, serial or slot-id: ambiguous.
    let anywhere: KeyUri = format!(
        "pkcs11:object=k?module-path={MODULE}&pin-source=file:{}",
        pin_file().display()
    )
    .parse()
    .unwrap();
    let err = Signer::open(&anywhere).unwrap_err();
    assert!(matches!(err, SignerError::KeyNotFound(_)), "{err}");
    assert!(err.to_string().contains("2 tokens"), "{err}");
    assert!(err.to_string().contains(OTHER_TOKEN), "{err}");
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_refuses_to_generate_over_an_existing_label_or_id() {
    let uri = key_uri("object=twice");
    let first = generate(&uri, KeyAlgorithm::Ed25519).unwrap();
    let err = generate(&uri, KeyAlgorithm::Ed25519).unwrap_err();
    assert!(matches!(err, SignerError::KeyExists(_)), "{err}");
    // Same label, other id: still refused.
    let err = generate(&key_uri("object=twice;id=%01"), KeyAlgorithm::P256).unwrap_err();
    assert!(matches!(err, SignerError::KeyExists(_)), "{err}");
    // Other label, same id: refused too.
    let id = p11(&first.describe().parse().unwrap()).id.clone().unwrap();
    let id_path: String = id.iter().map(|b| format!("%{b:02X}")).collect();
    let err = generate(
        &key_uri(&format!("object=thrice;id={id_path}")),
        KeyAlgorithm::P256,
    )
    .unwrap_err();
    assert!(matches!(err, SignerError::KeyExists(_)), "{err}");
    // The original key is untouched.
    assert_eq!(Signer::open(&uri).unwrap().public_key(), first.public_key());
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_needs_a_module_path() {
    // softhsm_suite removes E2EI_PKCS11_MODULE from this process's environment.
    assert!(std::env::var_os("E2EI_PKCS11_MODULE").is_none());
    let uri: KeyUri = format!(
        "pkcs11:token={TOKEN};object=x?pin-source=file:{}",
        pin_file().display()
    )
    .parse()
    .unwrap();
    for err in [
        Signer::open(&uri).unwrap_err(),
        generate(&uri, KeyAlgorithm::P256).unwrap_err(),
    ] {
        assert!(matches!(err, SignerError::InvalidUri { .. }), "{err}");
        assert!(err.to_string().contains("module-path"), "{err}");
        assert!(err.to_string().contains("E2EI_PKCS11_MODULE"), "{err}");
    }
    let missing: KeyUri = format!(
        "pkcs11:token={TOKEN};object=x?module-path=/nonexistent/libp11.so&pin-source=file:{}",
        pin_file().display()
    )
    .parse()
    .unwrap();
    let err = Signer::open(&missing).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/libp11.so"), "{err}");
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_signs_from_four_threads_at_once() {
    for alg in [KeyAlgorithm::P256, KeyAlgorithm::Ed25519] {
        let signer = Arc::new(generate(&key_uri(&format!("object=threads-{alg}")), alg).unwrap());
        let start = Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let signer = signer.clone();
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    for j in 0..25 {
                        let msg = format!("thread {i} message {j}");
                        let sig = signer.sign(msg.as_bytes()).unwrap();
                        signer
                            .public_key()
                            .verify_fixed(msg.as_bytes(), sig.to_jws())
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides the token"]
fn token_always_authenticate_keys_sign_multi_part_or_fail_clearly() {
    // The backend never makes such keys; make them directly, as a ceremony tool might.
    let session = inspector();
    for alg in [
        KeyAlgorithm::P256,
        KeyAlgorithm::P384,
        KeyAlgorithm::P521,
        KeyAlgorithm::Ed25519,
    ] {
        let label = format!("always-auth-{alg}");
        let (mechanism, params) = match alg {
            KeyAlgorithm::Ed25519 => (
                Mechanism::EccEdwardsKeyPairGen,
                e2ei_core::oid::ED25519.to_der().unwrap(),
            ),
            _ => (
                Mechanism::EccKeyPairGen,
                alg.curve_oid().unwrap().to_der().unwrap(),
            ),
        };
        let name = |mut t: Vec<Attribute>| {
            t.push(Attribute::Label(label.clone().into_bytes()));
            t.push(Attribute::Id(label.clone().into_bytes()));
            t
        };
        session
            .generate_key_pair(
                &mechanism,
                &name(vec![
                    Attribute::Token(true),
                    Attribute::Verify(true),
                    Attribute::EcParams(params),
                ]),
                &name(vec![
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Sign(true),
                    Attribute::AlwaysAuthenticate(true),
                ]),
            )
            .unwrap();
        let signer = Signer::open(&key_uri(&format!("object={label}"))).unwrap();
        for message in [&b"first"[..], b"second"] {
            match signer.sign(message) {
                Ok(sig) => signer
                    .public_key()
                    .verify_fixed(message, sig.to_jws())
                    .unwrap(),
                // SoftHSM 2.6 signs ECDSA and EdDSA single-part only, and cryptoki 0.12 cannot
                // call C_Sign after the context-specific login: the backend must say so.
                Err(err) => {
                    assert!(matches!(err, SignerError::Backend { .. }), "{err}");
                    let text = err.to_string();
                    assert!(text.contains("CKA_ALWAYS_AUTHENTICATE"), "{text}");
                    assert!(text.contains("multi-part"), "{text}");
                    assert!(!text.contains(PIN), "{text}");
                    eprintln!("{alg}: {text}");
                }
            }
        }
        // A failed operation does not poison this thread's next signature with another key.
        let plain = generate(&key_uri(&format!("object=after-{label}")), alg).unwrap();
        plain.sign(b"after").unwrap();
    }
}
