//! Certificate revocations the backend asks of the identity authority (deprovisioning through
//! SCIM, a user removing a device): an outbox in the backend's database and a worker that delivers it to the authority's
//! admin API (`POST {authority}/admin/revocations` with `{"client_id", "reason"}`).
//!
//! Deprovisioning writes one outbox row per device in the same transaction that deletes the
//! devices, then wakes the worker. The worker posts each due row; the row goes once the
//! authority answers that the device's certificates are revoked, were already, or never
//! existed (404). Anything else (authority down, 5xx, refused token) keeps the row and retries
//! with backoff, so a crash or an outage delays a revocation but never loses it. Several
//! replicas may deliver the same row: revocation is idempotent at the authority.

use std::sync::Arc;
use std::time::Duration;

use e2ei_core::id::ClientId;
use e2ei_signer::SecretString;
use serde_json::{Value, json};
use sqlx::Row;
use tokio::sync::Notify;

use crate::app::AppState;
use crate::error::ApiError;

/// The reason given for deprovisioning revocations (RFC 5280 `affiliationChanged`: the user
/// left the organisation or was suspended by it).
pub const DEPROVISIONING_REASON: &str = "affiliationChanged";

/// The reason given when a user removes one of their devices (RFC 5280
/// `cessationOfOperation`: the device no longer operates).
pub const DEVICE_REMOVED_REASON: &str = "cessationOfOperation";

/// Rows handled per delivery round.
const BATCH: i64 = 100;
/// First retry delay; doubles per failed attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// The worker also looks for due rows this often when nobody wakes it.
const POLL: Duration = Duration::from_secs(30);

/// The authority's admin API, from `[revocation]`.
pub struct AuthorityClient {
    url: String,
    token: SecretString,
    http: reqwest::Client,
}

impl AuthorityClient {
    /// A client for `{authority}/admin/revocations` with this bearer token.
    pub fn new(authority: &str, token: SecretString, http: reqwest::Client) -> Self {
        Self {
            url: format!("{}/admin/revocations", authority.trim_end_matches('/')),
            token,
            http,
        }
    }

    /// Asks the authority to revoke every certificate of `client`.
    async fn revoke_client(&self, client: &str, reason: &str) -> Result<(), String> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.token.expose())
            .json(&json!({ "client_id": client, "reason": reason }))
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.url))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let kind = body["type"].as_str().unwrap_or_default();
        match status {
            200 => Ok(()),
            // No certificate was ever issued for this device: nothing to revoke.
            404 if kind.starts_with("urn:ietf:params:acme:error:") => Ok(()),
            400 if kind == "urn:ietf:params:acme:error:alreadyRevoked" => Ok(()),
            _ => Err(format!(
                "authority answered {status} {kind}: {}",
                body["detail"].as_str().unwrap_or("no detail")
            )),
        }
    }
}

/// The outbox's delivery side, shared by handlers (to wake it) and the worker.
#[derive(Default)]
pub struct Revocations {
    /// Where revocations go; none: rows wait until an authority is configured.
    pub authority: Option<AuthorityClient>,
    /// Wakes the worker after a deprovisioning committed rows.
    pub wake: Arc<Notify>,
}

/// Queues revocation of every certificate of these devices, inside the caller's transaction.
pub async fn queue(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    clients: &[ClientId],
    reason: &str,
    now: i64,
) -> Result<(), ApiError> {
    for client in clients {
        sqlx::query(
            "INSERT INTO revocation_outbox (id, client_uri, reason, created_at, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, 0, $4)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(client.to_uri())
        .bind(reason)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// What one delivery round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Rows the authority confirmed (revoked, already revoked, or no certificate).
    pub delivered: u64,
    /// Rows that failed and wait for a retry.
    pub failed: u64,
}

/// Delivers the due rows once.
pub async fn deliver_due(state: &AppState) -> Result<DeliveryReport, ApiError> {
    let mut report = DeliveryReport::default();
    let Some(authority) = &state.revocations.authority else {
        return Ok(report);
    };
    let now = state.now();
    let rows = sqlx::query(
        "SELECT id, client_uri, reason, attempts FROM revocation_outbox \
         WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
    )
    .bind(now)
    .bind(BATCH)
    .fetch_all(state.db.pool())
    .await?;
    for row in rows {
        let id: String = row.try_get("id")?;
        let client: String = row.try_get("client_uri")?;
        let reason: String = row.try_get("reason")?;
        let attempts: i64 = row.try_get("attempts")?;
        match authority.revoke_client(&client, &reason).await {
            Ok(()) => {
                sqlx::query("DELETE FROM revocation_outbox WHERE id = $1")
                    .bind(&id)
                    .execute(state.db.pool())
                    .await?;
                state.metrics.revocation_delivered();
                tracing::info!(client = %client, reason = %reason, "certificates revoked at the authority");
                report.delivered += 1;
            }
            Err(error) => {
                let delay = backoff(attempts);
                sqlx::query(
                    "UPDATE revocation_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 \
                     WHERE id = $1",
                )
                .bind(&id)
                .bind(now + delay.as_secs() as i64)
                .bind(&error)
                .execute(state.db.pool())
                .await?;
                tracing::warn!(client = %client, attempts = attempts + 1, retry_in_s = delay.as_secs(), %error, "revocation not delivered");
                state.metrics.revocation_failed();
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// The delay before attempt `attempts + 1`.
fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(MAX_BACKOFF)
}

/// Rows not yet delivered (a gauge for `/metrics` and for operators).
pub async fn pending(state: &AppState) -> Result<i64, ApiError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM revocation_outbox")
        .fetch_one(state.db.pool())
        .await?;
    Ok(n)
}

/// The worker: delivers when woken by a deprovisioning and every [`POLL`] otherwise.
pub async fn deliver_forever(state: Arc<AppState>) {
    if state.revocations.authority.is_none() {
        tracing::warn!(
            "no [revocation] authority configured: SCIM deprovisioning queues certificate \
             revocations but cannot deliver them"
        );
        return;
    }
    let wake = state.revocations.wake.clone();
    loop {
        loop {
            match deliver_due(&state).await {
                // A full batch went through: there may be more due right away.
                Ok(report)
                    if report.delivered + report.failed >= BATCH as u64 && report.failed == 0 => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(label = e.label(), "revocation outbox round failed");
                    break;
                }
            }
        }
        let _ = tokio::time::timeout(POLL, wake.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_at_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(5));
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(3), Duration::from_secs(40));
        assert_eq!(backoff(20), MAX_BACKOFF);
        assert_eq!(backoff(-1), Duration::from_secs(5));
    }
}
