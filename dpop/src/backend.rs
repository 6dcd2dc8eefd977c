//! `POST /clients/{cid}/access-token` (protocol doc §6.2, tokens §5.2 → §5.3): the backend
//! verifies the client's DPoP proof with every check wire-server makes and mints the access
//! token, signed with its key of the proof's algorithm. Errors carry the Wire label of §9.1.
//!
//! The flow is a small state machine so that an async backend can consume the nonce in its
//! own storage between the pure steps:
//!
//! ```text
//! ProofVerifier::verify ─► ProofAwaitingNonce ─(consume_nonce | confirm_nonce)─► VerifiedProof ─mint─► AccessToken
//! ```
//!
//! The nonce is consumed only after every other check passed, so a malformed request leaves
//! the client's nonce usable ("bad input changes nothing").

use std::collections::BTreeMap;
use std::time::Duration;

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::Clock;
use e2ei_core::id::{ClientId, DisplayName, QualifiedHandle, TeamId};
use e2ei_core::jwk::Jwk;
use e2ei_core::key::PublicKey;
use e2ei_signer::Signer;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::claims::{Claims, WrongType};
use crate::jws::{CompactJws, JwsError, header_jwk, sign_compact};
use crate::nonce::NonceStore;
use crate::proof::{BACKDATE, PROOF_CLAIMS, PROOF_HTM, PROOF_TYP, seconds};
use crate::replay::{JtiReplayCache, ReplayKey, ReplayOutcome};
use crate::url::{absolute_url, logical_url};
use crate::{ACCESS_TOKEN_API_VERSION, ACCESS_TOKEN_SCOPE, ACCESS_TOKEN_TYP, MAX_PROOF_LEN};

/// wire-server's `ACCESS_TOKEN_EXPIRY`: access tokens live 360 s.
pub const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(360);

/// wire-server's default `dpopTokenExpirationTimeSecs`: a proof's `exp` may be at most this far
/// ahead of the backend's clock.
pub const DEFAULT_MAX_PROOF_LIFETIME: Duration = Duration::from_secs(300);

/// wire-server's default `max_skew_secs`.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(1);

/// What the backend knows about the requesting client, from its session and storage.
#[derive(Debug, Clone, Copy)]
pub struct BackendExpectations<'a> {
    /// The client in the request path, of the authenticated user, on the local domain.
    pub client_id: &'a ClientId,
    /// The user's handle.
    pub handle: &'a QualifiedHandle,
    /// The user's display name.
    pub display_name: &'a DisplayName,
    /// The user's team; the proof's `team` must match it, absence included.
    pub team: Option<&'a TeamId>,
    /// `https://{federation domain}/clients/{cid}/access-token`.
    pub htu: &'a str,
}

/// The backend's time and size rules.
#[derive(Debug, Clone, Copy)]
pub struct BackendPolicy {
    /// Tolerance for the client's clock on `iat`, `nbf` and `exp`.
    pub max_skew: Duration,
    /// A proof's `exp` may be at most now plus this.
    pub max_proof_lifetime: Duration,
    /// The access token's `exp` is now plus this.
    pub access_token_lifetime: Duration,
    /// The access token's `iat` / `nbf` are now minus this.
    pub backdate: Duration,
    /// Proofs longer than this are refused unread.
    pub max_proof_len: usize,
}

impl Default for BackendPolicy {
    fn default() -> Self {
        Self {
            max_skew: DEFAULT_MAX_SKEW,
            max_proof_lifetime: DEFAULT_MAX_PROOF_LIFETIME,
            access_token_lifetime: DEFAULT_ACCESS_TOKEN_LIFETIME,
            backdate: BACKDATE,
            max_proof_len: MAX_PROOF_LEN,
        }
    }
}

