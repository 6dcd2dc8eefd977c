//! The OIDC login behind `wire-oidc-01` (protocol doc §4 step 10, §2.6): an authorization-code
//! flow with PKCE (S256) and the OIDC `claims` request parameter asking the IdP to echo
//! `keyauth` and `acme_aud` into the ID token.
//!
//! - The challenge `target` is the IdP issuer; a query such as `?client_id=wireapp` only
//!   advertises the OAuth client id and is dropped before discovery.
//! - Discovery (`{issuer}/.well-known/openid-configuration`) must name the same issuer; when it
//!   lists PKCE methods they must include `S256`, and when it says the `claims` parameter is
//!   unsupported the login cannot work and stops early.
//! - The request: `response_type=code`, `client_id`, `redirect_uri`, `scope=openid profile`,
//!   random `state` and `nonce`, `code_challenge` + `code_challenge_method=S256`, and
//!   `claims={"id_token":{"keyauth":{"essential":true,"value":…},"acme_aud":{"essential":true,"value":…}}}`.
//! - How the user logs in is an [`IdpLogin`] strategy: [`LoginHintLogin`] follows the IdP's
//!   redirects itself with `login_hint` (IdPs that log the hinted user in without a form, such
//!   as the dev and test IdPs), [`LoopbackLogin`] shows the URL to a person and receives the
//!   redirect on a loopback listener (RFC 8252 §7.3).
//! - The answer must carry our `state` (and, when present, the RFC 9207 `iss` of the IdP); the
//!   code is exchanged with the `code_verifier` at the token endpoint for the `id_token`.
//!
//! The client does **not** verify the ID token: it only carries it to the authority, which
//! verifies signature, issuer, audience and the Wire claims (§6.3). That is also why there is
//! no OIDC library here — `openidconnect` would bring a second crypto stack (RustCrypto RSA and
//! P-256) into a workspace that has exactly one, aws-lc-rs, and what remains is a few HTTP
//! requests.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_signer::SecretString;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use crate::http::{HttpResponse, TransportError};

/// The OAuth client id Wire deployments register at the IdP when the challenge target does not
/// name one (§2.6).
pub const DEFAULT_CLIENT_ID: &str = "wireapp";

/// The scopes Wire's clients ask for (§4 step 10).
pub const SCOPE: &str = "openid profile";

/// Most redirects [`LoginHintLogin`] follows before giving up.
pub const MAX_REDIRECTS: usize = 20;

