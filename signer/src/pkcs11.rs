//! PKCS#11 keys through `cryptoki` (RFC 7512 URIs). Keys are generated on the token as
//! sensitive, non-extractable objects; signing happens on the token. Each thread signs through
//! its own session, and keys marked `CKA_ALWAYS_AUTHENTICATE` get a context-specific login.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::asn1::{ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::key::PublicKey;
use e2ei_core::oid;

use crate::uri::{KeyUri, PKCS11_MODULE_ENV, PKCS11_PIN_ENV, Pkcs11Uri};
use crate::{SecretSource, SignerError, SigningBackend};

const BACKEND: &str = "pkcs11";

fn backend_error(what: &str, e: P11Error) -> SignerError {
    match e {
        P11Error::Pkcs11(RvError::PinIncorrect, _) => {
            SignerError::Authentication("the token refused the PIN (CKR_PIN_INCORRECT)".into())
        }
        P11Error::Pkcs11(RvError::PinLenRange, _) => {
            SignerError::Authentication("the PIN has the wrong length (CKR_PIN_LEN_RANGE)".into())
        }
        P11Error::Pkcs11(RvError::PinLocked, _) => {
            SignerError::Authentication("the PIN is locked (CKR_PIN_LOCKED)".into())
        }
        other => SignerError::Backend {
            backend: BACKEND,
            message: format!("{what}: {other}"),
        },
    }
}

/// Loaded modules, one per library path for the whole process (C_Initialize once).
fn module(path: &PathBuf) -> Result<Arc<Pkcs11>, SignerError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Pkcs11>>>> = OnceLock::new();
    let mut modules =
        MODULES
            .get_or_init(Default::default)
            .lock()
            .map_err(|_| SignerError::Backend {
                backend: BACKEND,
                message: "module table poisoned".into(),
            })?;
    if let Some(m) = modules.get(path) {
        return Ok(m.clone());
    }
    let ctx = Pkcs11::new(path).map_err(|e| SignerError::Backend {
        backend: BACKEND,
        message: format!("cannot load PKCS#11 module {}: {e}", path.display()),
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(backend_error("C_Initialize", e)),
    }
    let ctx = Arc::new(ctx);
    modules.insert(path.clone(), ctx.clone());
    Ok(ctx)
}

/// A private key on a PKCS#11 token.
pub struct Pkcs11Key {
    ctx: Arc<Pkcs11>,
    slot: Slot,
    pin: AuthPin,
    label: Option<String>,
    id: Option<Vec<u8>>,
    always_authenticate: bool,
    public: PublicKey,
    uri: String,
    sessions: Mutex<HashMap<ThreadId, Arc<Mutex<Session>>>>,
}

struct Opened {
    ctx: Arc<Pkcs11>,
    slot: Slot,
    pin: AuthPin,
    session: Session,
}

fn open_token(uri: &Pkcs11Uri) -> Result<Opened, SignerError> {
    let module_path = uri
        .module_path
        .clone()
        .or_else(|| std::env::var_os(PKCS11_MODULE_ENV).map(PathBuf::from))
        .ok_or_else(|| SignerError::InvalidUri {
            uri: KeyUri::Pkcs11(uri.clone()).to_string(),
            reason: format!("no PKCS#11 module: set `module-path` or {PKCS11_MODULE_ENV}"),
        })?;
    let ctx = module(&module_path)?;
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(|e| backend_error("C_GetSlotList", e))?;
    let mut matching = Vec::new();
    for slot in slots {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| backend_error("C_GetTokenInfo", e))?;
        if uri
            .token
            .as_deref()
            .is_some_and(|t| t != info.label().trim_end())
        {
            continue;
        }
        if uri
            .serial
            .as_deref()
            .is_some_and(|s| s != info.serial_number().trim_end())
        {
            continue;
        }
        matching.push(slot);
    }
    let describe = || {
        uri.token
            .clone()
            .map(|t| format!("token `{t}`"))
            .unwrap_or_else(|| "the token".into())
    };
    let slot = match matching.as_slice() {
        [slot] => *slot,
        [] => {
            return Err(SignerError::KeyNotFound(format!(
                "no PKCS#11 {} in {}",
                describe(),
                module_path.display()
            )));
        }
        _ => {
            return Err(SignerError::KeyNotFound(format!(
                "{} matches several slots; add `serial` or `slot-id` to the URI",
                describe()
            )));
        }
    };
    let source = uri
        .pin_source
        .clone()
        .unwrap_or_else(|| SecretSource::Env(PKCS11_PIN_ENV.into()));
    let pin = AuthPin::from(source.read()?.expose().to_owned());
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| backend_error("C_OpenSession", e))?;
    login(&session, &pin)?;
    Ok(Opened {
        ctx,
        slot,
        pin,
        session,
    })
}

