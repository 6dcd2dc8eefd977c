//! `wire-dpop-01` at the ACME server (protocol doc §6.1): the access token must come from a
//! configured backend key and bind the client's DPoP proof to this challenge and this ACME
//! account. [`AcmePolicy::strict`] adds the fuller checks of rusty-jwt-tools'
//! `verify_access_token` (§6.4).
//!
//! Every failure is one [`AccessTokenError`] variant; the ACME server turns them all into an
//! invalid challenge with `rejectedIdentifier` (§6.1 step 10).

use std::fmt;
use std::time::Duration;

use e2ei_core::ciphersuite::{HashAlgorithm, KeyAlgorithm};
use e2ei_core::clock::Clock;
use e2ei_core::jwk::{Jwk, JwkThumbprint};
use e2ei_core::key::PublicKey;
use serde_json::{Map, Value};

use crate::claims::{Claims, WrongType};
use crate::jws::{CompactJws, JwsError};
use crate::proof::{PROOF_HTM, PROOF_TYP, seconds};
use crate::replay::{JtiReplayCache, ReplayKey, ReplayOutcome};
use crate::{
    ACCESS_TOKEN_API_VERSION, ACCESS_TOKEN_SCOPE, ACCESS_TOKEN_TYP, MAX_ACCESS_TOKEN_LEN,
    MAX_PROOF_LEN,
};

/// go-jose's leeway, which step-ca applies to both tokens.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Neither token may expire later than this after now (step-ca).
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// Which of the two tokens a check failed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// The backend's access token.
    AccessToken,
    /// The client's proof inside it.
    Proof,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AccessToken => "access token",
            Self::Proof => "DPoP proof",
        })
    }
}

