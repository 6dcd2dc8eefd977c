//! YubiKey PIV slots through the `yubikey` crate (cargo feature `yubikey`). PIV holds P-256
//! and P-384 keys; Ed25519 and P-521 are refused with a clear error. The PIN is verified before
//! every signature, as slots with PIN policy `always` require.
//!
//! Generating a key writes nothing else to the slot: the ceremony that certifies the key stores
//! the certificate with [`YubiKeySlot::store_certificate`]. Until then the public key is read
//! from the slot metadata (firmware 5.2.3 and later).
//!
//! The `yubikey` crate (0.8) authenticates with a 3DES management key only; YubiKeys whose
//! management key is AES (the default from firmware 5.7) can still sign, but generating a key or
//! storing a certificate fails at the management key authentication. Such keys are reachable
//! through Yubico's PKCS#11 module (`ykcs11`) and the PKCS#11 backend.

use std::sync::Mutex;

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::key::PublicKey;
use yubikey::certificate::CertInfo;
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
    /// Where the management key comes from, to store a certificate; `None`: the default key.
    management_key_source: Option<SecretSource>,
    public: PublicKey,
    uri: String,
}

impl std::fmt::Debug for YubiKeySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YubiKeySlot")
            .field("uri", &self.uri)
            .field("algorithm", &self.public.algorithm())
            .finish_non_exhaustive()
    }
}

/// The management key from its source (hex), or the factory default.
fn management_key(source: Option<&SecretSource>) -> Result<MgmKey, SignerError> {
    let Some(source) = source else {
        return Ok(MgmKey::default());
    };
    let hex_key = source.read()?;
    let bytes = Zeroizing::new(hex::decode(hex_key.expose().trim()).map_err(|_| {
        SignerError::Authentication(format!("the management key from {source} is not hex"))
    })?);
    MgmKey::from_bytes(bytes.as_slice()).map_err(|e| {
        SignerError::Authentication(format!(
            "the management key from {source} is not a 24-byte 3DES key ({e})"
        ))
    })
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
            management_key_source: uri.management_key_source.clone(),
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
        let mgm = management_key(uri.management_key_source.as_ref())?;
        let (mut device, slot, pin) = connect(uri)?;
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
            management_key_source: uri.management_key_source.clone(),
            public,
            uri: KeyUri::YubiKey(uri.clone()).to_string(),
        })
    }

    /// Stores `der`, an X.509 certificate for this slot's key, in the slot (the PIV certificate
    /// object that PKCS#11 modules and other tools read), authenticating with the management
    /// key from the URI's `management-key-source` or the factory default. Refuses a
    /// certificate for another key.
    pub fn store_certificate(&self, der: &[u8]) -> Result<(), SignerError> {
        let cert = yubikey::Certificate::from_bytes(der.to_vec())
            .map_err(|e| SignerError::MalformedKey(format!("not a DER X.509 certificate: {e}")))?;
        let certified = public_key(&cert.cert.tbs_certificate.subject_public_key_info)?;
        if certified != self.public {
            return Err(SignerError::MalformedKey(format!(
                "the certificate is for another key than the one in {}",
                self.uri
            )));
        }
        let mgm = management_key(self.management_key_source.as_ref())?;
        let mut device = self.device.lock().map_err(|_| SignerError::Backend {
            backend: BACKEND,
            message: "device lock poisoned".into(),
        })?;
        device
            .authenticate(mgm)
            .map_err(|e| yk_error("management key authentication", e))?;
        cert.write(&mut device, self.slot, CertInfo::Uncompressed)
            .map_err(|e| yk_error("writing the certificate", e))
    }
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
        crate::pkcs11::ecdsa_der_to_fixed(&der, alg.coordinate_len())
    }

    fn describe(&self) -> String {
        self.uri.clone()
    }
}
