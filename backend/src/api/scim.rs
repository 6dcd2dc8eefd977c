//! SCIM endpoints.
//!
//! - `POST /scim/auth-tokens` `{"description", "password"}` — a team owner or admin creates a
//!   SCIM token for their team (re-entering the password); the token is shown once.
//! - `GET /scim/auth-tokens` — the team's tokens (never the token text).
//! - `DELETE /scim/auth-tokens?id=…` — revokes one.
//! - `/scim/v2/…` (RFC 7644) with `Authorization: Bearer <SCIM token>`: Users, Groups,
//!   ServiceProviderConfig, ResourceTypes, Schemas — e2ei-scim over the backend's directory,
//!   scoped to the token's team (another team's resource is 404). Errors are SCIM errors.

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use e2ei_scim::{ScimError, ScimRequest, ScimService, ServiceConfig};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::clients::current_user;
use super::{Authenticated, WireJson};
use crate::app::SharedState;
use crate::error::ApiError;
use crate::scim::directory::SqlDirectory;
use crate::scim::tokens;
use crate::users::User;

/// Largest SCIM request body (a group PATCH may carry many members).
pub(super) const MAX_SCIM_BODY: usize = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    description: String,
    password: Option<String>,
}

/// The caller must be an owner or admin of a team.
async fn team_admin(state: &SharedState, auth: &Authenticated) -> Result<(Uuid, User), ApiError> {
    let user = current_user(state, auth).await?;
    match (user.team, user.role) {
        (Some(team), Some(role)) if role.is_admin() => Ok((team, user)),
        _ => Err(ApiError::forbidden(
            "insufficient-permissions",
            "only a team owner or admin manages SCIM tokens",
        )),
    }
}

pub(super) async fn create_token(
    State(state): State<SharedState>,
    auth: Authenticated,
    WireJson(body): WireJson<NewToken>,
) -> Result<Response, ApiError> {
    let (team, user) = team_admin(&state, &auth).await?;
    // Re-authentication: a stolen access token alone does not mint a lasting SCIM token.
    super::clients::reauthenticate(&user, body.password.as_deref()).await?;
    let (token, info) = tokens::create(&state, team, user.id, &body.description).await?;
    let mut response = Json(json!({ "token": token, "info": info.to_json() })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

pub(super) async fn list_tokens(
    State(state): State<SharedState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let (team, _) = team_admin(&state, &auth).await?;
    let list = tokens::list(&state, team).await?;
    let list: Vec<_> = list.iter().map(tokens::TokenInfo::to_json).collect();
    Ok(Json(json!({ "tokens": list })).into_response())
}

#[derive(Deserialize)]
pub(super) struct TokenId {
    id: Option<String>,
}

pub(super) async fn delete_token(
    State(state): State<SharedState>,
    auth: Authenticated,
    Query(query): Query<TokenId>,
) -> Result<Response, ApiError> {
    let (team, _) = team_admin(&state, &auth).await?;
    // Read here (not by the extractor) so a missing or malformed id is a Wire error.
    let id = query
        .id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| ApiError::bad_request("bad-request", "`?id=` names a SCIM token"))?;
    if tokens::revoke(&state, team, id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("not-found", "no such SCIM token"))
    }
}

fn scim_error(error: &ScimError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, error.to_json().to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    response
}

fn unauthorized(detail: &str) -> Response {
    let mut response = scim_error(&ScimError::new(401, None, detail));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"scim\""),
    );
    response
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Everything under `/scim/v2`.
pub(super) async fn scim(State(state): State<SharedState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let token = header_text(&parts.headers, header::AUTHORIZATION)
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return unauthorized("a SCIM bearer token is required");
    };
    let team = match tokens::team_for(&state, token).await {
        Ok(Some(team)) => team,
        Ok(None) => return unauthorized("unknown or revoked SCIM token"),
        Err(e) => {
            tracing::error!(label = e.label(), "SCIM token lookup");
            return scim_error(&ScimError::internal());
        }
    };
    let body = match axum::body::to_bytes(Body::new(body), MAX_SCIM_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return scim_error(&ScimError::new(
                413,
                None,
                format!("request bodies are limited to {MAX_SCIM_BODY} bytes"),
            ));
        }
    };
    let path = parts
        .uri
        .path()
        .strip_prefix("/scim/v2")
        .unwrap_or_default();
    let request = ScimRequest {
        method: parts.method.as_str(),
        path,
        query: parts.uri.query(),
        if_match: header_text(&parts.headers, header::IF_MATCH),
        if_none_match: header_text(&parts.headers, header::IF_NONE_MATCH),
        content_type: header_text(&parts.headers, header::CONTENT_TYPE),
        body: &body,
    };
    let service = ScimService::new(
        SqlDirectory::new(state.clone()),
        state.scim.public_url.clone(),
        ServiceConfig {
            max_results: state.scim.max_results,
            max_body_bytes: MAX_SCIM_BODY,
            ..ServiceConfig::default()
        },
    );
    let answer = service.handle(&team.to_string(), request).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match answer.body {
        Some(body) => (status, body).into_response(),
        None => status.into_response(),
    };
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