fn login(session: &Session, pin: &AuthPin) -> Result<(), SignerError> {
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(backend_error("C_Login", e)),
    }
}

fn key_template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    template
}

/// DER-encoded named-curve OID for CKA_EC_PARAMS.
fn ec_params(alg: KeyAlgorithm) -> Result<Vec<u8>, SignerError> {
    let curve = alg.curve_oid().unwrap_or(oid::ED25519);
    curve
        .to_der()
        .map_err(|e| SignerError::MalformedKey(e.to_string()))
}

/// The algorithm named by CKA_EC_PARAMS (an OID, or the PrintableString `edwards25519`).
fn algorithm_from_params(key_type: KeyType, params: &[u8]) -> Result<KeyAlgorithm, SignerError> {
    if key_type == KeyType::EC_EDWARDS {
        let is_ed25519 = ObjectIdentifier::from_der(params).is_ok_and(|o| o == oid::ED25519)
            || der::asn1::PrintableStringRef::from_der(params)
                .is_ok_and(|s| s.as_str() == "edwards25519");
        return if is_ed25519 {
            Ok(KeyAlgorithm::Ed25519)
        } else {
            Err(SignerError::MalformedKey(
                "unsupported Edwards curve (only Ed25519)".into(),
            ))
        };
    }
    if key_type != KeyType::EC {
        return Err(SignerError::MalformedKey(format!(
            "unsupported PKCS#11 key type {key_type} (supported: EC, EC_EDWARDS)"
        )));
    }
    let curve = ObjectIdentifier::from_der(params)
        .map_err(|e| SignerError::MalformedKey(format!("CKA_EC_PARAMS: {e}")))?;
    KeyAlgorithm::ALL
        .into_iter()
        .find(|a| a.curve_oid() == Some(curve))
        .ok_or_else(|| SignerError::MalformedKey(format!("unsupported curve {curve}")))
}

/// CKA_EC_POINT is a DER OCTET STRING around the point; some tokens return the bare point.
fn unwrap_point(alg: KeyAlgorithm, point: &[u8]) -> Vec<u8> {
    if point.len() == alg.raw_public_key_len() && (alg == KeyAlgorithm::Ed25519 || point[0] == 4) {
        return point.to_vec();
    }
    <&OctetStringRef>::from_der(point)
        .map(|o| o.as_bytes().to_vec())
        .unwrap_or_else(|_| point.to_vec())
}

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
        .map_err(|e| backend_error("C_GetAttributeValue", e))?;
    let (mut key_type, mut params, mut point) = (None, None, None);
    for attr in attrs {
        match attr {
            Attribute::KeyType(k) => key_type = Some(k),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let (Some(key_type), Some(params), Some(point)) = (key_type, params, point) else {
        return Err(SignerError::MalformedKey(
            "public key object lacks CKA_KEY_TYPE, CKA_EC_PARAMS or CKA_EC_POINT".into(),
        ));
    };
    let alg = algorithm_from_params(key_type, &params)?;
    Ok(PublicKey::from_raw(alg, &unwrap_point(alg, &point))?)
}

fn find_one(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
) -> Result<Option<ObjectHandle>, SignerError> {
    let found = session
        .find_objects(&key_template(uri, class))
        .map_err(|e| backend_error("C_FindObjects", e))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(SignerError::KeyNotFound(format!(
            "{} matches {} objects; add `id` to the URI",
            KeyUri::Pkcs11(uri.clone()),
            found.len()
        ))),
    }
}

impl Pkcs11Key {
    /// Opens the private key the URI names, and its public key object.
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, SignerError> {
        let opened = open_token(uri)?;
        let text = KeyUri::Pkcs11(uri.clone()).to_string();
        let private = find_one(&opened.session, uri, ObjectClass::PRIVATE_KEY)?
            .ok_or_else(|| SignerError::KeyNotFound(format!("no private key matches {text}")))?;
        let public_handle =
            find_one(&opened.session, uri, ObjectClass::PUBLIC_KEY)?.ok_or_else(|| {
                SignerError::KeyNotFound(format!("no public key object matches {text}"))
            })?;
        let public = read_public_key(&opened.session, public_handle)?;
        let always_authenticate = opened
            .session
            .get_attributes(private, &[AttributeType::AlwaysAuthenticate])
            .ok()
            .into_iter()
            .flatten()
            .any(|a| matches!(a, Attribute::AlwaysAuthenticate(true)));
        Ok(Self::assemble(
            opened,
            uri,
            public,
            always_authenticate,
            text,
        ))
    }

