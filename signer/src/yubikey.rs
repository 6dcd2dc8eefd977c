//! YubiKey PIV slots through the `yubikey` crate (cargo feature `yubikey`). PIV holds P-256
//! and P-384 keys; Ed25519 and P-521 are refused with a clear error. The PIN is verified before
//! every signature, as slots with PIN policy `always` require.

use std::sync::Mutex;

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::key::PublicKey;
use yubikey::piv::{self, AlgorithmId, SlotId};
use yubikey::{MgmKey, PinPolicy, Serial, TouchPolicy, YubiKey};
use zeroize::Zeroizing;

use crate::uri::{KeyUri, YUBIKEY_PIN_ENV, YubiKeyUri};
use crate::{GenerateOptions, SecretSource, SecretString, SignerError, SigningBackend};

const BACKEND: &str = "yubikey";

fn yk_error(what: &str, e: yubikey::Error) -> SignerError {
    match e {
        yubikey::Error::WrongPin { tries } => {
            SignerError::Authentication(format!("the YubiKey refused the PIN ({tries} tries left)"))
        }
        yubikey::Error::PinLocked => {
            SignerError::Authentication("the YubiKey PIN is locked".into())
        }
        other => SignerError::Backend {
            backend: BACKEND,
            message: format!("{what}: {other}"),
        },
    }
}

/// A key in a YubiKey PIV slot.
pub struct YubiKeySlot {
    device: Mutex<YubiKey>,
    slot: SlotId,
    algorithm: AlgorithmId,
    pin: SecretString,
    public: PublicKey,
    uri: String,
}

fn connect(uri: &YubiKeyUri) -> Result<(YubiKey, SlotId, SecretString), SignerError> {
    let mut device = match uri.serial {
        Some(serial) => YubiKey::open_by_serial(Serial::from(serial)),
        None => YubiKey::open(),
    }
    .map_err(|e| match e {
        yubikey::Error::NotFound => SignerError::KeyNotFound(format!(
            "no YubiKey{} connected",
            uri.serial
                .map(|s| format!(" with serial {s}"))
                .unwrap_or_default()
        )),
        other => yk_error("opening the YubiKey", other),
    })?;
    let slot = SlotId::try_from(uri.slot).map_err(|_| SignerError::InvalidUri {
        uri: KeyUri::YubiKey(uri.clone()).to_string(),
        reason: format!("{:02x} is not a PIV key slot", uri.slot),
    })?;
    let pin = uri
        .pin_source
        .clone()
        .unwrap_or_else(|| SecretSource::Env(YUBIKEY_PIN_ENV.into()))
        .read()?;
    device
        .verify_pin(pin.expose().as_bytes())
        .map_err(|e| yk_error("verifying the PIN", e))?;
    Ok((device, slot, pin))
}

fn algorithm_id(alg: KeyAlgorithm) -> Result<AlgorithmId, SignerError> {
    match alg {
        KeyAlgorithm::P256 => Ok(AlgorithmId::EccP256),
        KeyAlgorithm::P384 => Ok(AlgorithmId::EccP384),
        other => Err(SignerError::UnsupportedAlgorithm {
            backend: BACKEND,
            alg: other,
        }),
    }
}

fn public_key(spki: &impl der07::Encode) -> Result<PublicKey, SignerError> {
    let der = spki
        .to_der()
        .map_err(|e| SignerError::MalformedKey(e.to_string()))?;
    Ok(PublicKey::from_spki_der(&der)?)
}

impl YubiKeySlot {
    /// Opens the key in the URI's slot: its public key from the slot metadata (firmware
    /// 5.2.3+) or from the certificate stored in the slot.
    pub fn open(uri: &YubiKeyUri) -> Result<Self, SignerError> {
        let (mut device, slot, pin) = connect(uri)?;
        let public = match piv::metadata(&mut device, slot).ok().and_then(|m| m.public) {
            Some(spki) => public_key(&spki)?,
            None => {
                let cert = yubikey::Certificate::read(&mut device, slot).map_err(|_| {
                    SignerError::KeyNotFound(format!(
                        "YubiKey slot {:02x} has no key metadata and no certificate",
                        uri.slot
                    ))
                })?;
                public_key(&cert.cert.tbs_certificate.subject_public_key_info)?
            }
        };
        let algorithm = algorithm_id(public.algorithm())?;
        Ok(Self {
            device: Mutex::new(device),
            slot,
            algorithm,
            pin,
            public,
            uri: KeyUri::YubiKey(uri.clone()).to_string(),
        })
    }