/// How long [`LoopbackLogin`] waits for the browser by default.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Why the OIDC login failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// No response.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The `wire-oidc-01` target is not an http(s) URL.
    #[error("the wire-oidc-01 target {target:?} is not an http(s) URL")]
    Target {
        /// The target.
        target: String,
    },
    /// The discovery document is missing or malformed.
    #[error("{url}: OIDC discovery failed: {reason}")]
    Discovery {
        /// The discovery URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Discovery names another issuer than the challenge target.
    #[error("discovery names issuer {found:?}, the challenge target is {expected:?}")]
    DiscoveryIssuer {
        /// The target without query.
        expected: String,
        /// What discovery says.
        found: String,
    },
    /// The IdP does not offer PKCE with S256.
    #[error("the IdP offers PKCE methods {offered:?}, not S256")]
    PkceUnsupported {
        /// What it offers.
        offered: Vec<String>,
    },
    /// The IdP says it does not support the `claims` request parameter, so `keyauth` and
    /// `acme_aud` cannot reach the ID token (§2.6, §10 item 12).
    #[error("the IdP does not support the OIDC claims request parameter")]
    ClaimsParameterUnsupported,
    /// A non-interactive login met a page that needs a person.
    #[error("{url}: the IdP asks for an interactive login (HTTP {status})")]
    InteractionRequired {
        /// Where.
        url: String,
        /// The status of the page.
        status: u16,
    },
    /// The IdP answered an error status during a non-interactive login.
    #[error("{url}: the IdP answered HTTP {status} during the login: {body}")]
    LoginFailed {
        /// Where.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// A redirect without a usable `Location`.
    #[error("{url}: redirect without a usable Location")]
    BadRedirect {
        /// Where.
        url: String,
    },
    /// More than [`MAX_REDIRECTS`] redirects.
    #[error("more than {MAX_REDIRECTS} redirects without reaching the redirect URI")]
    TooManyRedirects,
    /// The IdP answered the authorization request with an error (RFC 6749 §4.1.2.1).
    #[error("the IdP refused the login: {error}{}", .description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Denied {
        /// `error`.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// The answer's `state` is not ours (a forged or mixed-up redirect).
    #[error("the authorization answer carries another state")]
    StateMismatch,
    /// The answer's `iss` (RFC 9207) names another IdP.
    #[error("the authorization answer comes from issuer {found:?}, expected {expected:?}")]
    IssuerMismatch {
        /// The discovered issuer.
        expected: String,
        /// The answer's `iss`.
        found: String,
    },
    /// The answer arrived at another URL than the redirect URI.
    #[error("the authorization answer arrived at {found:?}, not at the redirect URI {expected:?}")]
    RedirectUriMismatch {
        /// The redirect URI.
        expected: String,
        /// Where it arrived.
        found: String,
    },
    /// The answer carries no `code`.
    #[error("the authorization answer carries no code")]
    MissingCode,
    /// The token endpoint refused the code.
    #[error("{url}: the token endpoint refused ({status}): {error}{}", .description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    TokenEndpoint {
        /// The token endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// `error`, or the start of the body.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// The token answer carries no `id_token`.
    #[error("{url}: the token answer carries no id_token")]
    MissingIdToken {
        /// The token endpoint.
        url: String,
    },
    /// The loopback listener failed.
    #[error("loopback redirect listener: {0}")]
    Loopback(#[source] std::io::Error),
    /// Nobody completed the login in time.
    #[error("the login was not completed within {0:?}")]
    Timeout(Duration),
    /// The system random generator failed.
    #[error("the random generator failed")]
    Randomness,
}

/// The challenge target split into the issuer and the advertised client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpTarget {
    /// The issuer: the target without query and fragment.
    pub issuer: String,
    /// `client_id` from the target's query, if any.
    pub client_id: Option<String>,
}

/// Splits a `wire-oidc-01` target (§2.4: `issuerUrl`, possibly `?client_id=wireapp`).
pub fn parse_target(target: &str) -> Result<IdpTarget, OidcError> {
    let bad = || OidcError::Target {
        target: target.to_owned(),
    };
    let url = Url::parse(target).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad());
    }
    let client_id = url
        .query_pairs()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned());
    let issuer = target.split(['?', '#']).next().unwrap_or(target).to_owned();
    Ok(IdpTarget { issuer, client_id })
}

/// The members of the discovery document the login uses (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    /// `issuer`.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `code_challenge_methods_supported` (RFC 8414).
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// `claims_parameter_supported`.
    #[serde(default)]
    pub claims_parameter_supported: Option<bool>,
}

/// The discovery URL of `issuer`.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Checks the discovery answer for `issuer`.
pub fn check_discovery(response: &HttpResponse, issuer: &str) -> Result<Discovery, OidcError> {
    let fail = |reason: String| OidcError::Discovery {
        url: response.url.clone(),
        reason,
    };
    if response.status != 200 {
        return Err(fail(format!("HTTP {}", response.status)));
    }
    let discovery: Discovery =
        serde_json::from_slice(&response.body).map_err(|e| fail(e.to_string()))?;
    if discovery.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(OidcError::DiscoveryIssuer {
            expected: issuer.to_owned(),
            found: discovery.issuer,
        });
    }
    for (name, endpoint) in [
        ("authorization_endpoint", &discovery.authorization_endpoint),
        ("token_endpoint", &discovery.token_endpoint),
    ] {
        if Url::parse(endpoint).is_err() {
            return Err(fail(format!("{name} {endpoint:?} is not a URL")));
        }
    }
    if let Some(methods) = &discovery.code_challenge_methods_supported {
        if !methods.iter().any(|m| m == "S256") {
            return Err(OidcError::PkceUnsupported {
                offered: methods.clone(),
            });
        }
    }
    if discovery.claims_parameter_supported == Some(false) {
        return Err(OidcError::ClaimsParameterUnsupported);
    }
    Ok(discovery)
}

fn random_b64(bytes: usize) -> Result<String, OidcError> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| OidcError::Randomness)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// PKCE (RFC 7636) with S256: a 256-bit verifier and its challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    verifier: SecretString,
    challenge: String,
}