/// Why a `wire-dpop-01` access token was rejected. Checks that apply to both tokens carry
/// [`Token`]; the rest name their check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessTokenError {
    /// Not a well-formed compact JWS (size cap, structure, algorithm, forbidden header).
    #[error("{token} is malformed: {source}")]
    Malformed {
        /// Which token.
        token: Token,
        /// What is wrong.
        source: JwsError,
    },
    /// A claim has the wrong JSON type.
    #[error("{token} claim `{claim}` has the wrong type")]
    ClaimType {
        /// Which token.
        token: Token,
        /// The claim.
        claim: &'static str,
    },
    /// A required claim is absent (or empty).
    #[error("{token} has no `{claim}`")]
    MissingClaim {
        /// Which token.
        token: Token,
        /// The claim.
        claim: &'static str,
    },
    /// The access token's `kid` / `jwk` names none of the configured backend keys.
    #[error("access token is not signed by a configured backend key (key {0})")]
    UnknownBackendKey(String),
    /// The proof's `kid` / `jwk` is not the ACME account key.
    #[error("DPoP proof key {0} is not the ACME account key")]
    ProofKeyNotAccountKey(String),
    /// `alg` is not the algorithm of the verifying key's type.
    #[error("{token} `alg` does not match the {key} key")]
    AlgorithmMismatch {
        /// Which token.
        token: Token,
        /// The verifying key's type.
        key: KeyAlgorithm,
    },
    /// The signature does not verify.
    #[error("{token} signature does not verify")]
    BadSignature {
        /// Which token.
        token: Token,
    },
    /// `exp` is more than the leeway in the past.
    #[error("{token} expired at {exp} (now {now})")]
    Expired {
        /// Which token.
        token: Token,
        /// `exp`.
        exp: i64,
        /// The verifier's now.
        now: i64,
    },
    /// `nbf` is more than the leeway in the future.
    #[error("{token} is not valid before {nbf} (now {now})")]
    NotYetValid {
        /// Which token.
        token: Token,
        /// `nbf`.
        nbf: i64,
        /// The verifier's now.
        now: i64,
    },
    /// `iat` is more than the leeway in the future.
    #[error("{token} was issued in the future ({iat}, now {now})")]
    IssuedInFuture {
        /// Which token.
        token: Token,
        /// `iat`.
        iat: i64,
        /// The verifier's now.
        now: i64,
    },
    /// `exp` is more than the maximum lifetime ahead.
    #[error("{token} `exp` {exp} is later than {max}")]
    ExpiresTooLate {
        /// Which token.
        token: Token,
        /// `exp`.
        exp: i64,
        /// The latest acceptable `exp`.
        max: i64,
    },
    /// `aud` does not contain this challenge's URL.
    #[error("{token} `aud` does not contain the challenge URL")]
    WrongAudience {
        /// Which token.
        token: Token,
    },
    /// `typ` is wrong (strict mode).
    #[error("{token} `typ` is {got:?}")]
    WrongType {
        /// Which token.
        token: Token,
        /// The `typ` found.
        got: Option<String>,
    },
    /// Access token `iss` is not the challenge target.
    #[error("access token `iss` {got:?} is not the challenge target `{expected}`")]
    WrongIssuer {
        /// The target.
        expected: String,
        /// The `iss` found.
        got: Option<String>,
    },
    /// `cnf.kid` is not the account key's thumbprint.
    #[error("access token `cnf.kid` {got:?} is not the ACME account key's thumbprint")]
    CnfKidMismatch {
        /// The `cnf.kid` found.
        got: Option<String>,
    },
    /// Access token `client_id` is not the identifier's client id.
    #[error("access token `client_id` {got:?} is not `{expected}`")]
    ClientIdMismatch {
        /// The identifier's client id.
        expected: String,
        /// The `client_id` found.
        got: Option<String>,
    },
    /// Access token `scope` is not `wire_client_id`.
    #[error("access token `scope` {got:?} is not \"wire_client_id\"")]
    WrongScope {
        /// The `scope` found.
        got: Option<String>,
    },
    /// Proof `htu` is not the challenge target.
    #[error("DPoP proof `htu` {got:?} is not the challenge target `{expected}`")]
    ProofHtuMismatch {
        /// The target.
        expected: String,
        /// The `htu` found.
        got: Option<String>,
    },
    /// Proof `sub` is not the identifier's client id.
    #[error("DPoP proof `sub` {got:?} is not `{expected}`")]
    ProofSubjectMismatch {
        /// The identifier's client id.
        expected: String,
        /// The `sub` found.
        got: Option<String>,
    },
    /// Proof `nonce` differs from the access token's.
    #[error("DPoP proof `nonce` differs from the access token's")]
    NonceMismatch,
    /// Proof `chal`, access token `chal` and the challenge token differ.
    #[error("`chal` differs between the proof, the access token and the challenge")]
    ChallengeMismatch,
    /// Proof `handle` is not the identifier's.
    #[error("DPoP proof `handle` {got:?} is not `{expected}`")]
    HandleMismatch {
        /// The identifier's handle.
        expected: String,
        /// The `handle` found.
        got: Option<String>,
    },
    /// Proof `name` is not the identifier's display name.
    #[error("DPoP proof `name` {got:?} is not `{expected}`")]
    DisplayNameMismatch {
        /// The identifier's name.
        expected: String,
        /// The `name` found.
        got: Option<String>,
    },
    /// Strict: access token `sub` is not the client id.
    #[error("access token `sub` {got:?} is not `{expected}`")]
    SubjectMismatch {
        /// The identifier's client id.
        expected: String,
        /// The `sub` found.
        got: Option<String>,
    },
    /// Strict: `api_version` is not the expected one.
    #[error("access token `api_version` {got:?} is not {expected}")]
    ApiVersionMismatch {
        /// The expected version.
        expected: u64,
        /// The version found.
        got: Option<Value>,
    },
    /// Strict: the proof's `team` is not the expected team.
    #[error("DPoP proof `team` {got:?} is not {expected:?}")]
    TeamMismatch {
        /// The expected team.
        expected: Option<String>,
        /// The `team` found.
        got: Option<String>,
    },
    /// Strict: the access token's header has no `jwk`, or one that is not the configured key.
    #[error("access token header `jwk` is not the configured backend key")]
    BackendJwkMismatch,
    /// Strict: the proof's `htm` is not `POST`.
    #[error("DPoP proof `htm` {got:?} is not \"POST\"")]
    ProofMethodMismatch {
        /// The `htm` found.
        got: Option<String>,
    },
    /// The proof (`htm`, `htu`, key, `jti`) was seen before.
    #[error("DPoP proof was already used")]
    Replayed,
}

