//! The PKCS#11 backend against a fresh SoftHSM2 token directory.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once, when the module is initialised, so `softhsm_suite`
//! re-runs this test binary with the variable pointing at a fresh token directory and executes
//! the `token_*` tests there (they are `#[ignore]`d in a plain run, where no token exists).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_signer::{GenerateOptions, KeyUri, Signer, SignerError};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "e2ei-test";

fn inner_env() -> Option<(PathBuf, PathBuf)> {
    let dir = PathBuf::from(std::env::var_os("E2EI_TEST_SOFTHSM_DIR")?);
    Some((dir.join("pin"), dir.join("wrong-pin")))
}

fn uri(object: &str, pin: &Path) -> KeyUri {
    format!(
        "pkcs11:token={TOKEN};object={object}?module-path={MODULE}&pin-source=file:{}",
        pin.display()
    )
    .parse()
    .unwrap()
}

#[test]
fn softhsm_suite() {
    let available = Path::new(MODULE).exists()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok();
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "SoftHSM2 is required under CI (apt-get install softhsm2)"
        );
        eprintln!("SKIPPED: SoftHSM2 is not installed");
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
    std::fs::write(dir.path().join("pin"), "1234\n").unwrap();
    std::fs::write(dir.path().join("wrong-pin"), "9999\n").unwrap();
    let init = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            "12345678",
            "--pin",
            "1234",
        ])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let run = Command::new(std::env::current_exe().unwrap())
        .env("SOFTHSM2_CONF", &conf)
        .env("E2EI_TEST_SOFTHSM_DIR", dir.path())
        .args(["--ignored", "--test-threads", "1", "token_"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("7 passed"), "{report}");
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides a token"]
fn token_generates_and_signs_with_every_algorithm() {
    let Some((pin, _)) = inner_env() else { return };
    for alg in KeyAlgorithm::ALL {
        let uri = uri(&format!("key-{alg}"), &pin);
        let signer = Signer::generate(&uri, alg, &GenerateOptions::default()).unwrap();
        let sig = signer.sign(b"to be signed").unwrap();
        signer
            .public_key()
            .verify_fixed(b"to be signed", sig.to_jws())
            .unwrap();
        signer
            .public_key()
            .verify_x509(b"to be signed", &sig.to_x509().unwrap())
            .unwrap();
        let reopened = Signer::open(&uri).unwrap();
        assert_eq!(reopened.public_key(), signer.public_key(), "{alg}");
    }
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides a token"]
fn token_private_keys_are_sensitive_and_never_extractable() {
    let Some((pin, _)) = inner_env() else { return };
    Signer::generate(
        &uri("guarded", &pin),
        KeyAlgorithm::P384,
        &GenerateOptions::default(),
    )
    .unwrap();
    let ctx = Pkcs11::new(MODULE).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == TOKEN)
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&AuthPin::from("1234".to_owned())));
    let keys = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"guarded".to_vec()),
        ])
        .unwrap();
    assert_eq!(keys.len(), 1);
    let attrs = session
        .get_attributes(
            keys[0],
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
            ],
        )
        .unwrap();
    assert!(attrs.contains(&Attribute::Sensitive(true)), "{attrs:?}");
    assert!(attrs.contains(&Attribute::Extractable(false)), "{attrs:?}");
    assert!(
        attrs.contains(&Attribute::NeverExtractable(true)),
        "{attrs:?}"
    );
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides a token"]
fn token_rejects_wrong_pin() {
    let Some((_, wrong)) = inner_env() else {
        return;
    };
    let err = Signer::generate(
        &uri("never", &wrong),
        KeyAlgorithm::P256,
        &GenerateOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, SignerError::Authentication(_)), "{err}");
    assert!(!err.to_string().contains("9999"), "{err}");
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides a token"]
fn token_unknown_label_is_key_not_found() {
    let Some((pin, _)) = inner_env() else { return };
    let err = Signer::open(&uri("no-such-key", &pin)).unwrap_err();
    assert!(matches!(err, SignerError::KeyNotFound(_)), "{err}");
    let other_token: KeyUri = format!(
        "pkcs11:token=absent;object=k?module-path={MODULE}&pin-source=file:{}",
        pin.display()
    )
    .parse()
    .unwrap();
    let err = Signer::open(&other_token).unwrap_err();
    assert!(err.to_string().contains("token `absent`"), "{err}");
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides a token"]
fn token_refuses_to_generate_over_an_existing_label() {
    let Some((pin, _)) = inner_env() else { return };
    let uri = uri("twice", &pin);
    Signer::generate(&uri, KeyAlgorithm::Ed25519, &GenerateOptions::default()).unwrap();
    let err =
        Signer::generate(&uri, KeyAlgorithm::Ed25519, &GenerateOptions::default()).unwrap_err();
    assert!(matches!(err, SignerError::KeyExists(_)), "{err}");
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides a token"]
fn token_needs_a_module_path() {
    let Some((pin, _)) = inner_env() else { return };
    let uri: KeyUri = format!(
        "pkcs11:token={TOKEN};object=x?pin-source=file:{}",
        pin.display()
    )
    .parse()
    .unwrap();
    if std::env::var_os("E2EI_PKCS11_MODULE").is_none() {
        let err = Signer::open(&uri).unwrap_err();
        assert!(err.to_string().contains("module-path"), "{err}");
    }
}

#[test]
#[ignore = "runs inside softhsm_suite, which provides a token"]
fn token_signs_from_four_threads_at_once() {
    let Some((pin, _)) = inner_env() else { return };
    let signer = std::sync::Arc::new(
        Signer::generate(
            &uri("threads", &pin),
            KeyAlgorithm::P256,
            &GenerateOptions::default(),
        )
        .unwrap(),
    );
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let signer = signer.clone();
            std::thread::spawn(move || {
                for j in 0..10 {
                    let msg = format!("thread {i} message {j}");
                    signer.sign(msg.as_bytes()).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
