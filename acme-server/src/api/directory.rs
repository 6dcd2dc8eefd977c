//! `GET /acme/{provisioner}/directory` (RFC 8555 §7.1.1) and
//! `HEAD|GET /acme/{provisioner}/new-nonce` (§7.2: HEAD answers 200, GET 204).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use e2ei_acme::messages::{Directory, DirectoryMeta};

use super::{AcmeResult, provisioner};
use crate::app::SharedState;

pub(super) async fn directory(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let url = |path: &str| state.settings.url(&p.name, path);
    let directory = Directory {
        new_nonce: url("new-nonce"),
        new_account: url("new-account"),
        new_order: url("new-order"),
        new_authz: None,
        revoke_cert: Some(url("revoke-cert")),
        key_change: Some(url("key-change")),
        renewal_info: Some(url("renewal-info")),
        meta: Some(DirectoryMeta {
            terms_of_service: p.terms_of_service.clone(),
            website: p.website.clone(),
            caa_identities: Vec::new(),
            external_account_required: p.eab.required,
        }),
    };
    Ok(Json(directory).into_response())
}

pub(super) async fn new_nonce_head(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> AcmeResult {
    provisioner(&state, &name)?;
    // The nonce itself is added to every response by the ACME header layer.
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn new_nonce_get(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> AcmeResult {
    provisioner(&state, &name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