/// Why the backend refused to mint an access token. Each variant is one check of §6.2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// The proof is longer than the cap.
    #[error("DPoP proof is {got} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The cap.
        limit: usize,
        /// The proof's length.
        got: usize,
    },
    /// The proof is not a well-formed compact JWS.
    #[error("DPoP proof is malformed: {0}")]
    Malformed(JwsError),
    /// `typ` is absent or not `dpop+jwt`.
    #[error("DPoP proof `typ` is {got:?}, expected \"dpop+jwt\"")]
    WrongType {
        /// The `typ` found.
        got: Option<String>,
    },
    /// `alg` is absent or not one of EdDSA, ES256, ES384, ES512.
    #[error("DPoP proof algorithm `{0}` is not supported")]
    UnsupportedAlg(String),
    /// No `jwk` header.
    #[error("DPoP proof has no `jwk` header")]
    MissingJwk,
    /// `alg` is not the algorithm of the header key's type.
    #[error("DPoP proof `alg` {header} does not match its {key} key")]
    AlgorithmMismatch {
        /// `alg` from the header.
        header: String,
        /// The `jwk` key type.
        key: KeyAlgorithm,
    },
    /// The signature does not verify with the header `jwk`.
    #[error("DPoP proof signature does not verify")]
    BadSignature,
    /// A claim has the wrong JSON type.
    #[error("DPoP proof claim `{0}` has the wrong type")]
    ClaimType(&'static str),
    /// `sub` is not this client.
    #[error("DPoP proof `sub` is {got:?}, expected `{expected}`")]
    ClientIdMismatch {
        /// The client id the backend expects.
        expected: String,
        /// The `sub` found.
        got: Option<String>,
    },
    /// No `nonce` claim.
    #[error("DPoP proof has no `nonce`")]
    MissingNonce,
    /// The `nonce` was not issued to this client, was used, or expired.
    #[error("DPoP proof `nonce` is unknown, used or expired")]
    NonceMismatch,
    /// No `iat` claim.
    #[error("DPoP proof has no `iat`")]
    MissingIat,
    /// `iat` is later than now plus the skew.
    #[error("DPoP proof `iat` {iat} is in the future (now {now})")]
    IssuedInFuture {
        /// `iat`.
        iat: i64,
        /// The backend's now.
        now: i64,
    },
    /// No `nbf` claim.
    #[error("DPoP proof has no `nbf`")]
    MissingNbf,
    /// `nbf` is later than now plus the skew.
    #[error("DPoP proof is not valid before {nbf} (now {now})")]
    NotYetValid {
        /// `nbf`.
        nbf: i64,
        /// The backend's now.
        now: i64,
    },
    /// No `exp` claim.
    #[error("DPoP proof has no `exp`")]
    MissingExp,
    /// `exp` is earlier than now minus the skew.
    #[error("DPoP proof expired at {exp} (now {now})")]
    Expired {
        /// `exp`.
        exp: i64,
        /// The backend's now.
        now: i64,
    },
    /// `exp` is later than the backend allows.
    #[error("DPoP proof `exp` {exp} is later than the allowed {max}")]
    ExpiresTooLate {
        /// `exp`.
        exp: i64,
        /// The latest acceptable `exp`.
        max: i64,
    },
    /// No `jti` claim.
    #[error("DPoP proof has no `jti`")]
    MissingJti,
    /// No (or an empty) `chal` claim.
    #[error("DPoP proof has no `chal`")]
    MissingChallenge,
    /// `htm` is absent or not `POST`.
    #[error("DPoP proof `htm` is {got:?}, expected \"POST\"")]
    BadMethod {
        /// The `htm` found.
        got: Option<String>,
    },
    /// `htu` is absent, not a logical URL, or not this endpoint.
    #[error("DPoP proof `htu` is {got:?}, expected `{expected}`")]
    BadUri {
        /// The URL the backend expects.
        expected: String,
        /// The `htu` found.
        got: Option<String>,
    },
    /// `aud` is absent or not a URL.
    #[error("DPoP proof `aud` is absent or not a URL")]
    BadAudience,
    /// `handle` is not the user's.
    #[error("DPoP proof `handle` is {got:?}, expected `{expected}`")]
    HandleMismatch {
        /// The user's qualified handle URI.
        expected: String,
        /// The `handle` found.
        got: Option<String>,
    },
    /// `team` differs from the user's team (absence included).
    #[error("DPoP proof `team` is {got:?}, expected {expected:?}")]
    TeamMismatch {
        /// The user's team.
        expected: Option<String>,
        /// The `team` found.
        got: Option<String>,
    },
    /// `name` is not the user's display name.
    #[error("DPoP proof `name` is {got:?}, expected `{expected}`")]
    DisplayNameMismatch {
        /// The user's display name.
        expected: String,
        /// The `name` found.
        got: Option<String>,
    },
    /// This proof (`htm`, `htu`, key, `jti`) was seen before.
    #[error("DPoP proof was already used")]
    Replayed,
    /// The backend holds no DPoP signing key of the proof's algorithm.
    #[error("no backend DPoP signing key for {0}")]
    InvalidBackendKeys(KeyAlgorithm),
    /// The backend's expected URL is not a URL: a configuration fault, not the client's.
    #[error("the backend's access-token URL `{0}` is not a valid URL")]
    MisconfiguredRequestUrl(String),
    /// The backend key failed to sign.
    #[error("signing the access token failed")]
    Signing,
}