impl Pkce {
    /// A fresh verifier.
    pub fn new() -> Result<Self, OidcError> {
        Ok(Self::from_verifier(random_b64(32)?))
    }

    /// The pair for a given verifier (RFC 7636 appendix B vector in the tests).
    pub fn from_verifier(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            verifier.as_bytes(),
        ));
        Self {
            verifier: SecretString::new(verifier),
            challenge,
        }
    }

    /// `code_challenge`.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// `code_verifier`, sent only to the token endpoint.
    pub fn verifier(&self) -> &SecretString {
        &self.verifier
    }
}

/// What the authorization request asks for.
#[derive(Debug, Clone)]
pub struct AuthorizationParams<'a> {
    /// The OAuth client id.
    pub client_id: &'a str,
    /// Where the IdP sends the browser back.
    pub redirect_uri: &'a str,
    /// `keyauth` to echo: `{oidc challenge token}.{account key thumbprint}`.
    pub keyauth: &'a str,
    /// `acme_aud` to echo: the `wire-oidc-01` challenge URL.
    pub acme_aud: &'a str,
    /// Anti-forgery `state`.
    pub state: &'a str,
    /// OIDC `nonce`.
    pub nonce: &'a str,
    /// PKCE.
    pub pkce: &'a Pkce,
}

/// The `claims` request parameter of §4 step 10.
pub fn claims_parameter(keyauth: &str, acme_aud: &str) -> String {
    json!({ "id_token": {
        "keyauth": { "essential": true, "value": keyauth },
        "acme_aud": { "essential": true, "value": acme_aud },
    }})
    .to_string()
}

/// The authorization request URL.
pub fn authorization_url(
    discovery: &Discovery,
    params: &AuthorizationParams<'_>,
) -> Result<Url, OidcError> {
    let mut url =
        Url::parse(&discovery.authorization_endpoint).map_err(|e| OidcError::Discovery {
            url: discovery_url(&discovery.issuer),
            reason: format!("authorization_endpoint: {e}"),
        })?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", params.client_id)
        .append_pair("redirect_uri", params.redirect_uri)
        .append_pair("scope", SCOPE)
        .append_pair("state", params.state)
        .append_pair("nonce", params.nonce)
        .append_pair("code_challenge", params.pkce.challenge())
        .append_pair("code_challenge_method", "S256")
        .append_pair("claims", &claims_parameter(params.keyauth, params.acme_aud));
    Ok(url)
}

fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// Reads the authorization answer (RFC 6749 §4.1.2): it must arrive at `redirect_uri`, carry
/// our `state`, come from `issuer` when it says (RFC 9207 `iss`), and carry a `code`.
pub fn parse_callback(
    callback: &Url,
    redirect_uri: &str,
    state: &str,
    issuer: &str,
) -> Result<SecretString, OidcError> {
    let expected = Url::parse(redirect_uri).map_err(|_| OidcError::RedirectUriMismatch {
        expected: redirect_uri.to_owned(),
        found: callback.to_string(),
    })?;
    if !same_endpoint(callback, &expected) {
        return Err(OidcError::RedirectUriMismatch {
            expected: redirect_uri.to_owned(),
            found: format!(
                "{}://{}{}",
                callback.scheme(),
                callback.host_str().unwrap_or_default(),
                callback.path()
            ),
        });
    }
    let pairs: HashMap<String, String> = callback.query_pairs().into_owned().collect();
    if pairs.get("state").map(String::as_str) != Some(state) {
        return Err(OidcError::StateMismatch);
    }
    if let Some(error) = pairs.get("error") {
        return Err(OidcError::Denied {
            error: error.clone(),
            description: pairs.get("error_description").cloned(),
        });
    }
    if let Some(iss) = pairs.get("iss") {
        if iss.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OidcError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: iss.clone(),
            });
        }
    }
    pairs
        .get("code")
        .filter(|c| !c.is_empty())
        .map(|c| SecretString::new(c.clone()))
        .ok_or(OidcError::MissingCode)
}

