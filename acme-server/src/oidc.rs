//! The IdP as the authority sees it: discovery, the JWKS cached and refetched once when a token
//! names an unknown key, and `wire-oidc-01` validation through e2ei-acme's checks (protocol doc
//! §6.3). When the IdP cannot be reached the request fails with `serverInternal` and the
//! challenge stays pending, as with step-ca.

use std::sync::Arc;
use std::time::Duration;

use e2ei_acme::oidc::{
    ClaimTransform, IdTokenError, IdTokenExpectations, IdpKeys, WireOidcExpectations,
    check_wire_claims, verify_id_token,
};
use e2ei_acme::{Problem, ProblemType};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

/// The IdP of a Wire provisioner.
#[derive(Debug, Clone)]
pub struct Idp {
    /// The issuer URL as configured, which is the `wire-oidc-01` target; its query (such as
    /// `?client_id=wireapp`) only advertises the OAuth client id to clients (§2.4).
    pub target: String,
    /// The expected `iss`: the issuer URL without query or fragment.
    pub issuer: String,
    /// The OAuth client id ID tokens are issued to.
    pub client_id: String,
    /// Accepted ID-token algorithms (empty: every algorithm e2ei-acme supports).
    pub algorithms: Vec<String>,
    /// How the claims become the display name and handle URI.
    pub transform: ClaimTransform,
    /// Base of OIDC discovery, when not the issuer.
    pub discovery_url: Option<String>,
    /// The JWKS URL, when configured instead of discovered.
    pub jwks_url: Option<String>,
    http: reqwest::Client,
    keys: Arc<RwLock<Option<IdpKeys>>>,
}

/// Why the IdP could not be consulted (a server-side failure, not the client's).
#[derive(Debug, thiserror::Error)]
#[error("identity provider {issuer}: {reason}")]
pub struct IdpUnavailable {
    issuer: String,
    reason: String,
}

impl Idp {
    /// An IdP at `issuer_url` (the challenge target; query and fragment are dropped for the
    /// expected `iss`) for `client_id`.
    pub fn new(issuer_url: &str, client_id: &str, transform: ClaimTransform) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let issuer = issuer_url
            .split(['?', '#'])
            .next()
            .unwrap_or(issuer_url)
            .to_owned();
        Self {
            target: issuer_url.to_owned(),
            issuer,
            client_id: client_id.to_owned(),
            algorithms: Vec::new(),
            transform,
            discovery_url: None,
            jwks_url: None,
            http,
            keys: Arc::new(RwLock::new(None)),
        }
    }

    /// Accepts only `algorithms` for ID tokens.
    pub fn with_algorithms(mut self, algorithms: Vec<String>) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// Discovers at `discovery_url` instead of the issuer, or takes the keys from `jwks_url`
    /// without discovery.
    pub fn with_discovery(
        mut self,
        discovery_url: Option<String>,
        jwks_url: Option<String>,
    ) -> Self {
        self.discovery_url = discovery_url;
        self.jwks_url = jwks_url;
        self
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> IdpUnavailable {
        IdpUnavailable {
            issuer: self.issuer.clone(),
            reason: reason.to_string(),
        }
    }

    async fn get_json(&self, url: &str) -> Result<Value, IdpUnavailable> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| self.unavailable(e))?;
        if !response.status().is_success() {
            return Err(self.unavailable(format!("{url}: HTTP {}", response.status())));
        }
        response
            .json()
            .await
            .map_err(|e| self.unavailable(format!("{url}: {e}")))
    }

    /// Fetches discovery (unless a JWKS URL is configured) and the JWKS, replacing the cached
    /// keys.
    pub async fn refresh(&self) -> Result<IdpKeys, IdpUnavailable> {
        let jwks_uri = match &self.jwks_url {
            Some(url) => url.clone(),
            None => {
                let base = self.discovery_url.as_deref().unwrap_or(&self.issuer);
                let discovery = self
                    .get_json(&format!(
                        "{}/.well-known/openid-configuration",
                        base.trim_end_matches('/')
                    ))
                    .await?;
                if discovery.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
                    return Err(self.unavailable("discovery names another issuer"));
                }
                discovery
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.unavailable("discovery has no jwks_uri"))?
                    .to_owned()
            }
        };
        let keys = IdpKeys::from_jwks(&self.get_json(&jwks_uri).await?)
            .map_err(|e| self.unavailable(e))?;
        *self.keys.write().await = Some(keys.clone());
        Ok(keys)
    }

    async fn cached_keys(&self) -> Result<IdpKeys, IdpUnavailable> {
        if let Some(keys) = self.keys.read().await.clone() {
            return Ok(keys);
        }
        self.refresh().await
    }

    /// `wire-oidc-01`: `Ok(Ok(claims))` to store on the order, `Ok(Err(problem))` for an invalid
    /// challenge, `Err` when the IdP cannot be consulted.
    pub async fn validate(
        &self,
        id_token: &str,
        wire: &WireOidcExpectations<'_>,
        now: i64,
    ) -> Result<Result<Map<String, Value>, Problem>, IdpUnavailable> {
        let expect = IdTokenExpectations {
            issuer: &self.issuer,
            client_id: &self.client_id,
            algorithms: &self.algorithms,
        };
        let mut keys = self.cached_keys().await?;
        let mut verified = verify_id_token(id_token, &keys, &expect, now);
        if matches!(verified, Err(IdTokenError::UnknownKey(_))) {
            // The IdP may have rotated its keys: look once more.
            keys = self.refresh().await?;
            verified = verify_id_token(id_token, &keys, &expect, now);
        }
        let rejected = |detail: String| Problem::new(ProblemType::RejectedIdentifier, detail);
        let claims = match verified {
            Ok(claims) => claims,
            Err(e) => {
                return Ok(Err(rejected(format!(
                    "error verifying ID token signature: {e}"
                ))));
            }
        };
        Ok(check_wire_claims(&claims, wire, &self.transform).map_err(|e| rejected(e.to_string())))
    }
}

/// The `wireapp-user` identifier's strings.
pub fn user_identifier(value: &str) -> Option<(String, String, String)> {
    let map: Map<String, Value> = serde_json::from_str(value).ok()?;
    let get = |n: &str| map.get(n).and_then(Value::as_str).map(str::to_owned);
    Some((get("name")?, get("handle")?, get("domain")?))
}