impl MintError {
    /// The Wire error label (§9.1) the backend answers with.
    pub fn wire_label(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } | Self::Malformed(_) | Self::MissingJwk | Self::ClaimType(_) => {
                "client-token-parse-error"
            }
            Self::WrongType { .. } => "client-token-type-error",
            Self::UnsupportedAlg(_) => "client-token-unsupported-alg",
            Self::AlgorithmMismatch { .. } | Self::BadSignature => "client-token-bad-signature",
            Self::ClientIdMismatch { .. } => "client-token-bad-client-id",
            Self::MissingNonce | Self::NonceMismatch | Self::Replayed => "client-token-bad-nonce",
            Self::MissingIat => "client-token-iat-missing",
            Self::IssuedInFuture { .. } => "client-token-bad-iat",
            Self::NotYetValid { .. } => "not-yet-valid",
            Self::MissingExp => "client-token-exp-missing",
            Self::Expired { .. } => "client-token-exp-too-small",
            Self::ExpiresTooLate { .. } => "client-token-exp-too-large",
            Self::MissingJti => "client-token-jti-missing",
            Self::MissingChallenge => "client-token-chal-missing",
            Self::BadMethod { .. } => "client-token-bad-method",
            Self::BadUri { .. } => "client-token-bad-uri",
            Self::HandleMismatch { .. } => "dpop-handle-mismatch",
            Self::TeamMismatch { .. } => "dpop-team-mismatch",
            Self::DisplayNameMismatch { .. } => "dpop-display-name-mismatch",
            Self::InvalidBackendKeys(_) => "invalid-backend-keys",
            Self::MisconfiguredRequestUrl(_) => "misconfigured-request-url",
            // §9.1: whatever wire-server leaves unmapped (missing `nbf`, bad `aud`) is `internal-error`.
            Self::MissingNbf | Self::BadAudience | Self::Signing => "internal-error",
        }
    }

    /// The HTTP status that goes with the label.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MisconfiguredRequestUrl(_) | Self::Signing => 500,
            _ => 400,
        }
    }
}

impl From<WrongType> for MintError {
    fn from(WrongType(name): WrongType) -> Self {
        Self::ClaimType(name)
    }
}

/// The backend's DPoP signing keys, at most one per algorithm (§15.9).
#[derive(Debug, Default)]
pub struct BackendKeys {
    by_alg: BTreeMap<KeyAlgorithm, Signer>,
}

impl BackendKeys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key, replacing any key of the same algorithm.
    pub fn insert(&mut self, signer: Signer) {
        self.by_alg.insert(signer.algorithm(), signer);
    }

    /// The key for `alg`.
    pub fn get(&self, alg: KeyAlgorithm) -> Option<&Signer> {
        self.by_alg.get(&alg)
    }

    /// The public keys, for the ACME server's configuration.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.by_alg
            .values()
            .map(|s| s.public_key().clone())
            .collect()
    }
}

impl FromIterator<Signer> for BackendKeys {
    fn from_iter<I: IntoIterator<Item = Signer>>(iter: I) -> Self {
        let mut keys = Self::new();
        for signer in iter {
            keys.insert(signer);
        }
        keys
    }
}

/// Verifies proofs for one request.
pub struct ProofVerifier<'a> {
    expect: BackendExpectations<'a>,
    policy: BackendPolicy,
    replay: Option<&'a dyn JtiReplayCache>,
}

impl<'a> ProofVerifier<'a> {
    /// A verifier for a request with these expectations.
    pub fn new(expect: BackendExpectations<'a>, policy: BackendPolicy) -> Self {
        Self {
            expect,
            policy,
            replay: None,
        }
    }

    /// Also refuses proofs whose (`htm`, `htu`, key, `jti`) the cache has seen.
    pub fn with_replay_cache(mut self, cache: &'a dyn JtiReplayCache) -> Self {
        self.replay = Some(cache);
        self
    }

