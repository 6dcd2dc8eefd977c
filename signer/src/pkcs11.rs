//! PKCS#11 keys through `cryptoki` (RFC 7512 URIs).
//!
//! - Each module is loaded and `C_Initialize`d once per process (OS locking), whatever the
//!   number of keys opened through it.
//! - Keys are generated on the token as sensitive, never-extractable objects; the backend checks
//!   the token honoured that and deletes the pair otherwise. Signing happens on the token.
//! - A session is never used by two threads at once: each signature checks a logged-in session
//!   out of the key's pool (opening one when the pool is empty) and returns it afterwards, so
//!   concurrent signers each get their own session and idle threads hold none.
//! - ECDSA signs a digest computed in software with `CKM_ECDSA` (every token has it, YubiKey's
//!   ykcs11 included); Ed25519 signs the message with `CKM_EDDSA`.
//! - Keys marked `CKA_ALWAYS_AUTHENTICATE` get a context-specific login between `C_SignInit` and
//!   the signature. `cryptoki` exposes no bare `C_Sign` after `C_SignInit`, so those keys sign
//!   multi-part: `CKM_ECDSA_SHA256/384/512` or `CKM_EDDSA`.
//! - The PIN is read from its source (never argv), held as a zeroizing `AuthPin`, and never
//!   appears in errors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::asn1::{ObjectIdentifier, OctetStringRef, PrintableStringRef};
use der::{Decode, Encode};
use e2ei_core::ciphersuite::{HashAlgorithm, KeyAlgorithm};
use e2ei_core::key::PublicKey;
use e2ei_core::oid;

use crate::uri::{KeyUri, PKCS11_MODULE_ENV, PKCS11_PIN_ENV, Pkcs11Uri};
use crate::{SecretSource, SignerError, SigningBackend};

const BACKEND: &str = "pkcs11";

