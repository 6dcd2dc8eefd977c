//! The client DPoP proof (protocol doc §5.2): built by the client, signed by its ACME account
//! key, sent to the backend in the `DPoP` header of `POST /clients/{cid}/access-token`.

use std::time::Duration;

use e2ei_core::clock::Clock;
use e2ei_core::id::{ClientId, DisplayName, QualifiedHandle, TeamId};
use e2ei_signer::{Signer, SignerError};
use serde_json::{Map, Value, json};

use crate::jws::{header_jwk, sign_compact};
use crate::url::logical_url;

/// `typ` of a DPoP proof (exact, case-sensitive).
pub const PROOF_TYP: &str = "dpop+jwt";

/// The only `htm` Wire uses.
pub const PROOF_HTM: &str = "POST";

/// Proof lifetime Wire's apps use (kalium, iOS): short, so that it stays inside the backend's
/// expiration bound even with some clock drift (§6.2).
pub const DEFAULT_PROOF_LIFETIME: Duration = Duration::from_secs(30);

/// How far Wire clients and backends back-date `iat` / `nbf` against clock drift (§5.2).
pub const BACKDATE: Duration = Duration::from_secs(3600);

/// The claims a proof carries (§5.2); the backend copies any others into the access token.
pub const PROOF_CLAIMS: [&str; 13] = [
    "iat", "exp", "nbf", "sub", "aud", "jti", "nonce", "htm", "htu", "chal", "handle", "team",
    "name",
];

/// What a proof asserts.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The device (`sub`).
    pub client_id: &'a ClientId,
    /// The user's handle (`handle`).
    pub handle: &'a QualifiedHandle,
    /// The user's display name (`name`).
    pub display_name: &'a DisplayName,
    /// The user's team (`team`), if any.
    pub team: Option<&'a TeamId>,
    /// The nonce the backend handed out for this client (`nonce`).
    pub backend_nonce: &'a str,
    /// The `wire-dpop-01` challenge's `target`: the backend's logical access-token URL (`htu`).
    pub htu: &'a str,
    /// The `wire-dpop-01` challenge URL (`aud`).
    pub challenge_url: &'a str,
    /// The `wire-dpop-01` challenge token (`chal`).
    pub challenge_token: &'a str,
}

/// How a proof's times are set.
#[derive(Debug, Clone, Copy)]
pub struct ProofOptions {
    /// `exp` is the real now plus this.
    pub lifetime: Duration,
    /// `iat` and `nbf` are now minus this.
    pub backdate: Duration,
}

impl Default for ProofOptions {
    fn default() -> Self {
        Self {
            lifetime: DEFAULT_PROOF_LIFETIME,
            backdate: BACKDATE,
        }
    }
}

/// Why a proof could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `htu` is not an absolute URL without query or fragment.
    #[error("htu `{0}` is not an absolute URL without query or fragment")]
    InvalidHtu(String),
    /// A required input is empty.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// The account key failed to sign.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// Builds and signs a DPoP proof with the ACME account key.
pub fn build_proof(
    account_key: &Signer,
    request: &ProofRequest<'_>,
    options: &ProofOptions,
    clock: &dyn Clock,
) -> Result<String, BuildError> {
    for (name, value) in [
        ("backend_nonce", request.backend_nonce),
        ("challenge_url", request.challenge_url),
        ("challenge_token", request.challenge_token),
    ] {
        if value.is_empty() {
            return Err(BuildError::Empty(name));
        }
    }
    if logical_url(request.htu).is_none() {
        return Err(BuildError::InvalidHtu(request.htu.to_owned()));
    }
    let now = clock.now().unix_timestamp();
    let issued = now.saturating_sub(seconds(options.backdate));
    let mut claims = Map::new();
    let mut put = |name: &str, value: Value| {
        claims.insert(name.to_owned(), value);
    };
    put("iat", json!(issued));
    put("exp", json!(now.saturating_add(seconds(options.lifetime))));
    put("nbf", json!(issued));
    put("sub", json!(request.client_id.to_uri()));
    put("aud", json!(request.challenge_url));
    put("jti", json!(crate::random_uuid().to_string()));
    put("nonce", json!(request.backend_nonce));
    put("htm", json!(PROOF_HTM));
    put("htu", json!(request.htu));
    put("chal", json!(request.challenge_token));
    put("handle", json!(request.handle.to_uri()));
    if let Some(team) = request.team {
        put("team", json!(team.to_string()));
    }
    put("name", json!(request.display_name.as_str()));

    let mut header = Map::new();
    header.insert("typ".into(), json!(PROOF_TYP));
    header.insert("jwk".into(), header_jwk(account_key.public_key()));
    Ok(sign_compact(account_key, &header, &claims)?)
}

pub(crate) fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