    /// Runs every check of §6.2 except the nonce's single use, which needs the nonce store.
    pub fn verify(&self, proof: &str, clock: &dyn Clock) -> Result<ProofAwaitingNonce, MintError> {
        let expected_url = logical_url(self.expect.htu)
            .ok_or_else(|| MintError::MisconfiguredRequestUrl(self.expect.htu.to_owned()))?;
        let jws = CompactJws::parse(proof, self.policy.max_proof_len).map_err(|e| match e {
            JwsError::TooLarge { limit, got } => MintError::TooLarge { limit, got },
            JwsError::MissingAlg => MintError::UnsupportedAlg(String::new()),
            JwsError::UnsupportedAlg(alg) => MintError::UnsupportedAlg(alg),
            other => MintError::Malformed(other),
        })?;
        let header = jws.header();
        if header.typ() != Some(PROOF_TYP) {
            return Err(MintError::WrongType {
                got: header.typ().map(str::to_owned),
            });
        }
        let jwk = header.jwk().cloned().ok_or(MintError::MissingJwk)?;
        jws.verify(jwk.public_key()).map_err(|e| match e {
            JwsError::AlgorithmMismatch { header, key } => MintError::AlgorithmMismatch {
                header: header.to_string(),
                key,
            },
            _ => MintError::BadSignature,
        })?;

        let now = clock.now();
        let t = now.unix_timestamp();
        let skew = seconds(self.policy.max_skew);
        let claims = Claims(jws.claims());

        let client_id = self.expect.client_id.to_uri();
        let sub = claims.string("sub")?;
        if sub != Some(client_id.as_str()) {
            return Err(MintError::ClientIdMismatch {
                expected: client_id,
                got: sub.map(str::to_owned),
            });
        }
        let nonce = claims.string("nonce")?.ok_or(MintError::MissingNonce)?;
        let iat = claims.seconds("iat")?.ok_or(MintError::MissingIat)?;
        if iat > t.saturating_add(skew) {
            return Err(MintError::IssuedInFuture { iat, now: t });
        }
        let nbf = claims.seconds("nbf")?.ok_or(MintError::MissingNbf)?;
        if nbf > t.saturating_add(skew) {
            return Err(MintError::NotYetValid { nbf, now: t });
        }
        let exp = claims.seconds("exp")?.ok_or(MintError::MissingExp)?;
        if exp < t.saturating_sub(skew) {
            return Err(MintError::Expired { exp, now: t });
        }
        let max = t.saturating_add(seconds(self.policy.max_proof_lifetime));
        if exp > max {
            return Err(MintError::ExpiresTooLate { exp, max });
        }
        let jti = claims.string("jti")?.ok_or(MintError::MissingJti)?;
        match claims.string("chal")? {
            Some(chal) if !chal.is_empty() => {}
            _ => return Err(MintError::MissingChallenge),
        }
        let htm = claims.string("htm")?;
        if htm != Some(PROOF_HTM) {
            return Err(MintError::BadMethod {
                got: htm.map(str::to_owned),
            });
        }
        let htu = claims.string("htu")?;
        if htu.and_then(logical_url) != Some(expected_url) {
            return Err(MintError::BadUri {
                expected: self.expect.htu.to_owned(),
                got: htu.map(str::to_owned),
            });
        }
        if claims.string("aud")?.and_then(absolute_url).is_none() {
            return Err(MintError::BadAudience);
        }
        let handle = self.expect.handle.to_uri();
        let got_handle = claims.string("handle")?;
        if got_handle != Some(handle.as_str()) {
            return Err(MintError::HandleMismatch {
                expected: handle,
                got: got_handle.map(str::to_owned),
            });
        }
        let team = self.expect.team.map(|t| t.to_string());
        let got_team = claims.string("team")?;
        if got_team != team.as_deref() {
            return Err(MintError::TeamMismatch {
                expected: team,
                got: got_team.map(str::to_owned),
            });
        }
        let name = self.expect.display_name.as_str();
        let got_name = claims.string("name")?;
        if got_name != Some(name) {
            return Err(MintError::DisplayNameMismatch {
                expected: name.to_owned(),
                got: got_name.map(str::to_owned),
            });
        }
        if let Some(cache) = self.replay {
            let key = ReplayKey::new(PROOF_HTM, self.expect.htu, &jwk.thumbprint_sha256(), jti);
            if cache.record(key, exp.saturating_add(skew), t) != ReplayOutcome::Fresh {
                return Err(MintError::Replayed);
            }
        }
        Ok(ProofAwaitingNonce {
            nonce: nonce.to_owned(),
            client_id: self.expect.client_id.clone(),
            proof: VerifiedProof {
                raw: proof.to_owned(),
                claims: jws.claims().clone(),
                jwk,
                client_id: self.expect.client_id.to_uri(),
                policy: self.policy,
            },
        })
    }
}

