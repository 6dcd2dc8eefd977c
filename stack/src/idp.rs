//! DEVELOPMENT-ONLY OpenID Provider. NEVER USE IT IN PRODUCTION: it logs in whoever is named
//! by `login_hint` without asking for any password, so anybody who can reach it can obtain an ID
//! token for any user of the backend.
//!
//! It exists so that the dev stack needs no external IdP. It implements the part of OpenID
//! Connect Core 1.0 a Wire client uses for `wire-oidc-01` (protocol doc §4 steps 10–12):
//!
//! - `GET /.well-known/openid-configuration` — discovery (OIDC Discovery 1.0 §4);
//! - `GET /jwks` — the ES256 signing key (a `file:` key through e2ei-signer);
//! - `GET /authorize` — authorization code flow (OIDC Core §3.1.2), public client `wireapp`,
//!   PKCE S256 required (RFC 7636), redirect URIs on loopback (RFC 8252 §7.3) or Wire's
//!   `wire://` scheme; the user is the backend user whose handle or e-mail is `login_hint`, or
//!   the dev admin without one. No form: it redirects at once with a code;
//! - `POST /token` — code for ID token (OIDC Core §3.1.3), checking the PKCE verifier. The ID
//!   token carries `iss`, `sub`, `aud` (= the client id), `exp`, `iat`, `nonce`, `name`,
//!   `preferred_username` = `wireapp://%40{handle}@{domain}`, `email`, and the `keyauth` and
//!   `acme_aud` values the `claims` request parameter asked for (as Wire configures Keycloak).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use e2ei_backend::AppState as BackendState;
use e2ei_core::jwk::Jwk;
use e2ei_signer::Signer;
use serde::Deserialize;
use serde_json::{Value, json};

/// The only OAuth client: Wire's public client id.
pub const CLIENT_ID: &str = "wireapp";

/// The redirect URI e2ei's non-interactive login uses with the dev IdP; nothing listens there
/// (`LoginHintLogin` reads the redirect instead of following it).
pub const NON_INTERACTIVE_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// How long a code may wait for its token request.
const CODE_TTL: Duration = Duration::from_secs(60);

/// How long an ID token is valid.
const ID_TOKEN_TTL: i64 = 300;

/// The dev IdP's state.
pub struct DevIdp {
    issuer: String,
    key: Signer,
    kid: String,
    backend: Arc<BackendState>,
    default_login: String,
    codes: Mutex<HashMap<String, PendingCode>>,
}

struct PendingCode {
    created: Instant,
    redirect_uri: String,
    code_challenge: String,
    claims: Value,
}

impl DevIdp {
    /// An IdP at `issuer` signing with `key` (P-256), whose users are `backend`'s; without a
    /// `login_hint` it logs in `default_login`.
    pub fn new(
        issuer: String,
        key: Signer,
        backend: Arc<BackendState>,
        default_login: String,
    ) -> Result<Self, String> {
        if key.algorithm() != e2ei_core::ciphersuite::KeyAlgorithm::P256 {
            return Err("the dev IdP signs ES256: it needs a P-256 key".into());
        }
        let kid = Jwk::from_public_key(key.public_key().clone())
            .thumbprint_sha256()
            .as_str()
            .to_owned();
        Ok(Self {
            issuer,
            key,
            kid,
            backend,
            default_login,
            codes: Mutex::new(HashMap::new()),
        })
    }

    /// The routes.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(self)
    }

    fn sign_jwt(&self, claims: &Value) -> Result<String, String> {
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid });
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = self.key.sign(input.as_bytes()).map_err(|e| e.to_string())?;
        Ok(format!("{input}.{}", B64.encode(signature.to_jws())))
    }
}

type Shared = Arc<DevIdp>;

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn discovery(State(idp): State<Shared>) -> Response {
    let base = idp.issuer.trim_end_matches('/');
    Json(json!({
        "issuer": idp.issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_parameter_supported": true,
        "claims_supported": ["sub", "name", "preferred_username", "email", "keyauth", "acme_aud"],
    }))
    .into_response()
}

async fn jwks(State(idp): State<Shared>) -> Response {
    let mut jwk = Jwk::from_public_key(idp.key.public_key().clone()).to_json_value();
    jwk["kid"] = json!(idp.kid);
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    Json(json!({ "keys": [jwk] })).into_response()
}

/// Loopback redirect URIs (any port, RFC 8252 §7.3) and Wire's app scheme are accepted: this
/// IdP only ever serves a developer's own clients.
fn redirect_allowed(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    match url.scheme() {
        "http" => matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        "wire" => true,
        _ => false,
    }
}

#[derive(Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    claims: Option<String>,
    login_hint: Option<String>,
}