/// The PKCS#11 return value inside a `cryptoki` error, if it carries one.
fn rv(e: &P11Error) -> Option<RvError> {
    match e {
        P11Error::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// Maps a `cryptoki` error: PIN trouble becomes [`SignerError::Authentication`] (with a message
/// that names the return value, never the PIN), the rest [`SignerError::Backend`].
fn p11_error(what: &str, e: P11Error) -> SignerError {
    let auth = |reason: &str| SignerError::Authentication(format!("{what}: {reason}"));
    match rv(&e) {
        Some(RvError::PinIncorrect) => auth("the token refused the PIN (CKR_PIN_INCORRECT)"),
        Some(RvError::PinLenRange) => {
            auth("the PIN is too short or too long for this token (CKR_PIN_LEN_RANGE)")
        }
        Some(RvError::PinLocked) => auth(
            "the PIN is locked after too many failed attempts (CKR_PIN_LOCKED); \
             the token's security officer must unlock it",
        ),
        Some(RvError::PinExpired) => {
            auth("the PIN has expired and must be changed (CKR_PIN_EXPIRED)")
        }
        Some(RvError::PinInvalid) => {
            auth("the PIN has characters the token does not accept (CKR_PIN_INVALID)")
        }
        Some(RvError::UserPinNotInitialized) => {
            auth("the token's user PIN is not initialised (CKR_USER_PIN_NOT_INITIALIZED)")
        }
        _ => SignerError::Backend {
            backend: BACKEND,
            message: format!("{what}: {e}"),
        },
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values (a module table, a session pool, a handle) stay consistent even if a
    // holder panicked, so poisoning is not an error here.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The module at `path`, loaded and initialised once for the whole process.
fn module(path: &Path) -> Result<Pkcs11, SignerError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut modules = lock(MODULES.get_or_init(Default::default));
    if let Some(ctx) = modules.get(&key) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(&key).map_err(|e| SignerError::Backend {
        backend: BACKEND,
        message: format!("cannot load the PKCS#11 module {}: {e}", path.display()),
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Already initialised by another part of this process (same library, other path).
        Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(p11_error("C_Initialize", e)),
    }
    modules.insert(key, ctx.clone());
    Ok(ctx)
}

/// A token chosen by the URI, with the user PIN to log in to it.
struct Token {
    ctx: Pkcs11,
    slot: Slot,
    label: String,
    pin: AuthPin,
}

impl Token {
    fn connect(uri: &Pkcs11Uri) -> Result<Self, SignerError> {
        let module_path = uri
            .module_path
            .clone()
            .or_else(|| std::env::var_os(PKCS11_MODULE_ENV).map(PathBuf::from))
            .ok_or_else(|| SignerError::InvalidUri {
                uri: KeyUri::Pkcs11(uri.clone()).to_string(),
                reason: format!(
                    "no PKCS#11 module: add `?module-path=/path/to/module.so` to the URI or set \
                     {PKCS11_MODULE_ENV}"
                ),
            })?;
        let ctx = module(&module_path)?;
        let slots = ctx
            .get_slots_with_initialized_token()
            .map_err(|e| p11_error("C_GetSlotList", e))?;
        let mut matching = Vec::new();
        for slot in slots {
            if uri.slot_id.is_some_and(|id| id != slot.id()) {
                continue;
            }
            let info = ctx
                .get_token_info(slot)
                .map_err(|e| p11_error("C_GetTokenInfo", e))?;
            let label = info.label().trim_end();
            if uri.token.as_deref().is_some_and(|t| t != label) {
                continue;
            }
            if uri
                .serial
                .as_deref()
                .is_some_and(|s| s != info.serial_number().trim_end())
            {
                continue;
            }
            matching.push((slot, label.to_owned()));
        }
        let wanted = {
            let mut parts = Vec::new();
            if let Some(t) = &uri.token {
                parts.push(format!("token `{t}`"));
            }
            if let Some(s) = &uri.serial {
                parts.push(format!("serial `{s}`"));
            }
            if let Some(s) = uri.slot_id {
                parts.push(format!("slot-id {s}"));
            }
            if parts.is_empty() {
                "an initialised token".to_owned()
            } else {
                parts.join(", ")
            }
        };
        if matching.len() > 1 {
            let labels: Vec<String> = matching
                .iter()
                .map(|(slot, label)| format!("`{label}` (slot-id {})", slot.id()))
                .collect();
            return Err(SignerError::KeyNotFound(format!(
                "{wanted} matches {} tokens in {} ({}); add `token`, `serial` or `slot-id` to \
                 the URI",
                matching.len(),
                module_path.display(),
                labels.join(", ")
            )));
        }
        let Some((slot, label)) = matching.pop() else {
            return Err(SignerError::KeyNotFound(format!(
                "no PKCS#11 token with {wanted} in {}",
                module_path.display()
            )));
        };
        let source = uri
            .pin_source
            .clone()
            .unwrap_or_else(|| SecretSource::Env(PKCS11_PIN_ENV.into()));
        let pin = AuthPin::from(source.read()?.expose().to_owned());
        Ok(Self {
            ctx,
            slot,
            label,
            pin,
        })
    }

    /// A new session on the token, logged in as the user. The login state is shared by all
    /// sessions of the process, so every session after the first finds it already done.
    fn session(&self, read_write: bool) -> Result<Session, SignerError> {
        let session = if read_write {
            self.ctx.open_rw_session(self.slot)
        } else {
            self.ctx.open_ro_session(self.slot)
        }
        .map_err(|e| p11_error("C_OpenSession", e))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(p11_error(
                &format!("logging in to token `{}`", self.label),
                e,
            )),
        }
    }
}

fn find(session: &Session, template: &[Attribute]) -> Result<Vec<ObjectHandle>, SignerError> {
    session
        .find_objects(template)
        .map_err(|e| p11_error("C_FindObjects", e))
}

/// `CKA_CLASS` plus the URI's `CKA_LABEL` (`object`) and `CKA_ID` (`id`).
fn selector(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    template
}

/// The candidate DER encodings of CKA_EC_PARAMS for `alg`: the named-curve OID, and for Ed25519
/// also the PrintableString `edwards25519` that PKCS#11 3.0 tokens may want instead.
fn ec_params_candidates(alg: KeyAlgorithm) -> Result<Vec<Vec<u8>>, SignerError> {
    let der_error = |e: der::Error| SignerError::MalformedKey(e.to_string());
    let curve = alg.curve_oid().unwrap_or(oid::ED25519);
    let mut candidates = vec![curve.to_der().map_err(der_error)?];
    if alg == KeyAlgorithm::Ed25519 {
        candidates.push(
            PrintableStringRef::new("edwards25519")
                .and_then(|s| s.to_der())
                .map_err(der_error)?,
        );
    }
    Ok(candidates)
}

/// The algorithm named by CKA_KEY_TYPE and CKA_EC_PARAMS (an OID, or for Edwards keys the
/// PrintableString `edwards25519`).
fn algorithm_from_params(key_type: KeyType, params: &[u8]) -> Result<KeyAlgorithm, SignerError> {
    if key_type == KeyType::EC_EDWARDS {
        let oid = ObjectIdentifier::from_der(params).ok();
        let is_ed25519 = oid == Some(oid::ED25519)
            || PrintableStringRef::from_der(params).is_ok_and(|s| s.as_str() == "edwards25519");
        return if is_ed25519 {
            Ok(KeyAlgorithm::Ed25519)
        } else {
            Err(SignerError::MalformedKey(match oid {
                Some(oid) => format!("unsupported Edwards curve {oid} (only Ed25519 signs here)"),
                None => "unsupported Edwards curve (only Ed25519 signs here)".into(),
            }))
        };
    }
    if key_type != KeyType::EC {
        return Err(SignerError::MalformedKey(format!(
            "unsupported PKCS#11 key type {key_type} (supported: CKK_EC on P-256/384/521, \
             CKK_EC_EDWARDS Ed25519)"
        )));
    }
    let curve = ObjectIdentifier::from_der(params).map_err(|e| {
        SignerError::MalformedKey(format!("CKA_EC_PARAMS is not a named curve: {e}"))
    })?;
    KeyAlgorithm::ALL
        .into_iter()
        .find(|a| a.curve_oid() == Some(curve))
        .ok_or_else(|| {
            SignerError::MalformedKey(format!(
                "unsupported curve {curve} (supported: P-256, P-384, P-521, Ed25519)"
            ))
        })
}

/// CKA_EC_POINT is a DER OCTET STRING around the point; some tokens return the bare point.
fn unwrap_point(alg: KeyAlgorithm, point: &[u8]) -> Vec<u8> {
    let bare = point.len() == alg.raw_public_key_len()
        && (alg == KeyAlgorithm::Ed25519 || point.first() == Some(&0x04));
    if bare {
        return point.to_vec();
    }
    match <&OctetStringRef>::from_der(point) {
        Ok(inner) => inner.as_bytes().to_vec(),
        // Not DER either: let `PublicKey::from_raw` report the malformed point.
        Err(_) => point.to_vec(),
    }
}

/// Reads a public key object's CKA_KEY_TYPE, CKA_EC_PARAMS and CKA_EC_POINT.
fn read_public_key(session: &Session, handle: ObjectHandle) -> Result<PublicKey, SignerError> {
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
            ],
        )
        .map_err(|e| p11_error("C_GetAttributeValue", e))?;
    let (mut key_type, mut params, mut point) = (None, None, None);
    for attr in attrs {
        match attr {
            Attribute::KeyType(k) => key_type = Some(k),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let Some(key_type) = key_type else {
        return Err(SignerError::MalformedKey(
            "the public key object has no CKA_KEY_TYPE".into(),
        ));
    };
    let (Some(params), Some(point)) = (params, point) else {
        return Err(SignerError::MalformedKey(format!(
            "the public key object (type {key_type}) has no CKA_EC_PARAMS or CKA_EC_POINT; \
             only EC and Edwards keys are supported"
        )));
    };
    let alg = algorithm_from_params(key_type, &params)?;
    Ok(PublicKey::from_raw(alg, &unwrap_point(alg, &point))?)
}

/// DER `Ecdsa-Sig-Value` → fixed `r || s` with `n`-byte halves.
pub(crate) fn ecdsa_der_to_fixed(der: &[u8], n: usize) -> Result<Vec<u8>, SignerError> {
    #[derive(der::Sequence)]
    struct EcdsaSigValue<'a> {
        r: der::asn1::UintRef<'a>,
        s: der::asn1::UintRef<'a>,
    }
    let sig = EcdsaSigValue::from_der(der)
        .map_err(|e| SignerError::MalformedKey(format!("DER ECDSA signature: {e}")))?;
    let mut fixed = vec![0u8; 2 * n];
    for (i, part) in [sig.r.as_bytes(), sig.s.as_bytes()].into_iter().enumerate() {
        if part.len() > n {
            return Err(SignerError::MalformedKey(format!(
                "ECDSA signature component of {} bytes for a {n}-byte curve",
                part.len()
            )));
        }
        fixed[(i + 1) * n - part.len()..(i + 1) * n].copy_from_slice(part);
    }
    Ok(fixed)
}

/// The token's signature in the fixed form: as returned when it has the fixed length; else a
/// DER `Ecdsa-Sig-Value` from a non-conforming token, converted; else `r || s` with each half
/// left-padded to the coordinate length (tokens that drop leading zeros).
fn fixed_signature(alg: KeyAlgorithm, signature: Vec<u8>) -> Result<Vec<u8>, SignerError> {
    let want = alg.fixed_signature_len();
    if signature.len() == want {
        return Ok(signature);
    }
    let bad_length = || SignerError::Backend {
        backend: BACKEND,
        message: format!(
            "the token returned a {}-byte {alg} signature; expected {want} bytes",
            signature.len()
        ),
    };
    if alg == KeyAlgorithm::Ed25519 {
        return Err(bad_length());
    }
    let n = alg.coordinate_len();
    // A strict DER parse first: a bare r || s is very unlikely to be a well-formed SEQUENCE of
    // two INTEGERs, and `Signer` verifies the result anyway.
    if let Ok(fixed) = ecdsa_der_to_fixed(&signature, n) {
        return Ok(fixed);
    }
    if signature.len() < want && signature.len() % 2 == 0 {
        let half = signature.len() / 2;
        let mut fixed = vec![0u8; want];
        fixed[n - half..n].copy_from_slice(&signature[..half]);
        fixed[want - half..].copy_from_slice(&signature[half..]);
        return Ok(fixed);
    }
    Err(bad_length())
}

/// How a `CKA_ALWAYS_AUTHENTICATE` key signs. The context-specific login must come between
/// `C_SignInit` and the signature, and cryptoki 0.12 has no bare `C_Sign` after `C_SignInit`
/// (its `sign` does both), so these keys sign multi-part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reauth {
    /// `CKM_ECDSA_SHA256/384/512` (the token hashes) or `CKM_EDDSA` over the message.
    OnToken,
    /// `CKM_ECDSA` over a digest computed here. PKCS#11 makes `CKM_ECDSA` single-part, but
    /// tokens without the hashing mechanisms may still accept it.
    Digest,
}

/// The step [`Pkcs11Key::sign_with`] reports when multi-part signing fails.
const MULTI_PART: &str = "multi-part signing (C_SignUpdate, C_SignFinal)";

/// The multi-part mechanism for `alg` when the token hashes.
fn hashing_mechanism(alg: KeyAlgorithm) -> Mechanism<'static> {
    match alg {
        KeyAlgorithm::Ed25519 => Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
        _ => match alg.hash() {
            HashAlgorithm::Sha256 => Mechanism::EcdsaSha256,
            HashAlgorithm::Sha384 => Mechanism::EcdsaSha384,
            HashAlgorithm::Sha512 => Mechanism::EcdsaSha512,
        },
    }
}