/// The configured backend DPoP public keys (§2.4 `dpop.key`; one per algorithm, §15.9).
#[derive(Debug, Clone, Default)]
pub struct BackendPublicKeys {
    keys: Vec<(JwkThumbprint, PublicKey)>,
}

impl BackendPublicKeys {
    /// The keys, with their SHA-256 thumbprints computed once.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|k| (Jwk::from_public_key(k.clone()).thumbprint_sha256(), k))
                .collect(),
        }
    }

    fn find_by_thumbprint(&self, thumbprint: &str) -> Option<&PublicKey> {
        self.keys
            .iter()
            .find(|(t, _)| t.as_str() == thumbprint)
            .map(|(_, k)| k)
    }

    fn find(&self, key: &PublicKey) -> Option<&PublicKey> {
        self.keys.iter().map(|(_, k)| k).find(|k| *k == key)
    }
}

/// What the ACME server knows when a `wire-dpop-01` challenge is posted.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeExpectations<'a> {
    /// This challenge's URL (`aud` of both tokens).
    pub challenge_url: &'a str,
    /// This challenge's token (`chal`).
    pub challenge_token: &'a str,
    /// The challenge `target`: the rendered backend access-token URL (`iss`, `htu`).
    pub target: &'a str,
    /// The `wireapp-device` identifier's `client-id`, compared as a string.
    pub client_id: &'a str,
    /// The identifier's `handle` URI.
    pub handle: &'a str,
    /// The identifier's `name`.
    pub display_name: &'a str,
    /// The ACME account key that signed the challenge request.
    pub account_key: &'a Jwk,
}

/// The §6.4 checks on top of §6.1.
#[derive(Debug, Clone)]
pub struct StrictChecks {
    /// Expected `api_version`.
    pub api_version: u64,
    /// Expected proof `team` (absence included), or `None` to not compare it.
    pub team: Option<Option<String>>,
}

impl Default for StrictChecks {
    fn default() -> Self {
        Self {
            api_version: ACCESS_TOKEN_API_VERSION,
            team: None,
        }
    }
}

/// The ACME server's time and size rules.
#[derive(Debug, Clone)]
pub struct AcmePolicy {
    /// Leeway on `exp`, `nbf`, `iat` of both tokens.
    pub leeway: Duration,
    /// Both tokens' `exp` must be at most now plus this.
    pub max_lifetime: Duration,
    /// Access tokens (which carry the proof) longer than this are refused unread.
    pub max_token_len: usize,
    /// Accept a `cnf.kid` / proof `kid` hashed with the ciphersuite hash for P-384 and P-521
    /// account keys (§15.5).
    pub accept_suite_hash_thumbprint: bool,
    /// The §6.4 checks, if wanted.
    pub strict: Option<StrictChecks>,
}

impl Default for AcmePolicy {
    fn default() -> Self {
        Self {
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            max_token_len: MAX_ACCESS_TOKEN_LEN,
            accept_suite_hash_thumbprint: true,
            strict: None,
        }
    }
}

impl AcmePolicy {
    /// The default policy plus §6.4.
    pub fn strict() -> Self {
        Self {
            strict: Some(StrictChecks::default()),
            ..Self::default()
        }
    }
}

/// A validated `wire-dpop-01` access token.
#[derive(Debug, Clone)]
pub struct VerifiedAccessToken {
    access_token: Map<String, Value>,
    proof: Map<String, Value>,
}

impl VerifiedAccessToken {
    /// The access token's claims.
    pub fn access_token_claims(&self) -> &Map<String, Value> {
        &self.access_token
    }

    /// The proof's claims: what the ACME server stores on the order as its DPoP data (§6.1 step 11).
    pub fn proof_claims(&self) -> &Map<String, Value> {
        &self.proof
    }
}

/// Verifies a `wire-dpop-01` access token.
pub struct AccessTokenVerifier<'a> {
    keys: &'a BackendPublicKeys,
    policy: &'a AcmePolicy,
    replay: Option<&'a dyn JtiReplayCache>,
}