    /// Generates a key in the slot with the given PIN and touch policies, authenticating with
    /// the management key from `management-key-source` (hex) or the factory default.
    pub fn generate(
        uri: &YubiKeyUri,
        alg: KeyAlgorithm,
        options: &GenerateOptions,
    ) -> Result<Self, SignerError> {
        let algorithm = algorithm_id(alg)?;
        let pin_policy = match options.pin_policy.as_deref() {
            None => PinPolicy::Default,
            Some("never") => PinPolicy::Never,
            Some("once") => PinPolicy::Once,
            Some("always") => PinPolicy::Always,
            Some(other) => {
                return Err(SignerError::Backend {
                    backend: BACKEND,
                    message: format!("unknown PIN policy `{other}` (never, once, always)"),
                });
            }
        };
        let touch_policy = match options.touch_policy.as_deref() {
            None => TouchPolicy::Default,
            Some("never") => TouchPolicy::Never,
            Some("always") => TouchPolicy::Always,
            Some("cached") => TouchPolicy::Cached,
            Some(other) => {
                return Err(SignerError::Backend {
                    backend: BACKEND,
                    message: format!("unknown touch policy `{other}` (never, always, cached)"),
                });
            }
        };
        let (mut device, slot, pin) = connect(uri)?;
        let mgm = match &uri.management_key_source {
            None => MgmKey::default(),
            Some(source) => {
                let hex_key = source.read()?;
                let bytes = Zeroizing::new(hex::decode(hex_key.expose().trim()).map_err(|_| {
                    SignerError::Authentication("the management key is not hex".into())
                })?);
                MgmKey::from_bytes(bytes.as_slice())
                    .map_err(|e| yk_error("reading the management key", e))?
            }
        };
        device
            .authenticate(mgm)
            .map_err(|e| yk_error("management key authentication", e))?;
        let spki = piv::generate(&mut device, slot, algorithm, pin_policy, touch_policy)
            .map_err(|e| yk_error("generating the key", e))?;
        let public = public_key(&spki)?;
        Ok(Self {
            device: Mutex::new(device),
            slot,
            algorithm,
            pin,
            public,
            uri: KeyUri::YubiKey(uri.clone()).to_string(),
        })
    }
}

/// DER `Ecdsa-Sig-Value` → fixed `r || s` of `n`-byte halves.
fn der_to_fixed(der: &[u8], n: usize) -> Result<Vec<u8>, SignerError> {
    #[derive(der::Sequence)]
    struct EcdsaSigValue<'a> {
        r: der::asn1::UintRef<'a>,
        s: der::asn1::UintRef<'a>,
    }
    let sig = <EcdsaSigValue<'_> as der::Decode>::from_der(der)
        .map_err(|e| SignerError::MalformedKey(format!("YubiKey signature: {e}")))?;
    let mut fixed = vec![0u8; 2 * n];
    for (i, part) in [sig.r.as_bytes(), sig.s.as_bytes()].into_iter().enumerate() {
        if part.len() > n {
            return Err(SignerError::MalformedKey(
                "YubiKey signature too long".into(),
            ));
        }
        fixed[(i + 1) * n - part.len()..(i + 1) * n].copy_from_slice(part);
    }
    Ok(fixed)
}

impl SigningBackend for YubiKeySlot {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign_fixed(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let mut device = self.device.lock().map_err(|_| SignerError::Backend {
            backend: BACKEND,
            message: "device lock poisoned".into(),
        })?;
        device
            .verify_pin(self.pin.expose().as_bytes())
            .map_err(|e| yk_error("verifying the PIN", e))?;
        let alg = self.public.algorithm();
        let digest = alg.hash().digest(message);
        let der = piv::sign_data(&mut device, &digest, self.algorithm, self.slot)
            .map_err(|e| yk_error("signing", e))?;
        der_to_fixed(&der, alg.coordinate_len())
    }

    fn describe(&self) -> String {
        self.uri.clone()
    }
}