/// A private key on a PKCS#11 token.
pub struct Pkcs11Key {
    token: Token,
    /// CKO_PRIVATE_KEY with the URI's label and id, to find the key again if its handle is
    /// reported stale.
    selector: Vec<Attribute>,
    handle: Mutex<ObjectHandle>,
    /// How the key signs if it is `CKA_ALWAYS_AUTHENTICATE`.
    reauth: Option<Reauth>,
    public: PublicKey,
    uri: String,
    /// Logged-in sessions not in use; a signature takes one out and puts it back.
    idle: Mutex<Vec<Session>>,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("uri", &self.uri)
            .field("algorithm", &self.public.algorithm())
            .finish_non_exhaustive()
    }
}

fn one_private_key(
    session: &Session,
    selector: &[Attribute],
    text: &str,
    token: &Token,
) -> Result<ObjectHandle, SignerError> {
    match find(session, selector)?.as_slice() {
        [one] => Ok(*one),
        [] => Err(SignerError::KeyNotFound(format!(
            "no private key matches {text} on token `{}`",
            token.label
        ))),
        several => Err(SignerError::KeyNotFound(format!(
            "{text} matches {} private keys on token `{}`; add `id` (or `object`) to the URI",
            several.len(),
            token.label
        ))),
    }
}

impl Pkcs11Key {
    /// Opens the private key the URI names (by `object` label and/or `id`) and reads the public
    /// key from its public key object (same `CKA_ID`, or the same label when it has no id).
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, SignerError> {
        let text = KeyUri::Pkcs11(uri.clone()).to_string();
        let token = Token::connect(uri)?;
        let session = token.session(false)?;
        let selector = selector(uri, ObjectClass::PRIVATE_KEY);
        let private = one_private_key(&session, &selector, &text, &token)?;
        let attrs = session
            .get_attributes(
                private,
                &[
                    AttributeType::Id,
                    AttributeType::AlwaysAuthenticate,
                    AttributeType::Sign,
                ],
            )
            .map_err(|e| p11_error("C_GetAttributeValue", e))?;
        let mut key_id = None;
        let mut always_authenticate = false;
        for attr in attrs {
            match attr {
                Attribute::Id(id) if !id.is_empty() => key_id = Some(id),
                Attribute::AlwaysAuthenticate(on) => always_authenticate = on,
                Attribute::Sign(false) => {
                    return Err(SignerError::MalformedKey(format!(
                        "the private key at {text} is not allowed to sign (CKA_SIGN=false)"
                    )));
                }
                _ => {}
            }
        }
        // The public half: the private key's id (and the label, when the URI gives one).
        let mut public_selector = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
        if let Some(id) = &key_id {
            public_selector.push(Attribute::Id(id.clone()));
        }
        if let Some(label) = &uri.object {
            public_selector.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        let mut publics = find(&session, &public_selector)?;
        if publics.is_empty() && key_id.is_some() && uri.object.is_some() {
            // Same id, different label (some tools label the halves differently).
            public_selector.pop();
            publics = find(&session, &public_selector)?;
        }
        let public_handle = match publics.as_slice() {
            [one] => *one,
            [] => {
                return Err(SignerError::KeyNotFound(format!(
                    "the private key at {text} has no public key object with the same id on \
                     token `{}`; the public key is needed to verify every signature",
                    token.label
                )));
            }
            several => {
                return Err(SignerError::KeyNotFound(format!(
                    "{} public key objects match the private key at {text} on token `{}`",
                    several.len(),
                    token.label
                )));
            }
        };
        let public = read_public_key(&session, public_handle)?;
        let alg = public.algorithm();
        let reauth = always_authenticate.then(|| {
            let hashes = alg == KeyAlgorithm::Ed25519
                || token
                    .ctx
                    .get_mechanism_list(token.slot)
                    .is_ok_and(|list| list.contains(&hashing_mechanism(alg).mechanism_type()));
            if hashes {
                Reauth::OnToken
            } else {
                Reauth::Digest
            }
        });
        Ok(Self {
            token,
            selector,
            handle: Mutex::new(private),
            reauth,
            public,
            uri: text,
            idle: Mutex::new(vec![session]),
        })
    }

    /// Generates a key pair on the token: the private half `CKA_TOKEN`, `CKA_PRIVATE`,
    /// `CKA_SENSITIVE`, not `CKA_EXTRACTABLE`, `CKA_SIGN`; the public half `CKA_VERIFY`. Both
    /// get the URI's label and id; without an `id` a random 16-byte one is set, and
    /// [`describe`](SigningBackend::describe) then names the key with it.
    ///
    /// Refuses with [`SignerError::KeyExists`] if a key with the same label or the same id is
    /// already on the token.
    pub fn generate(uri: &Pkcs11Uri, alg: KeyAlgorithm) -> Result<Self, SignerError> {
        let token = Token::connect(uri)?;
        let session = token.session(true)?;
        let text = KeyUri::Pkcs11(uri.clone()).to_string();
        let mut checks = Vec::new();
        if let Some(label) = &uri.object {
            checks.push(("label", Attribute::Label(label.as_bytes().to_vec())));
        }
        if let Some(id) = &uri.id {
            checks.push(("id", Attribute::Id(id.clone())));
        }
        for (what, attr) in checks {
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
                if !find(&session, &[Attribute::Class(class), attr.clone()])?.is_empty() {
                    return Err(SignerError::KeyExists(format!(
                        "{text} (token `{}` has a key with this {what})",
                        token.label
                    )));
                }
            }
        }
        let mut uri = uri.clone();
        if uri.id.is_none() {
            let mut id = vec![0u8; 16];
            aws_lc_rs::rand::fill(&mut id).map_err(|_| SignerError::Backend {
                backend: BACKEND,
                message: "no randomness for the key id".into(),
            })?;
            uri.id = Some(id);
        }
        let mechanism = match alg {
            KeyAlgorithm::Ed25519 => Mechanism::EccEdwardsKeyPairGen,
            _ => Mechanism::EccKeyPairGen,
        };
        let mut names = Vec::new();
        if let Some(label) = &uri.object {
            names.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &uri.id {
            names.push(Attribute::Id(id.clone()));
        }
        let mut private_template = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ];
        private_template.extend(names.iter().cloned());
        let mut last_error = None;
        let mut generated = None;
        for params in ec_params_candidates(alg)? {
            let mut public_template = vec![
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::EcParams(params),
            ];
            public_template.extend(names.iter().cloned());
            match session.generate_key_pair(&mechanism, &public_template, &private_template) {
                Ok(pair) => {
                    generated = Some(pair);
                    break;
                }
                // The token wants another encoding of the curve: try the next one.
                Err(e)
                    if matches!(
                        rv(&e),
                        Some(
                            RvError::DomainParamsInvalid
                                | RvError::CurveNotSupported
                                | RvError::AttributeValueInvalid
                                | RvError::TemplateInconsistent
                        )
                    ) =>
                {
                    last_error = Some(e)
                }
                Err(e) => {
                    last_error = Some(e);
                    break;
                }
            }
        }
        let Some((public_handle, private_handle)) = generated else {
            return Err(match last_error {
                Some(e)
                    if matches!(
                        rv(&e),
                        Some(
                            RvError::MechanismInvalid
                                | RvError::CurveNotSupported
                                | RvError::DomainParamsInvalid
                        )
                    ) =>
                {
                    SignerError::UnsupportedAlgorithm {
                        backend: BACKEND,
                        alg,
                    }
                }
                Some(e) => p11_error("C_GenerateKeyPair", e),
                None => SignerError::UnsupportedAlgorithm {
                    backend: BACKEND,
                    alg,
                },
            });
        };
        let destroy = |reason: SignerError| {
            // Best effort: a half-made or unsafe key must not stay on the token.
            let _ = session.destroy_object(private_handle);
            let _ = session.destroy_object(public_handle);
            reason
        };
        // The token must have honoured the non-extractable template.
        let guarded = session
            .get_attributes(
                private_handle,
                &[AttributeType::Sensitive, AttributeType::Extractable],
            )
            .map_err(|e| destroy(p11_error("C_GetAttributeValue", e)))?;
        if !(guarded.contains(&Attribute::Sensitive(true))
            && guarded.contains(&Attribute::Extractable(false)))
        {
            return Err(destroy(SignerError::Backend {
                backend: BACKEND,
                message: format!(
                    "token `{}` did not make the new private key sensitive and \
                     non-extractable ({guarded:?}); the key pair was deleted",
                    token.label
                ),
            }));
        }
        let public = read_public_key(&session, public_handle).map_err(destroy)?;
        Ok(Self {
            token,
            selector: selector(&uri, ObjectClass::PRIVATE_KEY),
            handle: Mutex::new(private_handle),
            reauth: None,
            public,
            uri: KeyUri::Pkcs11(uri).to_string(),
            idle: Mutex::new(vec![session]),
        })
    }