/// Reads the token answer (OIDC Core §3.1.3.3): the `id_token`.
pub fn parse_token_response(response: &HttpResponse) -> Result<SecretString, OidcError> {
    #[derive(Deserialize)]
    struct TokenOut {
        id_token: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let out: Option<TokenOut> = serde_json::from_slice(&response.body).ok();
    if response.status != 200 {
        let (error, description) = match out {
            Some(TokenOut {
                error: Some(error),
                error_description,
                ..
            }) => (error, error_description),
            _ => (response.body_excerpt(), None),
        };
        return Err(OidcError::TokenEndpoint {
            url: response.url.clone(),
            status: response.status,
            error,
            description,
        });
    }
    out.and_then(|o| o.id_token)
        .filter(|t| !t.is_empty())
        .map(SecretString::new)
        .ok_or_else(|| OidcError::MissingIdToken {
            url: response.url.clone(),
        })
}

/// How the user logs in at the IdP: given the authorization URL, return the URL the IdP sent
/// the browser back to (the redirect URI with `code` and `state`, or `error`).
pub trait IdpLogin: Send + Sync {
    /// The redirect URI registered at the IdP for this login.
    fn redirect_uri(&self) -> &str;

    /// Runs the login for `authorization_url`.
    fn authorize(
        &self,
        http: &reqwest::Client,
        authorization_url: &Url,
    ) -> impl Future<Output = Result<Url, OidcError>> + Send;
}

/// A non-interactive login: adds `login_hint` to the request and follows the IdP's redirects
/// (keeping its cookies, per origin) until they reach the redirect URI. It works with IdPs that
/// log the hinted user in without showing a form — the dev IdP and the test IdP (`tests/idp`)
/// — and fails with [`OidcError::InteractionRequired`] on any page that wants a person.
#[derive(Debug, Clone)]
pub struct LoginHintLogin {
    login_hint: String,
    redirect_uri: String,
}

impl LoginHintLogin {
    /// Logs in as `login_hint`; the IdP must have `redirect_uri` registered. Nothing needs to
    /// listen there: the redirect is read, not followed.
    pub fn new(login_hint: impl Into<String>, redirect_uri: impl Into<String>) -> Self {
        Self {
            login_hint: login_hint.into(),
            redirect_uri: redirect_uri.into(),
        }
    }
}

/// Cookies by origin; only what an IdP's login redirects need (name=value, deletion by an
/// empty value or `Max-Age=0`).
#[derive(Default)]
struct CookieJar(HashMap<String, BTreeMap<String, String>>);

impl CookieJar {
    fn origin(url: &Url) -> String {
        url.origin().ascii_serialization()
    }

    fn store(&mut self, url: &Url, response: &HttpResponse) {
        let jar = self.0.entry(Self::origin(url)).or_default();
        for set in response.header_values("set-cookie") {
            let mut attributes = set.split(';');
            let Some((name, value)) = attributes.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let deleted =
                value.is_empty() || attributes.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if deleted {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    fn header(&self, url: &Url) -> Option<String> {
        let jar = self.0.get(&Self::origin(url))?;
        (!jar.is_empty()).then(|| {
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl IdpLogin for LoginHintLogin {
    fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    async fn authorize(
        &self,
        http: &reqwest::Client,
        authorization_url: &Url,
    ) -> Result<Url, OidcError> {
        let redirect =
            Url::parse(&self.redirect_uri).map_err(|_| OidcError::RedirectUriMismatch {
                expected: self.redirect_uri.clone(),
                found: String::new(),
            })?;
        let mut next = authorization_url.clone();
        next.query_pairs_mut()
            .append_pair("login_hint", &self.login_hint);
        let mut jar = CookieJar::default();
        for _ in 0..MAX_REDIRECTS {
            let mut request = http.get(next.as_str());
            if let Some(cookies) = jar.header(&next) {
                request = request.header("cookie", cookies);
            }
            let response = HttpResponse::send("GET", next.as_str(), request).await?;
            jar.store(&next, &response);
            if response.is_success() {
                return Err(OidcError::InteractionRequired {
                    url: next.to_string(),
                    status: response.status,
                });
            }
            if !(300..400).contains(&response.status) {
                return Err(OidcError::LoginFailed {
                    url: next.to_string(),
                    status: response.status,
                    body: response.body_excerpt(),
                });
            }
            let location = response
                .header("location")
                .and_then(|l| next.join(l).ok())
                .ok_or_else(|| OidcError::BadRedirect {
                    url: next.to_string(),
                })?;
            if same_endpoint(&location, &redirect) {
                return Ok(location);
            }
            next = location;
        }
        Err(OidcError::TooManyRedirects)
    }
}

/// Shows the authorization URL to the person logging in.
pub type Presenter = Arc<dyn Fn(&Url) + Send + Sync>;

/// An interactive login: shows the authorization URL (by default on stderr) and waits for the
/// browser's redirect on a loopback listener, `http://127.0.0.1:{port}/callback` (RFC 8252
/// §7.3; the IdP must allow loopback redirect URIs on any port, as native-app clients do).
/// Requests to other paths are answered 404 and ignored.
pub struct LoopbackLogin {
    listener: TcpListener,
    redirect_uri: String,
    presenter: Presenter,
    timeout: Duration,
}

impl std::fmt::Debug for LoopbackLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackLogin")
            .field("redirect_uri", &self.redirect_uri)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The path the loopback listener expects the redirect on.
pub const LOOPBACK_PATH: &str = "/callback";

/// Largest request head the loopback listener reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

impl LoopbackLogin {
    /// Listens on `127.0.0.1` on a free port.
    pub async fn bind() -> Result<Self, OidcError> {
        Self::bind_to(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Listens on `address` (a loopback address).
    pub async fn bind_to(address: SocketAddr) -> Result<Self, OidcError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(OidcError::Loopback)?;
        let local = listener.local_addr().map_err(OidcError::Loopback)?;
        Ok(Self {
            listener,
            redirect_uri: format!("http://{local}{LOOPBACK_PATH}"),
            presenter: Arc::new(|url: &Url| {
                eprintln!("Open this URL in a browser to log in at your identity provider:\n{url}");
            }),
            timeout: DEFAULT_LOGIN_TIMEOUT,
        })
    }

    /// Shows the authorization URL with `presenter` instead of printing it.
    pub fn with_presenter(mut self, presenter: Presenter) -> Self {
        self.presenter = presenter;
        self
    }

    /// Waits at most `timeout` for the browser.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reads one request head from `stream`; returns the request target of a `GET`.
    async fn read_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
        let mut head = Vec::new();
        let mut buf = [0u8; 2048];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            if head.len() > MAX_REQUEST_HEAD {
                return None;
            }
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = head.split(|b| *b == b'\r').next()?;
        let line = std::str::from_utf8(line).ok()?;
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("GET"), Some(target), Some(version)) if version.starts_with("HTTP/1.") => {
                Some(target.to_owned())
            }
            _ => None,
        }
    }

    async fn answer(stream: &mut tokio::net::TcpStream, status: &str, text: &str) {
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\ncache-control: no-store\r\n\r\n{text}",
            text.len()
        );
        // The browser's view of the outcome is a courtesy; the login result does not depend
        // on it being delivered.
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    async fn wait_for_redirect(&self) -> Result<Url, OidcError> {
        loop {
            let (mut stream, _) = self.listener.accept().await.map_err(OidcError::Loopback)?;
            let target =
                tokio::time::timeout(Duration::from_secs(10), Self::read_target(&mut stream))
                    .await
                    .ok()
                    .flatten();
            let Some(target) = target else {
                Self::answer(&mut stream, "400 Bad Request", "bad request").await;
                continue;
            };
            let url = Url::parse(&self.redirect_uri)
                .and_then(|base| base.join(&target))
                .map_err(|e| OidcError::Loopback(std::io::Error::other(e)))?;
            if url.path() != LOOPBACK_PATH {
                Self::answer(&mut stream, "404 Not Found", "not found").await;
                continue;
            }
            Self::answer(
                &mut stream,
                "200 OK",
                "Login complete. You can close this window and return to the application.",
            )
            .await;
            return Ok(url);
        }
    }
}

impl IdpLogin for LoopbackLogin {
    fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    async fn authorize(
        &self,
        _http: &reqwest::Client,
        authorization_url: &Url,
    ) -> Result<Url, OidcError> {
        (self.presenter)(authorization_url);
        tokio::time::timeout(self.timeout, self.wait_for_redirect())
            .await
            .map_err(|_| OidcError::Timeout(self.timeout))?
    }
}

/// What the login must put into the ID token.
#[derive(Debug, Clone, Copy)]
pub struct IdTokenRequest<'a> {
    /// The `wire-oidc-01` target.
    pub target: &'a str,
    /// The OAuth client id, overriding the target's `client_id` and [`DEFAULT_CLIENT_ID`].
    pub client_id: Option<&'a str>,
    /// `keyauth`.
    pub keyauth: &'a str,
    /// `acme_aud`.
    pub acme_aud: &'a str,
}

/// Discovery, the authorization request through `login`, and the code exchange: the ID token
/// (§4 step 10).
pub async fn obtain_id_token<L: IdpLogin>(
    http: &reqwest::Client,
    request: &IdTokenRequest<'_>,
    login: &L,
) -> Result<SecretString, OidcError> {
    let target = parse_target(request.target)?;
    let client_id = request
        .client_id
        .or(target.client_id.as_deref())
        .unwrap_or(DEFAULT_CLIENT_ID);
    let url = discovery_url(&target.issuer);
    let discovery = check_discovery(
        &HttpResponse::send("GET", &url, http.get(&url)).await?,
        &target.issuer,
    )?;
    let pkce = Pkce::new()?;
    let state = random_b64(16)?;
    let nonce = random_b64(16)?;
    let params = AuthorizationParams {
        client_id,
        redirect_uri: login.redirect_uri(),
        keyauth: request.keyauth,
        acme_aud: request.acme_aud,
        state: &state,
        nonce: &nonce,
        pkce: &pkce,
    };
    let authorization = authorization_url(&discovery, &params)?;
    let callback = login.authorize(http, &authorization).await?;
    let code = parse_callback(&callback, login.redirect_uri(), &state, &discovery.issuer)?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("redirect_uri", login.redirect_uri()),
        ("client_id", client_id),
        ("code_verifier", pkce.verifier().expose()),
    ];
    let token_url = discovery.token_endpoint.as_str();
    let response = HttpResponse::send(
        "POST",
        token_url,
        http.post(token_url)
            .header("accept", "application/json")
            .form(&form),
    )
    .await?;
    parse_token_response(&response)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn target_query_only_advertises_the_client_id() {
        let t = parse_target("https://idp.example.com/realms/master?client_id=wireapp").unwrap();
        assert_eq!(t.issuer, "https://idp.example.com/realms/master");
        assert_eq!(t.client_id.as_deref(), Some("wireapp"));
        let t = parse_target("http://127.0.0.1:4000").unwrap();
        assert_eq!(t.issuer, "http://127.0.0.1:4000");
        assert_eq!(t.client_id, None);
        assert!(matches!(
            parse_target("wireapp://x@y"),
            Err(OidcError::Target { .. })
        ));
    }

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(
            pkce.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    fn discovery() -> Discovery {
        Discovery {
            issuer: "https://idp.example.com".into(),
            authorization_endpoint: "https://idp.example.com/auth".into(),
            token_endpoint: "https://idp.example.com/token".into(),
            code_challenge_methods_supported: Some(vec!["S256".into()]),
            claims_parameter_supported: Some(true),
        }
    }

    #[test]
    fn authorization_url_asks_for_keyauth_and_acme_aud() {
        let pkce = Pkce::from_verifier("v".repeat(43));
        let url = authorization_url(
            &discovery(),
            &AuthorizationParams {
                client_id: "wireapp",
                redirect_uri: "http://127.0.0.1:1/callback",
                keyauth: "tok.thumb",
                acme_aud: "https://acme/chall/x",
                state: "s",
                nonce: "n",
                pkce: &pkce,
            },
        )
        .unwrap();
        let pairs: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["scope"], "openid profile");
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(pairs["code_challenge"], pkce.challenge());
        assert_eq!(
            pairs["claims"],
            r#"{"id_token":{"keyauth":{"essential":true,"value":"tok.thumb"},"acme_aud":{"essential":true,"value":"https://acme/chall/x"}}}"#
        );
        assert!(!pairs.contains_key("code_verifier"));
    }

    #[test]
    fn discovery_must_match_the_issuer_and_offer_s256_and_claims() {
        let check = |d: &Discovery| {
            let body = serde_json::json!({
                "issuer": d.issuer, "authorization_endpoint": d.authorization_endpoint,
                "token_endpoint": d.token_endpoint,
                "code_challenge_methods_supported": d.code_challenge_methods_supported,
                "claims_parameter_supported": d.claims_parameter_supported,
            });
            check_discovery(
                &HttpResponse::new("https://idp/d", 200, [("a", "b")], body.to_string()),
                "https://idp.example.com",
            )
        };
        assert!(check(&discovery()).is_ok());
        let mut d = discovery();
        d.issuer = "https://evil.example.com".into();
        assert!(matches!(check(&d), Err(OidcError::DiscoveryIssuer { .. })));
        let mut d = discovery();
        d.code_challenge_methods_supported = Some(vec!["plain".into()]);
        assert!(matches!(check(&d), Err(OidcError::PkceUnsupported { .. })));
        let mut d = discovery();
        d.claims_parameter_supported = Some(false);
        assert!(matches!(
            check(&d),
            Err(OidcError::ClaimsParameterUnsupported)
        ));
    }

    #[test]
    fn callback_needs_our_state_the_issuer_and_a_code() {
        let redirect = "http://127.0.0.1:5000/callback";
        let parse = |query: &str| {
            parse_callback(
                &Url::parse(&format!("{redirect}?{query}")).unwrap(),
                redirect,
                "s1",
                "https://idp.example.com",
            )
        };
        assert_eq!(
            parse("code=c&state=s1&iss=https%3A%2F%2Fidp.example.com")
                .unwrap()
                .expose(),
            "c"
        );
        assert!(matches!(
            parse("code=c&state=s2"),
            Err(OidcError::StateMismatch)
        ));
        assert!(matches!(
            parse("code=c&state=s1&iss=https%3A%2F%2Fevil"),
            Err(OidcError::IssuerMismatch { .. })
        ));
        assert!(matches!(parse("state=s1"), Err(OidcError::MissingCode)));
        assert!(matches!(
            parse("state=s1&error=access_denied&error_description=no"),
            Err(OidcError::Denied { .. })
        ));
        let elsewhere = parse_callback(
            &Url::parse("http://127.0.0.1:5001/callback?code=c&state=s1").unwrap(),
            redirect,
            "s1",
            "https://idp.example.com",
        );
        assert!(matches!(
            elsewhere,
            Err(OidcError::RedirectUriMismatch { .. })
        ));
    }

    #[test]
    fn token_answer_errors_are_typed() {
        let r = HttpResponse::new(
            "https://idp/token",
            400,
            [("content-type", "application/json")],
            r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        );
        match parse_token_response(&r).unwrap_err() {
            OidcError::TokenEndpoint { error, status, .. } => {
                assert_eq!(error, "invalid_grant");
                assert_eq!(status, 400);
            }
            other => panic!("{other:?}"),
        }
        let r = HttpResponse::new(
            "https://idp/token",
            200,
            [("a", "b")],
            r#"{"access_token":"x"}"#,
        );
        assert!(matches!(
            parse_token_response(&r),
            Err(OidcError::MissingIdToken { .. })
        ));
    }

    #[tokio::test]
    async fn loopback_login_answers_only_the_callback_path() {
        let login = LoopbackLogin::bind()
            .await
            .unwrap()
            .with_presenter(Arc::new(|_: &Url| {}))
            .with_timeout(Duration::from_secs(10));
        let redirect = login.redirect_uri().to_owned();
        let base = redirect.trim_end_matches(LOOPBACK_PATH).to_owned();
        let browser = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let favicon = http
                .get(format!("{base}/favicon.ico"))
                .send()
                .await
                .unwrap();
            assert_eq!(favicon.status(), 404);
            let done = http
                .get(format!("{base}{LOOPBACK_PATH}?code=abc&state=xyz"))
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), 200);
        });
        let url = login
            .authorize(
                &reqwest::Client::new(),
                &Url::parse("https://idp/auth").unwrap(),
            )
            .await
            .unwrap();
        browser.await.unwrap();
        assert_eq!(
            parse_callback(&url, &redirect, "xyz", "https://idp")
                .unwrap()
                .expose(),
            "abc"
        );
    }

    #[tokio::test]
    async fn loopback_login_times_out() {
        let login = LoopbackLogin::bind()
            .await
            .unwrap()
            .with_presenter(Arc::new(|_: &Url| {}))
            .with_timeout(Duration::from_millis(50));
        let r = login
            .authorize(
                &reqwest::Client::new(),
                &Url::parse("https://idp/auth").unwrap(),
            )
            .await;
        assert!(matches!(r, Err(OidcError::Timeout(_))));
    }
}