    fn assemble(
        opened: Opened,
        uri: &Pkcs11Uri,
        public: PublicKey,
        always_authenticate: bool,
        text: String,
    ) -> Self {
        let mut sessions = HashMap::new();
        sessions.insert(
            std::thread::current().id(),
            Arc::new(Mutex::new(opened.session)),
        );
        Self {
            ctx: opened.ctx,
            slot: opened.slot,
            pin: opened.pin,
            label: uri.object.clone(),
            id: uri.id.clone(),
            always_authenticate,
            public,
            uri: text,
            sessions: Mutex::new(sessions),
        }
    }

    /// Generates a key pair on the token: private half sensitive and never extractable.
    pub fn generate(uri: &Pkcs11Uri, alg: KeyAlgorithm) -> Result<Self, SignerError> {
        let opened = open_token(uri)?;
        let text = KeyUri::Pkcs11(uri.clone()).to_string();
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            if find_one(&opened.session, uri, class)?.is_some() {
                return Err(SignerError::KeyExists(text));
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
        let mut public_template = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(ec_params(alg)?),
        ];
        let mut private_template = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ];
        for template in [&mut public_template, &mut private_template] {
            if let Some(label) = &uri.object {
                template.push(Attribute::Label(label.as_bytes().to_vec()));
            }
            if let Some(id) = &uri.id {
                template.push(Attribute::Id(id.clone()));
            }
        }
        let (public_handle, _) = opened
            .session
            .generate_key_pair(&mechanism, &public_template, &private_template)
            .map_err(|e| match e {
                P11Error::Pkcs11(RvError::MechanismInvalid, _)
                | P11Error::Pkcs11(RvError::CurveNotSupported, _)
                | P11Error::Pkcs11(RvError::DomainParamsInvalid, _) => {
                    SignerError::UnsupportedAlgorithm {
                        backend: BACKEND,
                        alg,
                    }
                }
                other => backend_error("C_GenerateKeyPair", other),
            })?;
        let public = read_public_key(&opened.session, public_handle)?;
        Ok(Self::assemble(opened, &uri, public, false, text))
    }

    /// This thread's session, opened and logged in on first use.
    fn session(&self) -> Result<Arc<Mutex<Session>>, SignerError> {
        let mut sessions = self.sessions.lock().map_err(|_| SignerError::Backend {
            backend: BACKEND,
            message: "session table poisoned".into(),
        })?;
        let thread = std::thread::current().id();
        if let Some(s) = sessions.get(&thread) {
            return Ok(s.clone());
        }
        let session = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(|e| backend_error("C_OpenSession", e))?;
        login(&session, &self.pin)?;
        let session = Arc::new(Mutex::new(session));
        sessions.insert(thread, session.clone());
        Ok(session)
    }
}

impl SigningBackend for Pkcs11Key {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign_fixed(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let session = self.session()?;
        let session = session.lock().map_err(|_| SignerError::Backend {
            backend: BACKEND,
            message: "session poisoned".into(),
        })?;
        let uri = Pkcs11Uri {
            object: self.label.clone(),
            id: self.id.clone(),
            ..Default::default()
        };
        let key = find_one(&session, &uri, ObjectClass::PRIVATE_KEY)?
            .ok_or_else(|| SignerError::KeyNotFound(self.uri.clone()))?;
        let alg = self.public.algorithm();
        // ECDSA tokens sign a digest (CKM_ECDSA works on every token); EdDSA signs the message.
        let (mechanism, data) = match alg {
            KeyAlgorithm::Ed25519 => (
                Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                message.to_vec(),
            ),
            _ => (Mechanism::Ecdsa, alg.hash().digest(message)),
        };
        let signature = if self.always_authenticate {
            session
                .sign_init(&mechanism, key)
                .map_err(|e| backend_error("C_SignInit", e))?;
            session
                .login(UserType::ContextSpecific, Some(&self.pin))
                .map_err(|e| backend_error("context-specific C_Login", e))?;
            session
                .sign_update(&data)
                .and_then(|_| session.sign_final())
                .map_err(|e| backend_error("C_Sign", e))?
        } else {
            session
                .sign(&mechanism, key, &data)
                .map_err(|e| backend_error("C_Sign", e))?
        };
        // Left-pad r and s in case a token drops leading zero bytes.
        let want = alg.fixed_signature_len();
        if alg != KeyAlgorithm::Ed25519 && signature.len() < want && signature.len() % 2 == 0 {
            let half = signature.len() / 2;
            let n = want / 2;
            let mut fixed = vec![0u8; want];
            fixed[n - half..n].copy_from_slice(&signature[..half]);
            fixed[want - half..].copy_from_slice(&signature[half..]);
            return Ok(fixed);
        }
        Ok(signature)
    }

    fn describe(&self) -> String {
        self.uri.clone()
    }
}
