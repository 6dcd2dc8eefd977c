//! Orders, authorizations and challenges. Status changes that decide something (a challenge
//! leaving `pending`) are conditional updates inside one transaction, so two replicas validating
//! the same challenge cannot both succeed.

use e2ei_acme::Problem;
use e2ei_acme::messages::{AuthorizationStatus, ChallengeStatus, Identifier, OrderStatus};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::Row;

use super::Store;

/// A stored order.
#[derive(Debug, Clone)]
pub struct OrderRow {
    /// Id.
    pub id: String,
    /// Provisioner name.
    pub provisioner: String,
    /// Owning account id.
    pub account_id: String,
    /// Stored status (see [`OrderRow::effective_status`]).
    pub status: OrderStatus,
    /// Identifiers as requested.
    pub identifiers: Vec<Identifier>,
    /// Requested notBefore.
    pub not_before: Option<String>,
    /// Requested notAfter.
    pub not_after: Option<String>,
    /// Why it failed.
    pub error: Option<Problem>,
    /// The validated DPoP proof's claims (`wire-dpop-01`).
    pub dpop_claims: Option<Value>,
    /// The validated, transformed ID-token claims (`wire-oidc-01`).
    pub oidc_claims: Option<Value>,
    /// The issued certificate's id.
    pub certificate_id: Option<String>,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

impl OrderRow {
    /// The status as of `now`: unfinished orders past their expiry are invalid.
    pub fn effective_status(&self, now: i64) -> OrderStatus {
        match self.status {
            OrderStatus::Pending | OrderStatus::Ready if now > self.expires_at => {
                OrderStatus::Invalid
            }
            s => s,
        }
    }
}

/// A stored authorization with its challenges.
#[derive(Debug, Clone)]
pub struct AuthzRow {
    /// Id.
    pub id: String,
    /// Owning order.
    pub order_id: String,
    /// The identifier.
    pub identifier: Identifier,
    /// Stored status.
    pub status: AuthorizationStatus,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Its challenges.
    pub challenges: Vec<ChallengeRow>,
}

impl AuthzRow {
    /// The status as of `now`: pending or valid authorizations past their expiry have expired.
    pub fn effective_status(&self, now: i64) -> AuthorizationStatus {
        match self.status {
            AuthorizationStatus::Pending | AuthorizationStatus::Valid if now > self.expires_at => {
                AuthorizationStatus::Expired
            }
            s => s,
        }
    }
}

/// A stored challenge.
#[derive(Debug, Clone)]
pub struct ChallengeRow {
    /// Id.
    pub id: String,
    /// Owning authorization.
    pub authz_id: String,
    /// `wire-dpop-01`, `http-01`, …
    pub kind: String,
    /// Status.
    pub status: ChallengeStatus,
    /// Token.
    pub token: String,
    /// Wire `target`.
    pub target: Option<String>,
    /// When it passed.
    pub validated_at: Option<i64>,
    /// Why it failed.
    pub error: Option<Problem>,
}

/// An issued certificate.
#[derive(Debug, Clone)]
pub struct CertificateRow {
    /// Id (the last segment of its URL).
    pub id: String,
    /// Provisioner name.
    pub provisioner: String,
    /// The order it completed.
    pub order_id: String,
    /// The account that ordered it.
    pub account_id: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// The PEM chain served: leaf first, no root.
    pub chain_pem: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
}

/// An authorization to create with a new order.
#[derive(Debug, Clone)]
pub struct NewAuthz {
    /// Id.
    pub id: String,
    /// The identifier.
    pub identifier: Identifier,
    /// Challenges: (id, type, token, target).
    pub challenges: Vec<(String, String, String, Option<String>)>,
}

fn name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn from_name<T: DeserializeOwned>(s: &str) -> Result<T, sqlx::Error> {
    serde_json::from_value(Value::String(s.to_owned()))
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn from_json<T: DeserializeOwned>(s: Option<String>) -> Result<Option<T>, sqlx::Error> {
    s.map(|s| serde_json::from_str(&s).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}

fn to_json<T: Serialize>(value: &Option<T>) -> Option<String> {
    value.as_ref().and_then(|v| serde_json::to_string(v).ok())
}

const ORDER_COLUMNS: &str = "id, provisioner, account_id, status, identifiers, not_before, not_after, error, dpop_claims, oidc_claims, certificate_id, expires_at";

fn order_from_row(row: &sqlx::any::AnyRow) -> Result<OrderRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let identifiers: String = row.try_get("identifiers")?;
    Ok(OrderRow {
        id: row.try_get("id")?,
        provisioner: row.try_get("provisioner")?,
        account_id: row.try_get("account_id")?,
        status: from_name(&status)?,
        identifiers: serde_json::from_str(&identifiers)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        error: from_json(row.try_get("error")?)?,
        dpop_claims: from_json(row.try_get("dpop_claims")?)?,
        oidc_claims: from_json(row.try_get("oidc_claims")?)?,
        certificate_id: row.try_get("certificate_id")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn challenge_from_row(row: &sqlx::any::AnyRow) -> Result<ChallengeRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(ChallengeRow {
        id: row.try_get("id")?,
        authz_id: row.try_get("authz_id")?,
        kind: row.try_get("type")?,
        status: from_name(&status)?,
        token: row.try_get("token")?,
        target: row.try_get("target")?,
        validated_at: row.try_get("validated_at")?,
        error: from_json(row.try_get("error")?)?,
    })
}

impl Store {
    /// Creates an order with its authorizations and challenges, all or nothing.
    pub async fn create_order(
        &self,
        order: &OrderRow,
        authzs: &[NewAuthz],
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO orders (id, provisioner, account_id, status, identifiers, not_before, not_after, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&order.id)
        .bind(&order.provisioner)
        .bind(&order.account_id)
        .bind(name(&order.status))
        .bind(serde_json::to_string(&order.identifiers).unwrap_or_default())
        .bind(&order.not_before)
        .bind(&order.not_after)
        .bind(order.expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for authz in authzs {
            sqlx::query(
                "INSERT INTO authorizations (id, order_id, identifier_type, identifier_value, status, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&authz.id)
            .bind(&order.id)
            .bind(&authz.identifier.kind)
            .bind(&authz.identifier.value)
            .bind(name(&AuthorizationStatus::Pending))
            .bind(order.expires_at)
            .execute(&mut *tx)
            .await?;
            for (id, kind, token, target) in &authz.challenges {
                sqlx::query(
                    "INSERT INTO challenges (id, authz_id, type, status, token, target) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(&authz.id)
                .bind(kind)
                .bind(name(&ChallengeStatus::Pending))
                .bind(token)
                .bind(target)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await
    }

    /// The order `id` of `provisioner`.
    pub async fn order(
        &self,
        provisioner: &str,
        id: &str,
    ) -> Result<Option<OrderRow>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE provisioner = $1 AND id = $2"
        ))
        .bind(provisioner)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    /// Ids of an account's orders that are not past their expiry, oldest first.
    pub async fn order_ids_of(
        &self,
        account_id: &str,
        now: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM orders WHERE account_id = $1 AND expires_at >= $2 ORDER BY created_at, id",
        )
        .bind(account_id)
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn challenges_of(&self, authz_ids: &[String]) -> Result<Vec<ChallengeRow>, sqlx::Error> {
        let mut all = Vec::new();
        for authz in authz_ids {
            let rows = sqlx::query("SELECT id, authz_id, type, status, token, target, validated_at, error FROM challenges WHERE authz_id = $1 ORDER BY id")
                .bind(authz)
                .fetch_all(self.db.pool())
                .await?;
            for row in &rows {
                all.push(challenge_from_row(row)?);
            }
        }
        Ok(all)
    }

    fn authz_from_row(
        row: &sqlx::any::AnyRow,
        challenges: &[ChallengeRow],
    ) -> Result<AuthzRow, sqlx::Error> {
        let id: String = row.try_get("id")?;
        let status: String = row.try_get("status")?;
        Ok(AuthzRow {
            challenges: challenges
                .iter()
                .filter(|c| c.authz_id == id)
                .cloned()
                .collect(),
            id,
            order_id: row.try_get("order_id")?,
            identifier: Identifier {
                kind: row.try_get("identifier_type")?,
                value: row.try_get("identifier_value")?,
            },
            status: from_name(&status)?,
            expires_at: row.try_get("expires_at")?,
        })
    }

    /// An order's authorizations, in creation order.
    pub async fn authorizations_of(&self, order_id: &str) -> Result<Vec<AuthzRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, order_id, identifier_type, identifier_value, status, expires_at FROM authorizations WHERE order_id = $1 ORDER BY id",
        )
        .bind(order_id)
        .fetch_all(self.db.pool())
        .await?;
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let challenges = self.challenges_of(&ids).await?;
        rows.iter()
            .map(|r| Self::authz_from_row(r, &challenges))
            .collect()
    }

    /// An authorization with its order.
    pub async fn authorization(
        &self,
        provisioner: &str,
        id: &str,
    ) -> Result<Option<(AuthzRow, OrderRow)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, order_id, identifier_type, identifier_value, status, expires_at FROM authorizations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let challenges = self.challenges_of(&[id.to_owned()]).await?;
        let authz = Self::authz_from_row(&row, &challenges)?;
        Ok(self
            .order(provisioner, &authz.order_id)
            .await?
            .map(|order| (authz, order)))
    }

    /// Records a challenge's outcome if it is still pending: the challenge, its authorization,
    /// the order's status and (on success) the order's validated token data, in one
    /// transaction. Returns false if the challenge was no longer pending.
    pub async fn finish_challenge(
        &self,
        challenge: &ChallengeRow,
        order_id: &str,
        outcome: Result<Option<(&'static str, Value)>, Problem>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        let (status, error) = match &outcome {
            Ok(_) => (ChallengeStatus::Valid, None),
            Err(p) => (ChallengeStatus::Invalid, Some(p.clone())),
        };
        let done = sqlx::query("UPDATE challenges SET status = $1, validated_at = $2, error = $3 WHERE id = $4 AND status = $5")
            .bind(name(&status))
            .bind(if error.is_none() { Some(now) } else { None })
            .bind(to_json(&error))
            .bind(&challenge.id)
            .bind(name(&ChallengeStatus::Pending))
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let authz_status = if error.is_none() {
            AuthorizationStatus::Valid
        } else {
            AuthorizationStatus::Invalid
        };
        sqlx::query("UPDATE authorizations SET status = $1 WHERE id = $2")
            .bind(name(&authz_status))
            .bind(&challenge.authz_id)
            .execute(&mut *tx)
            .await?;
        if let Ok(Some((column, claims))) = &outcome {
            // Column names come from this crate only (`dpop_claims` / `oidc_claims`).
            sqlx::query(&format!("UPDATE orders SET {column} = $1 WHERE id = $2"))
                .bind(claims.to_string())
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
        }
        let statuses: Vec<(String,)> =
            sqlx::query_as("SELECT status FROM authorizations WHERE order_id = $1")
                .bind(order_id)
                .fetch_all(&mut *tx)
                .await?;
        let valid = name(&AuthorizationStatus::Valid);
        let order_status = if statuses
            .iter()
            .any(|(s,)| *s != valid && *s != name(&AuthorizationStatus::Pending))
        {
            Some((OrderStatus::Invalid, error.clone()))
        } else if statuses.iter().all(|(s,)| *s == valid) {
            Some((OrderStatus::Ready, None))
        } else {
            None
        };
        if let Some((status, error)) = order_status {
            sqlx::query("UPDATE orders SET status = $1, error = $2 WHERE id = $3 AND status = $4")
                .bind(name(&status))
                .bind(to_json(&error))
                .bind(order_id)
                .bind(name(&OrderStatus::Pending))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Moves a ready order to `processing`; false if it was not ready (another finalize won).
    pub async fn start_processing(&self, order_id: &str, now: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE orders SET status = $1, processing_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(name(&OrderStatus::Processing))
        .bind(now)
        .bind(order_id)
        .bind(name(&OrderStatus::Ready))
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every order left in `processing` since before `stale_before` becomes `ready` again (see
    /// [`Self::reclaim_stale_processing`]); returns how many.
    pub async fn reclaim_all_stale_processing(
        &self,
        stale_before: i64,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE orders SET status = $1, processing_at = NULL WHERE status = $2 AND certificate_id IS NULL AND (processing_at IS NULL OR processing_at < $3)",
        )
        .bind(name(&OrderStatus::Ready))
        .bind(name(&OrderStatus::Processing))
        .bind(stale_before)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Returns an order left in `processing` since before `stale_before` (its process died
    /// between claiming it and recording the certificate, which was never handed out) to
    /// `ready`; true if it did.
    pub async fn reclaim_stale_processing(
        &self,
        order_id: &str,
        stale_before: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE orders SET status = $1, processing_at = NULL WHERE id = $2 AND status = $3 AND certificate_id IS NULL AND (processing_at IS NULL OR processing_at < $4)",
        )
        .bind(name(&OrderStatus::Ready))
        .bind(order_id)
        .bind(name(&OrderStatus::Processing))
        .bind(stale_before)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a processing order invalid with `error` (issuance failed).
    pub async fn fail_order(&self, order_id: &str, error: &Problem) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE orders SET status = $1, error = $2 WHERE id = $3")
            .bind(name(&OrderStatus::Invalid))
            .bind(serde_json::to_string(error).ok())
            .bind(order_id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Records an issued certificate and completes its order, in one transaction, before the
    /// certificate is handed out.
    pub async fn record_certificate(
        &self,
        cert: &CertificateRow,
        subject: &super::CertificateSubject,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO certificates (id, provisioner, order_id, account_id, serial, chain_pem, not_after, created_at, shard, client_id, handle) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&cert.id)
        .bind(&cert.provisioner)
        .bind(&cert.order_id)
        .bind(&cert.account_id)
        .bind(&cert.serial)
        .bind(&cert.chain_pem)
        .bind(cert.not_after)
        .bind(now)
        .bind(i64::from(subject.shard))
        .bind(subject.client_id.as_deref())
        .bind(subject.handle.as_deref())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE orders SET status = $1, certificate_id = $2 WHERE id = $3")
            .bind(name(&OrderStatus::Valid))
            .bind(&cert.id)
            .bind(&cert.order_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// A certificate of `provisioner`.
    pub async fn certificate(
        &self,
        provisioner: &str,
        id: &str,
    ) -> Result<Option<CertificateRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, provisioner, order_id, account_id, serial, chain_pem, not_after FROM certificates WHERE provisioner = $1 AND id = $2",
        )
        .bind(provisioner)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| {
            Ok(CertificateRow {
                id: row.try_get("id")?,
                provisioner: row.try_get("provisioner")?,
                order_id: row.try_get("order_id")?,
                account_id: row.try_get("account_id")?,
                serial: row.try_get("serial")?,
                chain_pem: row.try_get("chain_pem")?,
                not_after: row.try_get("not_after")?,
            })
        })
        .transpose()
    }

    /// A certificate of `provisioner` by serial (lowercase hex), with its revocation state.
    pub async fn certificate_by_serial(
        &self,
        provisioner: &str,
        serial: &str,
    ) -> Result<Option<(CertificateRow, bool)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, provisioner, order_id, account_id, serial, chain_pem, not_after, revoked_at FROM certificates WHERE provisioner = $1 AND serial = $2",
        )
        .bind(provisioner)
        .bind(serial)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|row| {
            let revoked: Option<i64> = row.try_get("revoked_at")?;
            Ok((
                CertificateRow {
                    id: row.try_get("id")?,
                    provisioner: row.try_get("provisioner")?,
                    order_id: row.try_get("order_id")?,
                    account_id: row.try_get("account_id")?,
                    serial: row.try_get("serial")?,
                    chain_pem: row.try_get("chain_pem")?,
                    not_after: row.try_get("not_after")?,
                },
                revoked.is_some(),
            ))
        })
        .transpose()
    }

    /// Revokes a certificate with an RFC 5280 reason code; false if it already was revoked.
    pub async fn revoke_certificate(
        &self,
        id: &str,
        reason: u8,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(i64::from(reason))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        // The CRL publisher sees that a revocation awaits publication.
        sqlx::query("UPDATE crl_state SET revocations = revocations + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deactivates an authorization (and so invalidates its pending order).
    pub async fn deactivate_authorization(&self, authz: &AuthzRow) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE authorizations SET status = $1 WHERE id = $2")
            .bind(name(&AuthorizationStatus::Deactivated))
            .bind(&authz.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE orders SET status = $1 WHERE id = $2 AND status IN ($3, $4)")
            .bind(name(&OrderStatus::Invalid))
            .bind(&authz.order_id)
            .bind(name(&OrderStatus::Pending))
            .bind(name(&OrderStatus::Ready))
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}
