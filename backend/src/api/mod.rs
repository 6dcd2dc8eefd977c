//! The HTTP edge: routes, extractors that reject in Wire's error format, response helpers.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::app::SharedState;
use crate::error::ApiError;
use crate::zauth::{TokenError, TokenType};

mod auth;
mod clients;
mod crl_proxy;
mod e2ei;

pub use e2ei::public_keys_json;
mod notifications;
mod scim;
mod teams;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;

/// All routes.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/register", post(auth::register))
        .route("/login", post(auth::login))
        .route("/access", post(auth::refresh))
        .route("/access/logout", post(auth::logout))
        .route("/self", get(auth::get_self).put(auth::put_self))
        .route("/self/handle", put(auth::put_handle))
        .route("/clients", post(clients::register).get(clients::list))
        .route(
            "/clients/{cid}",
            get(clients::get_one).delete(clients::delete),
        )
        .route("/clients/{cid}/nonce", get(e2ei::nonce).head(e2ei::nonce))
        .route("/clients/{cid}/access-token", post(e2ei::access_token))
        .route(
            "/teams/{tid}/members",
            get(teams::members).post(teams::add_member),
        )
        .route(
            "/teams/{tid}/features/mlsE2EId",
            get(teams::get_e2ei_feature).put(teams::put_e2ei_feature),
        )
        .route("/feature-configs", get(teams::feature_configs))
        .route("/notifications", get(notifications::list))
        .route("/await", get(notifications::await_notifications))
        .route("/dpop-keys", get(e2ei::public_keys))
        .route(
            "/proxyCrl/{host}",
            get(crl_proxy::proxy)
                .options(crl_proxy::preflight)
                .layer(axum::middleware::map_response(crl_proxy::cors)),
        )
        .route(
            "/proxyCrl/{host}/{*path}",
            get(crl_proxy::proxy_path)
                .options(crl_proxy::preflight)
                .layer(axum::middleware::map_response(crl_proxy::cors)),
        )
        .route(
            "/scim/auth-tokens",
            post(scim::create_token)
                .get(scim::list_tokens)
                .delete(scim::delete_token),
        )
        // SCIM reads its own bodies (a larger limit, SCIM errors).
        .route(
            "/scim/v2",
            any(scim::scim).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/scim/v2/{*path}",
            any(scim::scim).layer(DefaultBodyLimit::disable()),
        )
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("no-endpoint", "no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.registry.clone(),
            e2ei_service::metrics::track,
        ))
        .with_state(state)
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<SharedState>,
) -> impl axum::response::IntoResponse {
    let mut text = state.metrics.render();
    // Read at scrape time: revocations waiting for the authority (shared by all replicas).
    match crate::revocations::pending(&state).await {
        Ok(n) => text.push_str(&format!(
            "# HELP e2ei_backend_revocations_pending Device revocations not yet confirmed by the identity authority.\n\
             # TYPE e2ei_backend_revocations_pending gauge\n\
             e2ei_backend_revocations_pending {n}\n"
        )),
        Err(e) => tracing::warn!(label = e.label(), "counting pending revocations"),
    }
    ([("content-type", "text/plain; version=0.0.4")], text)
}

/// A JSON body; rejections become Wire errors (415 wrong type, 413 too large, 400 otherwise).
pub struct WireJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for WireJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "expected Content-Type: application/json",
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request-too-large",
                format!("request bodies are limited to {MAX_BODY} bytes"),
            )),
            Err(e) => Err(ApiError::bad_request("bad-request", e.body_text())),
        }
    }
}

/// The caller, from a valid access token (`Authorization: Bearer …`).
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The user.
    pub user: Uuid,
    /// The token's connection number.
    pub connection: u64,
    /// The client the token is bound to, if any.
    pub client: Option<String>,
}

impl FromRequestParts<SharedState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing-auth", "an access token is required"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("invalid-token", "expected a Bearer access token")
            })?;
        let token = state
            .zauth
            .verify(token.trim(), TokenType::Access, state.now())
            .map_err(token_error)?;
        Ok(Self {
            user: token.user,
            connection: token.nonce,
            client: token.client,
        })
    }
}

/// Token refusals: expired tokens are told apart so clients know to refresh.
pub(crate) fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Expired => ApiError::unauthorized("token-expired", "the token has expired"),
        TokenError::WrongType => ApiError::unauthorized("invalid-token", "wrong token type"),
        TokenError::UnknownKey(_) => ApiError::unauthorized("invalid-token", "unknown token key"),
        TokenError::BadSignature | TokenError::Malformed | TokenError::Version => {
            ApiError::unauthorized("invalid-token", "invalid token")
        }
    }
}
