//! Registration, login and tokens (whitepaper "Registration", "Authentication & Authorization").
//!
//! - `POST /register` — a user, optionally creating a team they own; answers a persistent cookie.
//! - `POST /login[?persist=true]` — password login by e-mail or handle; answers an access token
//!   and a cookie (`zuid`, persistent 1 year or session 1 week).
//! - `POST /access` — a cookie (and optionally the expiring access token) → a new access token;
//!   cookies older than the renewal age are replaced by a fresh one.
//! - `POST /access/logout` — revokes the cookie.
//! - `GET /self` — the caller.
//! - `PUT /self` `{"name"}`, `PUT /self/handle` `{"handle"}` — the caller's display name and
//!   handle; refused (`managed-by-scim`) for SCIM-managed users and in E2EI-enabled teams, where
//!   the identity the certificates attest belongs to the IdP.

use axum::extract::{Query, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

use super::{Authenticated, WireJson, token_error};
use crate::app::{AppState, SharedState};
use crate::error::ApiError;
use crate::users::{self, NewUser};
use crate::zauth::TokenType;

/// The cookie's name, as Wire clients expect it.
const COOKIE_NAME: &str = "zuid";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterBody {
    name: String,
    email: Option<String>,
    password: Option<String>,
    handle: Option<String>,
    locale: Option<String>,
    team: Option<NewTeam>,
    label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTeam {
    name: String,
}

pub(super) async fn register(
    State(state): State<SharedState>,
    WireJson(body): WireJson<RegisterBody>,
) -> Result<Response, ApiError> {
    if body.password.is_none() || body.email.is_none() {
        return Err(ApiError::bad_request(
            "bad-request",
            "registration needs an e-mail address and a password",
        ));
    }
    let new = NewUser {
        name: body.name,
        handle: body.handle,
        email: body.email,
        password: body.password,
        locale: body.locale,
        team: None,
    };
    let user = match body.team {
        Some(team) => {
            users::create_team_with_owner(&state, &team.name, new)
                .await?
                .1
        }
        None => users::create_user(&state, new).await?,
    };
    let cookie = issue_cookie(&state, user.id, false, body.label.as_deref()).await?;
    let mut response = (
        StatusCode::CREATED,
        axum::Json(user.to_json(state.settings.domain.as_str())),
    )
        .into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginBody {
    email: Option<String>,
    handle: Option<String>,
    password: String,
    label: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    #[serde(default)]
    persist: bool,
}

pub(super) async fn login(
    State(state): State<SharedState>,
    Query(query): Query<LoginQuery>,
    WireJson(body): WireJson<LoginBody>,
) -> Result<Response, ApiError> {
    let login = body
        .email
        .or(body.handle)
        .ok_or_else(|| ApiError::bad_request("bad-request", "log in with `email` or `handle`"))?;
    let user = users::find_user_by_login(&state, &login).await?;
    let user = match user {
        Some(u) if u.password_matches(&body.password) => u,
        _ => {
            return Err(ApiError::forbidden(
                "invalid-credentials",
                "authentication failed",
            ));
        }
    };
    if users::scim_active(&state, user.id).await? == Some(false) {
        return Err(ApiError::forbidden(
            "suspended",
            "the account is deactivated by the team's identity provider",
        ));
    }
    let cookie = issue_cookie(&state, user.id, !query.persist, body.label.as_deref()).await?;
    let mut response = access_response(&state, user.id, None, None)?;
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefreshQuery {
    /// Binds the new access token to this client of the user (`i=`).
    client_id: Option<String>,
}

pub(super) async fn refresh(
    State(state): State<SharedState>,
    Query(query): Query<RefreshQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cookie = valid_cookie(&state, &headers).await?;
    let client = match query.client_id {
        Some(cid) => {
            let auth = Authenticated {
                user: cookie.user,
                connection: 0,
                client: None,
            };
            Some(super::clients::find_client(&state, &auth, &cid).await?.id)
        }
        None => cookie.client.clone(),
    };
    // The connection number stays constant across renewals when the old token is presented.
    let connection = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .and_then(|t| {
            state
                .zauth
                .verify(t.trim(), TokenType::Access, i64::MIN)
                .ok()
        })
        .filter(|t| t.user == cookie.user)
        .map(|t| t.nonce);
    let mut response = access_response(&state, cookie.user, connection, client.as_deref())?;
    let age = state.now() - cookie.created_at;
    if age > state.settings.cookie_renewal_age.as_secs() as i64 {
        let fresh =
            issue_cookie(&state, cookie.user, cookie.session, cookie.label.as_deref()).await?;
        revoke_cookie(&state, cookie.user, cookie.id).await?;
        response.headers_mut().insert(SET_COOKIE, fresh);
    }
    Ok(response)
}

pub(super) async fn logout(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cookie = valid_cookie(&state, &headers).await?;
    revoke_cookie(&state, cookie.user, cookie.id).await?;
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("zuid=; Path=/access; Max-Age=0; HttpOnly; Secure; SameSite=None"),
    );
    Ok(response)
}

pub(super) async fn get_self(
    State(state): State<SharedState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let user = users::find_user(&state, auth.user)
        .await?
        .ok_or_else(|| ApiError::forbidden("invalid-credentials", "the user no longer exists"))?;
    Ok(axum::Json(user.to_json(state.settings.domain.as_str())).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SelfUpdate {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HandleUpdate {
    handle: String,
}

/// The caller, if their name and handle are theirs to change.
async fn self_managed_user(
    state: &AppState,
    auth: &Authenticated,
) -> Result<users::User, ApiError> {
    let user = users::find_user(state, auth.user)
        .await?
        .ok_or_else(|| ApiError::forbidden("invalid-credentials", "the user no longer exists"))?;
    let in_e2ei_team = match user.team {
        Some(team) => super::teams::e2ei_enabled(state, team).await?,
        None => false,
    };
    if in_e2ei_team || users::scim_active(state, user.id).await?.is_some() {
        return Err(ApiError::forbidden(
            "managed-by-scim",
            "the name and handle are managed by the team's identity provider (SCIM)",
        ));
    }
    Ok(user)
}

pub(super) async fn put_self(
    State(state): State<SharedState>,
    auth: Authenticated,
    WireJson(body): WireJson<SelfUpdate>,
) -> Result<Response, ApiError> {
    let user = self_managed_user(&state, &auth).await?;
    users::set_name(&state, user.id, &body.name).await?;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn put_handle(
    State(state): State<SharedState>,
    auth: Authenticated,
    WireJson(body): WireJson<HandleUpdate>,
) -> Result<Response, ApiError> {
    let user = self_managed_user(&state, &auth).await?;
    users::set_handle(&state, user.id, &body.handle).await?;
    Ok(StatusCode::OK.into_response())
}

fn access_response(
    state: &AppState,
    user: Uuid,
    connection: Option<u64>,
    client: Option<&str>,
) -> Result<Response, ApiError> {
    let ttl = state.settings.access_token_ttl.as_secs();
    let connection = connection.unwrap_or_else(random_u64);
    let token = state
        .zauth
        .sign(
            TokenType::Access,
            user,
            connection,
            client,
            false,
            state.now() + ttl as i64,
        )
        .map_err(ApiError::internal)?;
    let body =
        json!({ "user": user, "access_token": token, "token_type": "Bearer", "expires_in": ttl });
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    Ok(response)
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    u64::from_be_bytes(bytes)
}

/// A stored, valid cookie.
struct Cookie {
    user: Uuid,
    id: i64,
    session: bool,
    label: Option<String>,
    client: Option<String>,
    created_at: i64,
}

async fn valid_cookie(state: &AppState, headers: &HeaderMap) -> Result<Cookie, ApiError> {
    let raw = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, v)| v.to_owned())
        .ok_or_else(|| ApiError::forbidden("missing-cookie", "the zuid cookie is required"))?;
    let token = state
        .zauth
        .verify(&raw, TokenType::User, state.now())
        .map_err(|e| {
            let e = token_error(e);
            ApiError::forbidden(
                "invalid-credentials",
                format!("cookie refused: {}", e.label()),
            )
        })?;
    let id = token.nonce as i64;
    let row = sqlx::query(
        "SELECT session, label, created_at FROM cookies WHERE user_id = $1 AND cookie_id = $2 AND expires_at >= $3",
    )
    .bind(token.user.to_string())
    .bind(id)
    .bind(state.now())
    .fetch_optional(state.db.pool())
    .await?
    .ok_or_else(|| ApiError::forbidden("invalid-credentials", "the cookie was revoked"))?;
    Ok(Cookie {
        user: token.user,
        id,
        session: row.try_get::<i64, _>("session")? != 0,
        label: row.try_get("label")?,
        client: token.client,
        created_at: row.try_get("created_at")?,
    })
}

/// Stores a new cookie (replacing the user's oldest of that kind beyond the limit) and returns
/// its `Set-Cookie` header.
async fn issue_cookie(
    state: &AppState,
    user: Uuid,
    session: bool,
    label: Option<&str>,
) -> Result<HeaderValue, ApiError> {
    if label.is_some_and(|l| l.is_empty() || l.len() > 256) {
        return Err(ApiError::bad_request(
            "bad-request",
            "cookie labels are 1 to 256 bytes",
        ));
    }
    let ttl = if session {
        state.settings.session_cookie_ttl
    } else {
        state.settings.persistent_cookie_ttl
    }
    .as_secs() as i64;
    let now = state.now();
    let id = (random_u64() >> 32) as i64;
    let token = state
        .zauth
        .sign(TokenType::User, user, id as u64, None, session, now + ttl)
        .map_err(ApiError::internal)?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "INSERT INTO cookies (user_id, cookie_id, session, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.to_string())
    .bind(id)
    .bind(i64::from(session))
    .bind(label)
    .bind(now)
    .bind(now + ttl)
    .execute(&mut *tx)
    .await?;
    // At most N cookies of each kind: drop the oldest beyond the limit.
    let prune = format!(
        "DELETE FROM cookies WHERE user_id = $1 AND session = $2 AND cookie_id IN (\
           SELECT cookie_id FROM cookies WHERE user_id = $1 AND session = $2 \
           ORDER BY created_at DESC, cookie_id DESC {})",
        limit_offset(state, 3)
    );
    sqlx::query(&prune)
        .bind(user.to_string())
        .bind(i64::from(session))
        .bind(state.settings.max_cookies_per_kind)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let max_age = if session {
        String::new()
    } else {
        format!("; Max-Age={ttl}")
    };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; Path=/access; HttpOnly; Secure; SameSite=None{max_age}"
    ))
    .map_err(ApiError::internal)
}

/// "Skip the first `$n` rows": SQLite needs a LIMIT before OFFSET, PostgreSQL takes OFFSET alone.
fn limit_offset(state: &AppState, n: usize) -> String {
    match state.db.kind() {
        crate::db::DbKind::Sqlite => format!("LIMIT -1 OFFSET ${n}"),
        crate::db::DbKind::Postgres => format!("OFFSET ${n}"),
    }
}

async fn revoke_cookie(state: &AppState, user: Uuid, id: i64) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM cookies WHERE user_id = $1 AND cookie_id = $2")
        .bind(user.to_string())
        .bind(id)
        .execute(state.db.pool())
        .await?;
    Ok(())
}

/// Revokes every cookie of `user` carrying `label` (a deleted client's cookies).
pub(crate) async fn revoke_cookies_with_label(
    state: &AppState,
    user: Uuid,
    label: &str,
) -> Result<u64, ApiError> {
    let done = sqlx::query("DELETE FROM cookies WHERE user_id = $1 AND label = $2")
        .bind(user.to_string())
        .bind(label)
        .execute(state.db.pool())
        .await?;
    Ok(done.rows_affected())
}
