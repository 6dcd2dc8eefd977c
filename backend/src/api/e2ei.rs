//! The E2EI endpoints (protocol doc §2.3, §6.2, §9.1).
//!
//! - `HEAD|GET /clients/{cid}/nonce` — a fresh backend nonce in `Replay-Nonce` (single use,
//!   300 s, per user and client), `Cache-Control: no-store`.
//! - `POST /clients/{cid}/access-token` with the proof in the `DPoP` header — verified by
//!   e2ei-dpop against `https://{domain}/clients/{cid}/access-token`; answers
//!   `{"token", "type": "DPoP", "expires_in"}` or the §9.1 Wire error.
//! - `GET /dpop-keys` — the public DPoP keys, to configure the ACME server with.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use e2ei_core::id::{ClientId, DeviceId, DisplayName, Handle, QualifiedHandle, TeamId, UserId};
use e2ei_core::jwk::Jwk;
use e2ei_dpop::{BackendExpectations, BackendKeys, MintError, ProofVerifier};
use serde_json::json;

use super::Authenticated;
use super::clients::{current_user, find_client};
use crate::app::{AppState, SharedState};
use crate::error::ApiError;

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

pub(super) async fn nonce(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(cid): Path<String>,
) -> Result<Response, ApiError> {
    let client = find_client(&state, &auth, &cid).await?;
    let nonce = e2ei_dpop::new_backend_nonce();
    let now = state.now();
    let ttl = state.settings.nonce_ttl.as_secs() as i64;
    let user = auth.user.to_string();
    sqlx::query(
        "DELETE FROM dpop_nonces WHERE user_id = $1 AND client_id = $2 AND created_at < $3",
    )
    .bind(&user)
    .bind(&client.id)
    .bind(now - ttl)
    .execute(state.db.pool())
    .await?;
    sqlx::query(
        "INSERT INTO dpop_nonces (user_id, client_id, nonce, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&user)
    .bind(&client.id)
    .bind(&nonce)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    state.metrics.nonce_issued();
    let mut response = no_store(StatusCode::OK.into_response());
    let headers = response.headers_mut();
    headers.insert(
        "replay-nonce",
        HeaderValue::from_str(&nonce).map_err(ApiError::internal)?,
    );
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("Replay-Nonce"),
    );
    Ok(response)
}

pub(super) async fn access_token(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(cid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let client = find_client(&state, &auth, &cid).await?;
    if crate::users::scim_active(&state, auth.user).await? == Some(false) {
        return Err(ApiError::forbidden(
            "suspended",
            "the account is deactivated by the team's identity provider",
        ));
    }
    let proof = headers
        .get("dpop")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| {
            ApiError::bad_request("bad-request", "the DPoP header with the proof is required")
        })?;
    if state.dpop_keys.public_keys().is_empty() {
        return Err(ApiError::not_found(
            "no-server-key-bundle",
            "no DPoP signing keys are configured",
        ));
    }
    let user = current_user(&state, &auth).await?;
    let team = user.team.ok_or_else(|| {
        ApiError::bad_request(
            "not-a-team-user",
            "only team members get DPoP access tokens",
        )
    })?;
    let handle = user
        .handle
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("missing-handle", "the user has no handle"))?;
    let handle = Handle::new(handle).map_err(ApiError::internal)?;
    let name = DisplayName::new(user.name.as_str()).map_err(|_| {
        ApiError::bad_request("missing-name", "the user has no usable display name")
    })?;
    let domain = state.settings.domain.clone();
    let device: DeviceId = client.id.parse().map_err(ApiError::internal)?;
    let client_id = ClientId::new(UserId::new(user.id), device, domain.clone());
    let handle = QualifiedHandle::new(handle, domain.clone());
    let team = TeamId::new(team);
    let htu = format!("https://{domain}/clients/{}/access-token", client.id);
    let expect = BackendExpectations {
        client_id: &client_id,
        handle: &handle,
        display_name: &name,
        team: Some(&team),
        htu: &htu,
    };
    let clock = state.clock.as_ref();
    let awaiting = ProofVerifier::new(expect, state.settings.dpop)
        .verify(proof, clock)
        .map_err(|e| mint_error(&state, e))?;
    // Single use under concurrency: exactly one request deletes the row.
    let consumed = sqlx::query(
        "DELETE FROM dpop_nonces WHERE user_id = $1 AND client_id = $2 AND nonce = $3 AND created_at >= $4",
    )
    .bind(user.id.to_string())
    .bind(&client.id)
    .bind(awaiting.nonce())
    .bind(state.now() - state.settings.nonce_ttl.as_secs() as i64)
    .execute(state.db.pool())
    .await?
    .rows_affected()
        == 1;
    let token = awaiting
        .confirm_nonce(consumed)
        .and_then(|verified| verified.mint(&state.dpop_keys, clock))
        .map_err(|e| mint_error(&state, e))?;
    state.metrics.access_token_issued();
    Ok(no_store(Json(token.response_body()).into_response()))
}

fn mint_error(state: &AppState, e: MintError) -> ApiError {
    state.metrics.access_token_refused(e.wire_label());
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    if status.is_server_error() {
        tracing::error!(error = %e, "DPoP access token");
        return ApiError::new(status, e.wire_label(), "internal server error");
    }
    ApiError::new(status, e.wire_label(), e.to_string())
}

pub(super) async fn public_keys(State(state): State<SharedState>) -> Response {
    Json(public_keys_json(&state.dpop_keys)).into_response()
}

/// `{"keys": [{"alg", "jwk", "pem"}]}`: what `GET /dpop-keys` and `e2ei-backend dpop-keys` show.
pub fn public_keys_json(keys: &BackendKeys) -> serde_json::Value {
    let keys: Vec<_> = keys
        .public_keys()
        .into_iter()
        .map(|k| {
            json!({
                "alg": k.algorithm().jws_algorithm().as_str(),
                "jwk": Jwk::from_public_key(k.clone()),
                "pem": k.to_pem(),
            })
        })
        .collect();
    json!({ "keys": keys })
}