    /// A logged-in session no other thread is using.
    fn checkout(&self) -> Result<Session, SignerError> {
        if let Some(session) = lock(&self.idle).pop() {
            return Ok(session);
        }
        self.token.session(false)
    }

    /// One signing attempt with the key handle `key`; the error names the failing call.
    fn sign_with(
        &self,
        session: &Session,
        key: ObjectHandle,
        message: &[u8],
    ) -> Result<Vec<u8>, (&'static str, P11Error)> {
        let alg = self.public.algorithm();
        let Some(reauth) = self.reauth else {
            // ECDSA signs a digest computed here: CKM_ECDSA is on every token.
            let (mechanism, data) = match alg {
                KeyAlgorithm::Ed25519 => (hashing_mechanism(alg), message.to_vec()),
                _ => (Mechanism::Ecdsa, alg.hash().digest(message)),
            };
            return session
                .sign(&mechanism, key, &data)
                .map_err(|e| ("C_Sign", e));
        };
        // CKA_ALWAYS_AUTHENTICATE: C_SignInit, C_Login(CKU_CONTEXT_SPECIFIC), then multi-part.
        let (mechanism, data) = match reauth {
            Reauth::OnToken => (hashing_mechanism(alg), message.to_vec()),
            Reauth::Digest => (Mechanism::Ecdsa, alg.hash().digest(message)),
        };
        session
            .sign_init(&mechanism, key)
            .map_err(|e| ("C_SignInit", e))?;
        session
            .login(UserType::ContextSpecific, Some(&self.token.pin))
            .map_err(|e| {
                (
                    "context-specific login for a CKA_ALWAYS_AUTHENTICATE key",
                    e,
                )
            })?;
        session
            .sign_update(&data)
            .and_then(|()| session.sign_final())
            .map_err(|e| (MULTI_PART, e))
    }
}