impl<'a> AccessTokenVerifier<'a> {
    /// A verifier trusting `keys` under `policy`.
    pub fn new(keys: &'a BackendPublicKeys, policy: &'a AcmePolicy) -> Self {
        Self {
            keys,
            policy,
            replay: None,
        }
    }

    /// Also refuses proofs whose (`htm`, `htu`, key, `jti`) the cache has seen.
    pub fn with_replay_cache(mut self, cache: &'a dyn JtiReplayCache) -> Self {
        self.replay = Some(cache);
        self
    }

    /// Runs §6.1 steps 2–9 (and §6.4 when strict) on `token`.
    pub fn verify(
        &self,
        token: &str,
        expect: &ChallengeExpectations<'_>,
        clock: &dyn Clock,
    ) -> Result<VerifiedAccessToken, AccessTokenError> {
        use AccessTokenError as E;
        let t = clock.now().unix_timestamp();
        let strict = self.policy.strict.as_ref();
        let account = AccountThumbprints::new(expect.account_key);
        let at = Token::AccessToken;

        // Steps 2–4: structure, key binding, signature with the configured key.
        let jws = parse(token, self.policy.max_token_len, at)?;
        let header = jws.header();
        if strict.is_some() && header.typ() != Some(ACCESS_TOKEN_TYP) {
            return Err(E::WrongType {
                token: at,
                got: header.typ().map(str::to_owned),
            });
        }
        // A `jwk` binds by its thumbprint; comparing the keys themselves is equivalent and
        // saves hashing on every request.
        let backend_key = match (header.kid(), header.jwk()) {
            (Some(kid), _) => self
                .keys
                .find_by_thumbprint(kid)
                .ok_or_else(|| E::UnknownBackendKey(kid.to_owned()))?,
            (None, Some(jwk)) => self
                .keys
                .find(jwk.public_key())
                .ok_or_else(|| E::UnknownBackendKey(jwk.thumbprint_sha256().as_str().to_owned()))?,
            (None, None) => return Err(E::UnknownBackendKey("(none named)".into())),
        };
        if strict.is_some() && header.jwk().map(Jwk::public_key) != Some(backend_key) {
            return Err(E::BackendJwkMismatch);
        }
        verify_signature(&jws, backend_key, at)?;
        let claims = Claims(jws.claims());
        let claim_type = |WrongType(claim)| E::ClaimType { token: at, claim };

        // Step 5: times with leeway; issuer and audience.
        self.check_times(claims, at, t, strict.is_some())?;
        let iss = claims.string("iss").map_err(claim_type)?;
        if iss != Some(expect.target) {
            return Err(E::WrongIssuer {
                expected: expect.target.to_owned(),
                got: iss.map(str::to_owned),
            });
        }
        if !claims
            .audience_contains(expect.challenge_url)
            .map_err(claim_type)?
        {
            return Err(E::WrongAudience { token: at });
        }

        // Step 6: chal, cnf.kid, client_id, scope (exp bound in check_times).
        let chal = non_empty(claims.string("chal").map_err(claim_type)?, at, "chal")?;
        let cnf_kid = jws
            .claims()
            .get("cnf")
            .and_then(Value::as_object)
            .and_then(|cnf| cnf.get("kid"))
            .and_then(Value::as_str);
        if !cnf_kid.is_some_and(|kid| self.is_account_thumbprint(&account, kid)) {
            return Err(E::CnfKidMismatch {
                got: cnf_kid.map(str::to_owned),
            });
        }
        let client_id = claims.string("client_id").map_err(claim_type)?;
        if client_id != Some(expect.client_id) {
            return Err(E::ClientIdMismatch {
                expected: expect.client_id.to_owned(),
                got: client_id.map(str::to_owned),
            });
        }
        let scope = claims.string("scope").map_err(claim_type)?;
        if scope != Some(ACCESS_TOKEN_SCOPE) {
            return Err(E::WrongScope {
                got: scope.map(str::to_owned),
            });
        }
        let at_nonce = claims.string("nonce").map_err(claim_type)?;
        if let Some(strict) = strict {
            let sub = claims.string("sub").map_err(claim_type)?;
            if sub != Some(expect.client_id) {
                return Err(E::SubjectMismatch {
                    expected: expect.client_id.to_owned(),
                    got: sub.map(str::to_owned),
                });
            }
            if claims.string("jti").map_err(claim_type)?.is_none() {
                return Err(E::MissingClaim {
                    token: at,
                    claim: "jti",
                });
            }
            let version = jws.claims().get("api_version");
            if version.and_then(Value::as_u64) != Some(strict.api_version) {
                return Err(E::ApiVersionMismatch {
                    expected: strict.api_version,
                    got: version.cloned(),
                });
            }
        }

        // Steps 7–8: the proof, signed by the account key.
        let proof_token = non_empty(claims.string("proof").map_err(claim_type)?, at, "proof")?;
        let pf = Token::Proof;
        let proof_jws = parse(
            proof_token,
            MAX_PROOF_LEN.min(self.policy.max_token_len),
            pf,
        )?;
        let proof_header = proof_jws.header();
        if strict.is_some() && proof_header.typ() != Some(PROOF_TYP) {
            return Err(E::WrongType {
                token: pf,
                got: proof_header.typ().map(str::to_owned),
            });
        }
        match (proof_header.kid(), proof_header.jwk()) {
            (Some(kid), _) if self.is_account_thumbprint(&account, kid) => {}
            (None, Some(jwk)) if jwk == expect.account_key => {}
            (Some(kid), _) => return Err(E::ProofKeyNotAccountKey(kid.to_owned())),
            (None, Some(jwk)) => {
                let named = jwk.thumbprint_sha256().as_str().to_owned();
                return Err(E::ProofKeyNotAccountKey(named));
            }
            (None, None) => return Err(E::ProofKeyNotAccountKey("(none named)".into())),
        }
        verify_signature(&proof_jws, expect.account_key.public_key(), pf)?;
        let proof = Claims(proof_jws.claims());
        let proof_type = |WrongType(claim)| E::ClaimType { token: pf, claim };

        // Step 9: the proof's claims.
        self.check_times(proof, pf, t, strict.is_some())?;
        if !proof
            .audience_contains(expect.challenge_url)
            .map_err(proof_type)?
        {
            return Err(E::WrongAudience { token: pf });
        }
        let htu = proof.string("htu").map_err(proof_type)?;
        if htu.is_none_or(str::is_empty) || htu != Some(expect.target) {
            return Err(E::ProofHtuMismatch {
                expected: expect.target.to_owned(),
                got: htu.map(str::to_owned),
            });
        }
        let sub = proof.string("sub").map_err(proof_type)?;
        if sub != Some(expect.client_id) {
            return Err(E::ProofSubjectMismatch {
                expected: expect.client_id.to_owned(),
                got: sub.map(str::to_owned),
            });
        }
        let proof_nonce = non_empty(proof.string("nonce").map_err(proof_type)?, pf, "nonce")?;
        if at_nonce != Some(proof_nonce) {
            return Err(E::NonceMismatch);
        }
        let proof_chal = non_empty(proof.string("chal").map_err(proof_type)?, pf, "chal")?;
        if proof_chal != chal || proof_chal != expect.challenge_token {
            return Err(E::ChallengeMismatch);
        }
        let handle = proof.string("handle").map_err(proof_type)?;
        if handle != Some(expect.handle) {
            return Err(E::HandleMismatch {
                expected: expect.handle.to_owned(),
                got: handle.map(str::to_owned),
            });
        }
        let name = proof.string("name").map_err(proof_type)?;
        if name != Some(expect.display_name) {
            return Err(E::DisplayNameMismatch {
                expected: expect.display_name.to_owned(),
                got: name.map(str::to_owned),
            });
        }
        if let Some(strict) = strict {
            let htm = proof.string("htm").map_err(proof_type)?;
            if htm != Some(PROOF_HTM) {
                return Err(E::ProofMethodMismatch {
                    got: htm.map(str::to_owned),
                });
            }
            if let Some(expected) = &strict.team {
                let team = proof.string("team").map_err(proof_type)?;
                if team != expected.as_deref() {
                    return Err(E::TeamMismatch {
                        expected: expected.clone(),
                        got: team.map(str::to_owned),
                    });
                }
            }
        }
        if let Some(cache) = self.replay {
            let jti = non_empty(proof.string("jti").map_err(proof_type)?, pf, "jti")?;
            let exp = proof.seconds("exp").ok().flatten().unwrap_or(t);
            let key = ReplayKey::new(PROOF_HTM, expect.target, &account.sha256, jti);
            let retain = exp.saturating_add(seconds(self.policy.leeway));
            if cache.record(key, retain, t) != ReplayOutcome::Fresh {
                return Err(E::Replayed);
            }
        }
        Ok(VerifiedAccessToken {
            access_token: jws.claims().clone(),
            proof: proof_jws.claims().clone(),
        })
    }

