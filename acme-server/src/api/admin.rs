//! The admin API, for operators and `e2ei-ca revoke`; off unless `[admin] token` is set, and
//! every request carries `Authorization: Bearer <token>` (compared by SHA-256 in constant
//! time). Errors are problem documents with ACME types.
//!
//! `POST /admin/revocations` with exactly one of `{"serial": hex}`, `{"client_id": URI}` (every
//! certificate of a Wire device) or `{"handle": URI}` (every certificate of a Wire user), and
//! an optional `reason` (RFC 5280 code or name, e.g. `"keyCompromise"`): revokes through the
//! same path as ACME revokeCert and answers what was revoked and what already was.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use e2ei_acme::{Problem, ProblemType};
use e2ei_core::id::ClientId;
use e2ei_core::x509::CrlReason;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AcmeError;
use crate::app::{AppState, SharedState};
use crate::revocation::{RevocationError, RevocationSource, RevocationTarget, revoke};
use crate::store::RevokeOutcome;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationRequest {
    serial: Option<String>,
    client_id: Option<String>,
    handle: Option<String>,
    reason: Option<Value>,
}

fn problem(kind: ProblemType, status: StatusCode, detail: impl Into<String>) -> AcmeError {
    let mut p = Problem::new(kind, detail);
    p.status = status.as_u16();
    AcmeError(p)
}

/// The bearer token must hash to the configured digest.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(expected) = &state.admin_token_sha256 else {
        return Err(Box::new(StatusCode::NOT_FOUND.into_response()));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, presented.as_bytes());
    if presented.is_empty()
        || aws_lc_rs::constant_time::verify_slices_are_equal(digest.as_ref(), expected).is_err()
    {
        let mut response = problem(
            ProblemType::Unauthorized,
            StatusCode::UNAUTHORIZED,
            "a valid admin bearer token is required",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Err(Box::new(response));
    }
    Ok(())
}

fn reason_code(reason: Option<&Value>) -> Result<u8, AcmeError> {
    let bad = || {
        problem(
            ProblemType::BadRevocationReason,
            StatusCode::BAD_REQUEST,
            "reason is an RFC 5280 reason code or its name, e.g. 1 or \"keyCompromise\"",
        )
    };
    match reason {
        None => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(bad),
        Some(name @ Value::String(_)) => serde_json::from_value::<CrlReason>(name.clone())
            .map(|r| r as u8)
            .map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn listed(certs: &[RevokeOutcome]) -> Value {
    certs
        .iter()
        .map(|c| json!({ "serial": c.serial, "provisioner": c.provisioner, "not_after": c.not_after }))
        .collect()
}

/// `POST /admin/revocations`.
pub(super) async fn revocations(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = authorize(&state, &headers) {
        return *refused;
    }
    match revoke_request(&state, &body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn revoke_request(state: &AppState, body: &Bytes) -> Result<Response, AcmeError> {
    let request: RevocationRequest = serde_json::from_slice(body).map_err(|e| {
        problem(
            ProblemType::Malformed,
            StatusCode::BAD_REQUEST,
            format!("request body: {e}"),
        )
    })?;
    let reason = reason_code(request.reason.as_ref())?;
    let target = match (request.serial, request.client_id, request.handle) {
        (Some(serial), None, None) => {
            if serial.is_empty()
                || !serial
                    .replace(':', "")
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit())
            {
                return Err(problem(
                    ProblemType::Malformed,
                    StatusCode::BAD_REQUEST,
                    "serial is hexadecimal",
                ));
            }
            RevocationTarget::Serial(serial)
        }
        (None, Some(client), None) => {
            RevocationTarget::Client(ClientId::from_uri(&client).map_err(|e| {
                problem(
                    ProblemType::Malformed,
                    StatusCode::BAD_REQUEST,
                    format!("client_id: {e}"),
                )
            })?)
        }
        (None, None, Some(handle)) => {
            if !handle.starts_with("wireapp://%40") {
                return Err(problem(
                    ProblemType::Malformed,
                    StatusCode::BAD_REQUEST,
                    "handle is a Wire handle URI, wireapp://%40{handle}@{domain}",
                ));
            }
            RevocationTarget::Handle(handle)
        }
        _ => {
            return Err(problem(
                ProblemType::Malformed,
                StatusCode::BAD_REQUEST,
                "name exactly one of serial, client_id, handle",
            ));
        }
    };
    match revoke(state, &target, reason, RevocationSource::Admin).await {
        Ok(report) => Ok((
            StatusCode::OK,
            Json(json!({
                "revoked": listed(&report.revoked),
                "already_revoked": listed(&report.already_revoked),
            })),
        )
            .into_response()),
        Err(RevocationError::NotFound(what)) => Err(problem(
            ProblemType::Malformed,
            StatusCode::NOT_FOUND,
            format!("no certificate issued by this authority matches {what}"),
        )),
        Err(RevocationError::AlreadyRevoked(what)) => Err(problem(
            ProblemType::AlreadyRevoked,
            StatusCode::BAD_REQUEST,
            format!("already revoked: {what}"),
        )),
        Err(RevocationError::BadReason(code)) => Err(problem(
            ProblemType::BadRevocationReason,
            StatusCode::BAD_REQUEST,
            format!("reason code {code} is not allowed for a leaf"),
        )),
        Err(e) => {
            tracing::error!(error = %e, "admin revocation");
            Err(AcmeError(Problem::server_internal()))
        }
    }
}
