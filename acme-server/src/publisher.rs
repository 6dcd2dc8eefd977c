//! The CRL publisher (RFC 5280 §5; protocol doc §2.5, §8.3): one CRL per shard of the issuing
//! intermediate, regenerated at two thirds of its validity and as soon as a revocation awaits
//! publication, by one leader at a time (see `store::crls`), and stored so that every replica
//! serves the same bytes. A failed regeneration changes nothing: the last good CRLs stay
//! served and the CRL number never goes back.

use std::sync::Arc;
use std::time::Duration;

use e2ei_core::x509::CrlReason;
use e2ei_crl::{RevokedCertificate, ShardId};
use time::OffsetDateTime;
use x509_cert::serial_number::SerialNumber;

use crate::app::AppState;
use crate::store::{PublishOutcome, RevocationRow, StoredCrl};

/// Why publishing failed (logged; the last good CRLs stay served).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    /// Building or signing a CRL failed.
    #[error("building the CRLs: {0}")]
    Build(String),
}

/// Makes the CRLs anew if a revocation awaits publication, none exists, or the oldest is two
/// thirds through its validity. `Ok(None)`: nothing was due, CRLs are not published, or
/// another replica is publishing.
pub async fn publish_if_due(state: &AppState) -> Result<Option<Vec<StoredCrl>>, PublishError> {
    let Some(policy) = state.issuer.as_ref().and_then(|i| i.crl_policy()) else {
        return Ok(None);
    };
    let refresh = i64::try_from(policy.refresh_after().as_secs()).unwrap_or(i64::MAX);
    if !state
        .store
        .crl_publication_due(state.now(), refresh)
        .await?
    {
        return Ok(None);
    }
    publish(state).await
}

/// Makes every shard's CRL anew as of now, as leader.
pub async fn publish(state: &AppState) -> Result<Option<Vec<StoredCrl>>, PublishError> {
    publish_with(state, |issuer, parts| issuer.sign_crl(parts)).await
}

/// [`publish`] with the signing step given (tests make it fail part-way).
pub async fn publish_with(
    state: &AppState,
    sign: impl Fn(&crate::issuer::Issuer, e2ei_crl::CrlParts) -> Result<e2ei_crl::SignedCrl, String>,
) -> Result<Option<Vec<StoredCrl>>, PublishError> {
    let Some(issuer) = state.issuer.as_ref() else {
        return Ok(None);
    };
    let Some(policy) = issuer.crl_policy() else {
        return Ok(None);
    };
    let now = OffsetDateTime::from_unix_timestamp(state.now())
        .map_err(|e| PublishError::Build(e.to_string()))?;
    let next_update = now + policy.validity;
    let grace = policy.sharding.grace();
    let listed_since = (now - grace).unix_timestamp();
    let outcome = state
        .store
        .publish_crls(listed_since, |last_number, rows| {
            let revoked = rows
                .iter()
                .map(revoked_certificate)
                .collect::<Result<Vec<_>, String>>()?;
            let mut number = last_number;
            let mut out = Vec::new();
            for shard in policy.sharding.partition(&revoked, now) {
                number += 1;
                let shard_id = shard.shard.get();
                let parts =
                    shard.into_parts(issuer.certificate().clone(), now, next_update, number);
                let signed = sign(issuer, parts)?;
                let der = signed.into_der();
                out.push(StoredCrl {
                    shard: shard_id,
                    crl_number: number,
                    this_update: now.unix_timestamp(),
                    next_update: next_update.unix_timestamp(),
                    etag: format!("\"{}\"", &e2ei_core::x509::sha256_fingerprint(&der)[..32]),
                    der,
                });
            }
            Ok(out)
        })
        .await?;
    match outcome {
        Ok(PublishOutcome::Published(crls)) => {
            for crl in &crls {
                tracing::info!(shard = crl.shard, number = crl.crl_number, "CRL published");
            }
            state
                .metrics
                .inc("crls_published_total", "CRLs published.", &[]);
            Ok(Some(crls))
        }
        Ok(PublishOutcome::Busy) => Ok(None),
        Err(e) => {
            state.metrics.inc(
                "crl_publication_failures_total",
                "CRL regenerations that failed.",
                &[],
            );
            Err(PublishError::Build(e))
        }
    }
}

fn revoked_certificate(row: &RevocationRow) -> Result<RevokedCertificate, String> {
    let serial = hex::decode(&row.serial).map_err(|e| format!("serial {}: {e}", row.serial))?;
    let time = |t: i64| OffsetDateTime::from_unix_timestamp(t).map_err(|e| e.to_string());
    Ok(RevokedCertificate {
        serial: SerialNumber::new(&serial).map_err(|e| format!("serial {}: {e}", row.serial))?,
        shard: ShardId::new(row.shard),
        not_after: time(row.not_after)?,
        revocation_date: time(row.revoked_at)?,
        reason: CrlReason::from_code(row.reason).filter(|r| *r != CrlReason::Unspecified),
    })
}

/// The background publisher of a served authority: checks every `poll` and whenever a
/// revocation wakes it.
pub async fn run(state: Arc<AppState>, poll: Duration) {
    loop {
        if let Err(e) = publish_if_due(&state).await {
            tracing::error!(error = %e, "CRL publication failed; the last CRLs stay served");
        }
        tokio::select! {
            _ = state.crl_wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