/// A proof that passed every check but the nonce's single use.
#[derive(Debug)]
pub struct ProofAwaitingNonce {
    nonce: String,
    client_id: ClientId,
    proof: VerifiedProof,
}

impl ProofAwaitingNonce {
    /// The nonce the proof carries; the backend must consume it for this client.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The client it was issued to.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// Consumes the nonce in `store`.
    pub fn consume_nonce(
        self,
        store: &dyn NonceStore,
        clock: &dyn Clock,
    ) -> Result<VerifiedProof, MintError> {
        let consumed = store.consume(&self.client_id, &self.nonce, clock.now());
        self.confirm_nonce(consumed)
    }

    /// For callers that consume the nonce themselves (an async database): `consumed` says
    /// whether the nonce was issued to this client, unused and unexpired, and is now spent.
    pub fn confirm_nonce(self, consumed: bool) -> Result<VerifiedProof, MintError> {
        if consumed {
            Ok(self.proof)
        } else {
            Err(MintError::NonceMismatch)
        }
    }
}

/// A proof that passed all of §6.2.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    raw: String,
    claims: Map<String, Value>,
    jwk: Jwk,
    client_id: String,
    policy: BackendPolicy,
}

impl VerifiedProof {
    /// The proof's claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The ACME account key that signed it.
    pub fn account_key(&self) -> &Jwk {
        &self.jwk
    }

    /// Mints the access token (§5.3) with the backend key of the proof's algorithm.
    pub fn mint(&self, keys: &BackendKeys, clock: &dyn Clock) -> Result<AccessToken, MintError> {
        let alg = self.jwk.algorithm();
        let key = keys.get(alg).ok_or(MintError::InvalidBackendKeys(alg))?;
        let now = clock.now().unix_timestamp();
        let issued = now.saturating_sub(seconds(self.policy.backdate));
        let lifetime = seconds(self.policy.access_token_lifetime);
        let exp = now.saturating_add(lifetime);
        let copy = |name: &str| self.claims.get(name).cloned().unwrap_or(Value::Null);

        let mut claims = Map::new();
        let mut put = |name: &str, value: Value| {
            claims.insert(name.to_owned(), value);
        };
        put("iat", json!(issued));
        put("exp", json!(exp));
        put("nbf", json!(issued));
        put("iss", copy("htu"));
        put("sub", json!(self.client_id));
        put("aud", copy("aud"));
        put("jti", json!(crate::random_uuid().to_string()));
        put("nonce", copy("nonce"));
        put("chal", copy("chal"));
        put(
            "cnf",
            json!({ "kid": self.jwk.thumbprint_sha256().as_str() }),
        );
        put("proof", json!(self.raw));
        put("client_id", json!(self.client_id));
        put("api_version", json!(ACCESS_TOKEN_API_VERSION));
        put("scope", json!(ACCESS_TOKEN_SCOPE));
        // §5.3: claims of the proof that Wire does not define travel on unchanged.
        for (name, value) in &self.claims {
            if !PROOF_CLAIMS.contains(&name.as_str()) && !claims.contains_key(name) {
                claims.insert(name.clone(), value.clone());
            }
        }

        let mut header = Map::new();
        header.insert("typ".into(), json!(ACCESS_TOKEN_TYP));
        header.insert("jwk".into(), header_jwk(key.public_key()));
        let token = sign_compact(key, &header, &claims).map_err(|_| MintError::Signing)?;
        Ok(AccessToken {
            token,
            expires_in: u64::try_from(lifetime).unwrap_or(0),
            expires_at: exp,
        })
    }
}

/// A minted access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: String,
    expires_in: u64,
    expires_at: i64,
}

impl AccessToken {
    /// The compact JWS.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Seconds until its `exp`.
    pub fn expires_in(&self) -> u64 {
        self.expires_in
    }

    /// Its `exp`.
    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.expires_at).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The response body of `POST /clients/{cid}/access-token`.
    pub fn response_body(&self) -> Value {
        json!({ "token": self.token, "type": "DPoP", "expires_in": self.expires_in })
    }
}

/// All of §6.2 in one call, with a synchronous nonce store.
pub fn mint_access_token(
    proof: &str,
    expect: BackendExpectations<'_>,
    policy: BackendPolicy,
    nonces: &dyn NonceStore,
    keys: &BackendKeys,
    clock: &dyn Clock,
) -> Result<AccessToken, MintError> {
    ProofVerifier::new(expect, policy)
        .verify(proof, clock)?
        .consume_nonce(nonces, clock)?
        .mint(keys, clock)
}