impl SigningBackend for Pkcs11Key {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign_fixed(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let session = self.checkout()?;
        let key = *lock(&self.handle);
        let signature = match self.sign_with(&session, key, message) {
            Ok(signature) => signature,
            Err((_, e))
                if matches!(
                    rv(&e),
                    Some(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid)
                ) =>
            {
                // The handle went stale (the token was re-inserted, say): find the key again.
                let fresh = one_private_key(&session, &self.selector, &self.uri, &self.token)?;
                *lock(&self.handle) = fresh;
                self.sign_with(&session, fresh, message)
                    .map_err(|(what, e)| p11_error(what, e))?
            }
            Err((MULTI_PART, e))
                if matches!(
                    rv(&e),
                    Some(RvError::OperationNotInitialized | RvError::FunctionNotSupported)
                ) =>
            {
                return Err(SignerError::Backend {
                    backend: BACKEND,
                    message: format!(
                        "{} has CKA_ALWAYS_AUTHENTICATE, so it must sign right after a \
                         context-specific login; through cryptoki 0.12 that is only possible \
                         multi-part, and token `{}` does not sign {} keys multi-part ({}). \
                         Use a key without CKA_ALWAYS_AUTHENTICATE on this token",
                        self.uri,
                        self.token.label,
                        self.public.algorithm(),
                        rv(&e).map(|r| format!("{r:?}")).unwrap_or_default(),
                    ),
                });
            }
            Err((what, e)) => return Err(p11_error(what, e)),
        };
        // Only a session that signed cleanly goes back to the pool; a failed one (maybe in the
        // middle of an operation) is closed when dropped here.
        lock(&self.idle).push(session);
        fixed_signature(self.public.algorithm(), signature)
    }