    /// go-jose time rules with leeway, `exp` required and bounded; `iat`/`nbf` required when strict.
    fn check_times(
        &self,
        claims: Claims<'_>,
        token: Token,
        t: i64,
        strict: bool,
    ) -> Result<(), AccessTokenError> {
        use AccessTokenError as E;
        let leeway = seconds(self.policy.leeway);
        let read = |claim: &'static str| {
            claims
                .seconds(claim)
                .map_err(|WrongType(claim)| E::ClaimType { token, claim })
        };
        let required = |claim: &'static str| E::MissingClaim { token, claim };
        let exp = read("exp")?.ok_or_else(|| required("exp"))?;
        if t.saturating_sub(leeway) > exp {
            return Err(E::Expired { token, exp, now: t });
        }
        match read("nbf")? {
            Some(nbf) if t.saturating_add(leeway) < nbf => {
                return Err(E::NotYetValid { token, nbf, now: t });
            }
            None if strict => return Err(required("nbf")),
            _ => {}
        }
        match read("iat")? {
            Some(iat) if t.saturating_add(leeway) < iat => {
                return Err(E::IssuedInFuture { token, iat, now: t });
            }
            None if strict => return Err(required("iat")),
            _ => {}
        }
        let max = t.saturating_add(seconds(self.policy.max_lifetime));
        if exp > max {
            return Err(E::ExpiresTooLate { token, exp, max });
        }
        Ok(())
    }

    /// The SHA-256 thumbprint, or for P-384 / P-521 keys (if allowed) the suite-hash one.
    fn is_account_thumbprint(&self, account: &AccountThumbprints<'_>, candidate: &str) -> bool {
        if account.sha256.as_str() == candidate {
            return true;
        }
        let hash = account.key.algorithm().hash();
        self.policy.accept_suite_hash_thumbprint
            && hash != HashAlgorithm::Sha256
            && account.key.thumbprint(hash).as_str() == candidate
    }
}

/// The account key with its SHA-256 thumbprint, computed once per verification.
struct AccountThumbprints<'a> {
    key: &'a Jwk,
    sha256: JwkThumbprint,
}

impl<'a> AccountThumbprints<'a> {
    fn new(key: &'a Jwk) -> Self {
        Self {
            key,
            sha256: key.thumbprint_sha256(),
        }
    }
}

fn parse(token: &str, max_len: usize, which: Token) -> Result<CompactJws<'_>, AccessTokenError> {
    CompactJws::parse(token, max_len).map_err(|source| AccessTokenError::Malformed {
        token: which,
        source,
    })
}

fn verify_signature(
    jws: &CompactJws<'_>,
    key: &PublicKey,
    token: Token,
) -> Result<(), AccessTokenError> {
    jws.verify(key).map_err(|e| match e {
        JwsError::AlgorithmMismatch { key, .. } => {
            AccessTokenError::AlgorithmMismatch { token, key }
        }
        _ => AccessTokenError::BadSignature { token },
    })
}

fn non_empty<'v>(
    value: Option<&'v str>,
    token: Token,
    claim: &'static str,
) -> Result<&'v str, AccessTokenError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or(AccessTokenError::MissingClaim { token, claim })
}
