//! ACME Renewal Information (RFC 9773): `GET /acme/{provisioner}/renewal-info/{certID}` answers
//! the window in which the client should renew, and new-order's `replaces` names the
//! certificate an order renews (§5: each certificate is replaced at most once).
//!
//! `certID` is `base64url(AKI keyIdentifier) "." base64url(serial DER content)` (§4.1). The
//! window is the last third of the lifetime but one sixth — `[notAfter − L/3, notAfter − L/6]`
//! for a lifetime `L` — so a renewal lands well before expiry and a device offline for a while
//! still finds time to renew; a revoked certificate gets a window in the past (renew now).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use der::Decode;
use e2ei_acme::{Problem, ProblemType};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::Certificate;
use x509_cert::ext::pkix::AuthorityKeyIdentifier;

use super::{AcmeError, AcmeResult, provisioner};
use crate::app::{AppState, Provisioner, SharedState};
use crate::store::{AccountRow, CertificateRow};

/// How often clients should ask again (seconds).
pub(super) const RETRY_AFTER_SECS: u32 = 6 * 3600;

fn not_found() -> AcmeError {
    let mut p = Problem::malformed("no certificate with this certID");
    p.status = 404;
    AcmeError(p)
}

/// The certificate a certID names, with its leaf; `malformed` when the certID is not one.
async fn certificate_for(
    state: &AppState,
    p: &Provisioner,
    cert_id: &str,
) -> Result<(CertificateRow, Certificate), AcmeError> {
    let malformed = || {
        AcmeError(Problem::malformed(
            "certID is not `base64url(AKI).base64url(serial)`",
        ))
    };
    let (aki, serial) = cert_id.split_once('.').ok_or_else(malformed)?;
    let aki = URL_SAFE_NO_PAD.decode(aki).map_err(|_| malformed())?;
    let serial = URL_SAFE_NO_PAD.decode(serial).map_err(|_| malformed())?;
    if aki.is_empty() || serial.is_empty() {
        return Err(malformed());
    }
    let (cert, _) = state
        .store
        .certificate_by_serial(&p.name, &hex::encode(&serial))
        .await?
        .ok_or_else(not_found)?;
    let leaf = e2ei_core::x509::certificates_from_pem_or_der(cert.chain_pem.as_bytes())
        .ok()
        .and_then(|mut chain| (!chain.is_empty()).then(|| chain.remove(0)))
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    if authority_key_id(&leaf).as_deref() != Some(aki.as_slice()) {
        return Err(not_found());
    }
    Ok((cert, leaf))
}

fn authority_key_id(leaf: &Certificate) -> Option<Vec<u8>> {
    leaf.tbs_certificate()
        .extensions()?
        .iter()
        .find(|e| e.extn_id == e2ei_core::oid::AUTHORITY_KEY_IDENTIFIER)
        .and_then(|e| AuthorityKeyIdentifier::from_der(e.extn_value.as_bytes()).ok())
        .and_then(|aki| aki.key_identifier)
        .map(|k| k.as_bytes().to_vec())
}

fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The suggested window `(start, end)` in Unix seconds.
pub(crate) fn suggested_window(
    not_before: i64,
    not_after: i64,
    revoked_at: Option<i64>,
    now: i64,
) -> (i64, i64) {
    if revoked_at.is_some() {
        return (now - 2 * 3600, now - 3600);
    }
    let lifetime = (not_after - not_before).max(0);
    (not_after - lifetime / 3, not_after - lifetime / 6)
}

/// `GET renewal-info/{certID}`.
pub(super) async fn renewal_info(
    State(state): State<SharedState>,
    Path((name, cert_id)): Path<(String, String)>,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let (cert, leaf) = certificate_for(&state, p, &cert_id).await?;
    let validity = leaf.tbs_certificate().validity();
    let not_before = i64::try_from(validity.not_before.to_unix_duration().as_secs())
        .map_err(|_| AcmeError(Problem::server_internal()))?;
    let not_after = i64::try_from(validity.not_after.to_unix_duration().as_secs())
        .map_err(|_| AcmeError(Problem::server_internal()))?;
    let revoked_at = state.store.revoked_at(&cert.id).await?;
    let (start, end) = suggested_window(not_before, not_after, revoked_at, state.now());
    let mut response = Json(json!({
        "suggestedWindow": { "start": rfc3339(start), "end": rfc3339(end) }
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    Ok(response)
}

/// new-order's `replaces`: the certificate must be this account's and not replaced yet; the
/// claim is one conditional update, so a second order naming it gets `alreadyReplaced`.
pub(super) async fn claim_replacement(
    state: &AppState,
    p: &Provisioner,
    account: &AccountRow,
    cert_id: &str,
    order_id: &str,
) -> Result<(), AcmeError> {
    let (cert, _) = certificate_for(state, p, cert_id).await.map_err(|e| {
        // RFC 9773 §5: an unknown certificate in `replaces` is a malformed request.
        AcmeError(Problem::malformed(format!("replaces: {}", e.0.detail)))
    })?;
    if cert.account_id != account.id {
        return Err(
            Problem::unauthorized("replaces: the certificate belongs to another account").into(),
        );
    }
    if !state.store.mark_replaced(&cert.id, order_id).await? {
        return Err(Problem::new(
            ProblemType::AlreadyReplaced,
            "replaces: the certificate was already replaced by another order",
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::suggested_window;

    #[test]
    fn suggests_the_last_third_but_one_sixth_of_the_lifetime() {
        let day = 86_400;
        assert_eq!(
            suggested_window(0, 90 * day, None, 10),
            (60 * day, 75 * day)
        );
    }

    #[test]
    fn suggests_a_past_window_for_a_revoked_certificate() {
        let (start, end) = suggested_window(0, 90 * 86_400, Some(100), 10_000);
        assert!(start < end && end < 10_000);
    }
}