async fn authorize(State(idp): State<Shared>, Query(p): Query<AuthorizeParams>) -> Response {
    // Until the client and redirect URI are known good, errors go to the browser, never to an
    // unchecked redirect URI (OIDC Core §3.1.2.6).
    if p.client_id.as_deref() != Some(CLIENT_ID) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "the dev IdP knows only the client `wireapp`",
        );
    }
    let Some(redirect_uri) = p.redirect_uri.filter(|u| redirect_allowed(u)) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri must be a loopback http URI or a wire:// URI",
        );
    };
    let Ok(mut back) = url::Url::parse(&redirect_uri) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri");
    };
    let fail = |mut back: url::Url, error: &str, description: &str| {
        {
            let mut q = back.query_pairs_mut();
            q.append_pair("error", error)
                .append_pair("error_description", description);
            if let Some(state) = &p.state {
                q.append_pair("state", state);
            }
            q.append_pair("iss", &idp.issuer);
        }
        redirect(&back)
    };
    if p.response_type.as_deref() != Some("code") {
        return fail(back, "unsupported_response_type", "only `code`");
    }
    if !p
        .scope
        .as_deref()
        .is_some_and(|s| s.split(' ').any(|s| s == "openid"))
    {
        return fail(back, "invalid_scope", "`openid` is required");
    }
    let (Some(challenge), Some("S256")) = (p.code_challenge, p.code_challenge_method.as_deref())
    else {
        return fail(back, "invalid_request", "PKCE with S256 is required");
    };
    let claims = match p.claims.as_deref().map(serde_json::from_str::<Value>) {
        None => Value::Null,
        Some(Ok(v)) => v,
        Some(Err(_)) => return fail(back, "invalid_request", "`claims` is not JSON"),
    };
    let login = p.login_hint.unwrap_or_else(|| idp.default_login.clone());
    let user = match e2ei_backend::users::find_user_by_login(&idp.backend, &login).await {
        Ok(Some(user)) if user.handle.is_some() => user,
        Ok(_) => {
            return fail(
                back,
                "access_denied",
                "no such dev user (or it has no handle)",
            );
        }
        Err(_) => return fail(back, "server_error", "looking up the user failed"),
    };
    let Ok(code) = random_token() else {
        return fail(back, "server_error", "no randomness");
    };
    tracing::info!(user = %login, "DEV IdP: logged in without a password (development only)");
    let pending = PendingCode {
        created: Instant::now(),
        redirect_uri,
        code_challenge: challenge,
        claims: json!({
            "user": user.id.to_string(),
            "nonce": p.nonce,
            "requested": claims,
        }),
    };
    if let Ok(mut codes) = idp.codes.lock() {
        codes.retain(|_, c| c.created.elapsed() < CODE_TTL);
        codes.insert(code.clone(), pending);
    }
    {
        let mut q = back.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(state) = &p.state {
            q.append_pair("state", state);
        }
        q.append_pair("iss", &idp.issuer);
    }
    redirect(&back)
}

fn redirect(to: &url::Url) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.as_str())]).into_response()
}

fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "no randomness".to_owned())?;
    Ok(B64.encode(bytes))
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    code_verifier: Option<String>,
}

/// The value the `claims` parameter requested for `name` in the ID token.
fn requested(claims: &Value, name: &str) -> Value {
    claims["id_token"][name]["value"].clone()
}

async fn token(State(idp): State<Shared>, Form(f): Form<TokenForm>) -> Response {
    let invalid_grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    if f.grant_type.as_deref() != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code",
        );
    }
    if f.client_id.as_deref() != Some(CLIENT_ID) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    }
    // A code is used once, whatever the outcome (RFC 6749 §4.1.2).
    let pending = f
        .code
        .as_deref()
        .and_then(|c| idp.codes.lock().ok().and_then(|mut m| m.remove(c)));
    let Some(pending) = pending.filter(|p| p.created.elapsed() < CODE_TTL) else {
        return invalid_grant("unknown, used or expired code");
    };
    if f.redirect_uri.as_deref() != Some(pending.redirect_uri.as_str()) {
        return invalid_grant("redirect_uri differs from the authorization request");
    }
    let Some(verifier) = f.code_verifier else {
        return invalid_grant("code_verifier is required");
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    if B64.encode(digest.as_ref()) != pending.code_challenge {
        return invalid_grant("PKCE verification failed");
    }
    let user = match pending.claims["user"]
        .as_str()
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
    {
        Some(id) => e2ei_backend::users::find_user(&idp.backend, id).await,
        None => Ok(None),
    };
    let Ok(Some(user)) = user else {
        return invalid_grant("the user is gone");
    };
    let Some(handle) = &user.handle else {
        return invalid_grant("the user has no handle");
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let requested_claims = &pending.claims["requested"];
    let mut claims = json!({
        "iss": idp.issuer,
        "sub": user.id.to_string(),
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + ID_TOKEN_TTL,
        "name": user.name,
        "preferred_username": format!(
            "wireapp://%40{handle}@{}",
            idp.backend.settings.domain.as_str()
        ),
    });
    if let Some(email) = &user.email {
        claims["email"] = json!(email);
    }
    if !pending.claims["nonce"].is_null() {
        claims["nonce"] = pending.claims["nonce"].clone();
    }
    for name in ["keyauth", "acme_aud"] {
        let value = requested(requested_claims, name);
        if value.is_string() {
            claims[name] = value;
        }
    }
    let Ok(id_token) = idp.sign_jwt(&claims) else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "signing failed",
        );
    };
    let Ok(access_token) = random_token() else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "no randomness",
        );
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_TTL,
            "id_token": id_token,
        })),
    )
        .into_response()
}
