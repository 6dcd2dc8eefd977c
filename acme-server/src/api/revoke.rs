//! `POST revoke-cert` (RFC 8555 §7.6): signed by the account that ordered the certificate
//! (`kid`) or by the certificate's own key (`jwk`); reason codes of RFC 5280 except the CA-only
//! ones. Revocation is recorded for the CRL publisher.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use der::{Decode, Encode};
use e2ei_acme::jws::{JwsRequestIn, KeyRef};
use e2ei_acme::messages::{AccountStatus, RevocationRequest};
use e2ei_acme::{Problem, ProblemType};
use e2ei_core::x509::{certificate_public_key, certificates_from_pem_or_der, serial_to_hex};
use x509_cert::Certificate;

use super::{AcmeError, AcmeResult, KeyMode, authenticate, provisioner};
use crate::app::SharedState;

use crate::revocation::{ALLOWED_REASONS, RevocationSource, revoke_certificate};

pub(super) async fn revoke_cert(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    // Which key mode applies depends on the request itself.
    let mode = match JwsRequestIn::parse(&body).map(|j| j.header().key.clone()) {
        Ok(KeyRef::Jwk(_)) => KeyMode::Jwk,
        _ => KeyMode::Kid,
    };
    let auth = authenticate(&state, p, uri.path(), &headers, &body, mode).await?;
    let request: RevocationRequest = auth.request.payload_as()?;
    let reason = request.reason.unwrap_or(0);
    if !ALLOWED_REASONS.contains(&reason) {
        return Err(Problem::new(
            ProblemType::BadRevocationReason,
            format!("reason code {reason} is not allowed"),
        )
        .into());
    }
    let der = URL_SAFE_NO_PAD
        .decode(&request.certificate)
        .map_err(|_| Problem::malformed("certificate is not unpadded base64url"))?;
    let presented =
        Certificate::from_der(&der).map_err(|e| Problem::malformed(format!("certificate: {e}")))?;
    let serial = serial_to_hex(presented.tbs_certificate().serial_number());
    let not_ours = || {
        AcmeError(Problem::malformed(
            "this authority did not issue the certificate",
        ))
    };
    let (stored, revoked) = state
        .store
        .certificate_by_serial(&p.name, &serial)
        .await?
        .ok_or_else(not_ours)?;
    let issued = certificates_from_pem_or_der(stored.chain_pem.as_bytes())
        .ok()
        .and_then(|chain| chain.into_iter().next())
        .and_then(|leaf| leaf.to_der().ok());
    if issued.as_deref() != Some(der.as_slice()) {
        return Err(not_ours());
    }
    match (&auth.request.header.key, &auth.account) {
        (KeyRef::Kid(_), Some(account))
            if account.id == stored.account_id && account.status == AccountStatus::Valid => {}
        (KeyRef::Kid(_), _) => {
            return Err(Problem::unauthorized("the account did not order this certificate").into());
        }
        (KeyRef::Jwk(jwk), _) => {
            let key = certificate_public_key(&presented)
                .map_err(|e| Problem::malformed(e.to_string()))?;
            if jwk.public_key() != &key {
                return Err(Problem::unauthorized(
                    "the request is not signed by the certificate's key",
                )
                .into());
            }
        }
    }
    if revoked
        || !revoke_certificate(
            &state,
            &stored.id,
            &stored.serial,
            reason,
            RevocationSource::Acme,
        )
        .await?
    {
        return Err(Problem::new(
            ProblemType::AlreadyRevoked,
            "the certificate is already revoked",
        )
        .into());
    }
    Ok(StatusCode::OK.into_response())
}
