//! Revocation: the one path every source takes — ACME revokeCert (after its own authorisation
//! checks), the admin API used by `e2ei-ca revoke`, and the SCIM bridge to come. Each
//! revocation is recorded with its reason and time, counted for the CRL publisher in the same
//! transaction, and wakes the publisher so the next CRL lists it at once.

use e2ei_core::id::ClientId;
use e2ei_core::x509::CrlReason;

use crate::app::AppState;
use crate::store::{CertificateKey, RevokeOutcome};

/// What a revocation names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationTarget {
    /// One certificate by serial (hex, any case, colons allowed).
    Serial(String),
    /// Every certificate of a Wire device.
    Client(ClientId),
    /// Every certificate of a Wire user (handle URI `wireapp://%40{handle}@{domain}`).
    Handle(String),
}

/// Who asked (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationSource {
    /// ACME revokeCert.
    Acme,
    /// The admin API.
    Admin,
}

impl RevocationSource {
    fn name(self) -> &'static str {
        match self {
            Self::Acme => "acme",
            Self::Admin => "admin",
        }
    }
}

/// Why a revocation did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// No certificate of this authority matches.
    #[error("no certificate issued by this authority matches {0}")]
    NotFound(String),
    /// Everything named was revoked already.
    #[error("already revoked: {0}")]
    AlreadyRevoked(String),
    /// A reason code a CRL must not carry for a leaf (cACompromise, certificateHold,
    /// removeFromCRL, aACompromise) or an unknown one.
    #[error("reason code {0} is not allowed")]
    BadReason(u8),
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

/// Reason codes a leaf may be revoked with: unspecified, keyCompromise, affiliationChanged,
/// superseded, cessationOfOperation, privilegeWithdrawn.
pub const ALLOWED_REASONS: [u8; 6] = [0, 1, 3, 4, 5, 9];

/// What a revocation request did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationReport {
    /// Certificates revoked now.
    pub revoked: Vec<RevokeOutcome>,
    /// Certificates that were revoked before.
    pub already_revoked: Vec<RevokeOutcome>,
}

/// Revokes what `target` names with `reason`.
pub async fn revoke(
    state: &AppState,
    target: &RevocationTarget,
    reason: u8,
    source: RevocationSource,
) -> Result<RevocationReport, RevocationError> {
    if !ALLOWED_REASONS.contains(&reason) {
        return Err(RevocationError::BadReason(reason));
    }
    let (key, value, what) = match target {
        RevocationTarget::Serial(serial) => {
            let serial = serial.replace(':', "").to_ascii_lowercase();
            (
                CertificateKey::Serial,
                serial.clone(),
                format!("serial {serial}"),
            )
        }
        RevocationTarget::Client(client) => (
            CertificateKey::ClientId,
            client.to_uri(),
            format!("client {}", client.to_uri()),
        ),
        RevocationTarget::Handle(handle) => (
            CertificateKey::Handle,
            handle.clone(),
            format!("user {handle}"),
        ),
    };
    let named = state.store.certificates_named(key, &value).await?;
    if named.is_empty() {
        return Err(RevocationError::NotFound(what));
    }
    let mut report = RevocationReport::default();
    for cert in named {
        if !cert.already_revoked
            && revoke_certificate(state, &cert.id, &cert.serial, reason, source).await?
        {
            report.revoked.push(cert);
        } else {
            report.already_revoked.push(RevokeOutcome {
                already_revoked: true,
                ..cert
            });
        }
    }
    if report.revoked.is_empty() {
        return Err(RevocationError::AlreadyRevoked(what));
    }
    Ok(report)
}

/// Revokes certificate `id` (its authorisation already checked); false if it was revoked
/// before. Wakes the CRL publisher.
pub async fn revoke_certificate(
    state: &AppState,
    id: &str,
    serial: &str,
    reason: u8,
    source: RevocationSource,
) -> Result<bool, sqlx::Error> {
    if !state
        .store
        .revoke_certificate(id, reason, state.now())
        .await?
    {
        return Ok(false);
    }
    let reason_name = CrlReason::from_code(reason)
        .map(|r| format!("{r:?}"))
        .unwrap_or_else(|| reason.to_string());
    tracing::info!(serial, reason = %reason_name, source = source.name(), "certificate revoked");
    state.metrics.inc(
        "certificates_revoked_total",
        "Certificates revoked, by source.",
        &[("source", source.name())],
    );
    state.crl_wake.notify_one();
    Ok(true)
}