    fn describe(&self) -> String {
        self.uri.clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn curve_parameters_map_to_algorithms() {
        for alg in KeyAlgorithm::ALL {
            let key_type = if alg == KeyAlgorithm::Ed25519 {
                KeyType::EC_EDWARDS
            } else {
                KeyType::EC
            };
            for params in ec_params_candidates(alg).unwrap() {
                assert_eq!(algorithm_from_params(key_type, &params).unwrap(), alg);
            }
        }
        // secp256k1 is not supported.
        let k1 = ObjectIdentifier::new_unwrap("1.3.132.0.10")
            .to_der()
            .unwrap();
        assert!(matches!(
            algorithm_from_params(KeyType::EC, &k1),
            Err(SignerError::MalformedKey(_))
        ));
        assert!(algorithm_from_params(KeyType::RSA, &k1).is_err());
    }

    #[test]
    fn ec_points_are_accepted_bare_or_der_wrapped() {
        let mut p256 = vec![0x04];
        p256.extend([7u8; 64]);
        let wrapped = OctetStringRef::new(&p256).unwrap().to_der().unwrap();
        assert_eq!(unwrap_point(KeyAlgorithm::P256, &p256), p256);
        assert_eq!(unwrap_point(KeyAlgorithm::P256, &wrapped), p256);
        let ed = [9u8; 32];
        let wrapped = OctetStringRef::new(&ed).unwrap().to_der().unwrap();
        assert_eq!(unwrap_point(KeyAlgorithm::Ed25519, &ed), ed);
        assert_eq!(unwrap_point(KeyAlgorithm::Ed25519, &wrapped), ed);
    }

    #[test]
    fn short_and_der_ecdsa_signatures_become_fixed() {
        // r and s with their leading zero dropped by the token.
        let short: Vec<u8> = [vec![1u8; 31], vec![2u8; 31]].concat();
        let fixed = fixed_signature(KeyAlgorithm::P256, short).unwrap();
        assert_eq!(fixed.len(), 64);
        assert_eq!(fixed[0], 0);
        assert_eq!(fixed[32], 0);
        assert_eq!(&fixed[1..32], &[1u8; 31]);
        // DER Ecdsa-Sig-Value from a non-conforming token.
        let der = [0x30, 0x08, 0x02, 0x02, 0x00, 0x80, 0x02, 0x02, 0x01, 0x02];
        let fixed = fixed_signature(KeyAlgorithm::P256, der.to_vec()).unwrap();
        assert_eq!(fixed[31], 0x80);
        assert_eq!(&fixed[62..], &[1, 2]);
        assert!(fixed_signature(KeyAlgorithm::Ed25519, vec![0; 63]).is_err());
    }

    #[test]
    fn pin_errors_never_carry_the_pin() {
        let err = p11_error(
            "logging in",
            P11Error::Pkcs11(RvError::PinIncorrect, cryptoki::context::Function::Login),
        );
        assert!(matches!(err, SignerError::Authentication(_)), "{err}");
        assert!(err.to_string().contains("CKR_PIN_INCORRECT"), "{err}");
        for rv in [RvError::PinLenRange, RvError::PinLocked] {
            let err = p11_error(
                "x",
                P11Error::Pkcs11(rv, cryptoki::context::Function::Login),
            );
            assert!(matches!(err, SignerError::Authentication(_)), "{err}");
        }
    }
}
