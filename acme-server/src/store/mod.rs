//! The authority's storage: ACME nonces and accounts, over e2ei-sqlstore (SQLite or PostgreSQL).
//! Nonces are rows redeemed with one `DELETE`, so each is single-use across replicas.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_acme::messages::AccountStatus;
use e2ei_core::jwk::Jwk;
use e2ei_sqlstore::{Db, Migration};
use sqlx::Row;

mod crls;
mod limits;
mod orders;

pub use crls::{
    CertificateKey, CertificateSubject, PublishOutcome, RevocationRow, RevokeOutcome, StoredCrl,
};
pub use limits::RateVerdict;
pub use orders::{AuthzRow, CertificateRow, ChallengeRow, NewAuthz, OrderRow};

/// The authority's migrations.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts",
        sql: include_str!("../../migrations/0001_accounts.sql"),
    },
    Migration {
        version: 2,
        name: "orders",
        sql: include_str!("../../migrations/0002_orders.sql"),
    },
    Migration {
        version: 3,
        name: "certificates",
        sql: include_str!("../../migrations/0003_certificates.sql"),
    },
    Migration {
        version: 4,
        name: "limits_renewal",
        sql: include_str!("../../migrations/0004_limits_renewal.sql"),
    },
    Migration {
        version: 5,
        name: "crls",
        sql: include_str!("../../migrations/0005_crls.sql"),
    },
];

/// Random bytes as unpadded base64url (nonces, ids).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // aws-lc's generator does not fail in practice; an all-zero value would only collide.
    let _ = aws_lc_rs::rand::fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A stored account.
#[derive(Debug, Clone)]
pub struct AccountRow {
    /// Id (the last segment of the account URL).
    pub id: String,
    /// Provisioner name.
    pub provisioner: String,
    /// The account key.
    pub jwk: Jwk,
    /// Status.
    pub status: AccountStatus,
    /// Contact URLs.
    pub contact: Vec<String>,
    /// Terms agreed.
    pub terms_agreed: bool,
}

/// Storage.
#[derive(Debug)]
pub struct Store {
    db: Db,
    nonce_ttl: i64,
    issued: AtomicU64,
}

fn status_name(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Valid => "valid",
        AccountStatus::Deactivated => "deactivated",
        AccountStatus::Revoked => "revoked",
    }
}

fn parse_status(s: &str) -> AccountStatus {
    match s {
        "valid" => AccountStatus::Valid,
        "deactivated" => AccountStatus::Deactivated,
        _ => AccountStatus::Revoked,
    }
}

impl Store {
    /// Connects to `url`, migrating; nonces live `nonce_ttl` seconds.
    pub async fn connect(url: &str, nonce_ttl: i64) -> Result<Self, sqlx::Error> {
        Ok(Self {
            db: Db::connect(url, MIGRATIONS).await?,
            nonce_ttl,
            issued: AtomicU64::new(0),
        })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(self.db.pool()).await?;
        Ok(())
    }

    /// Issues a fresh nonce (128 random bits).
    pub async fn issue_nonce(&self, now: i64) -> Result<String, sqlx::Error> {
        let nonce = random_token(16);
        sqlx::query("INSERT INTO acme_nonces (nonce, created_at) VALUES ($1, $2)")
            .bind(&nonce)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        // Sweep expired nonces now and then rather than on every request.
        if self.issued.fetch_add(1, Ordering::Relaxed) % 256 == 0 {
            sqlx::query("DELETE FROM acme_nonces WHERE created_at < $1")
                .bind(now - self.nonce_ttl)
                .execute(self.db.pool())
                .await?;
        }
        Ok(nonce)
    }

    /// Redeems a nonce: true exactly once for a nonce issued within the TTL.
    pub async fn redeem_nonce(&self, nonce: &str, now: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM acme_nonces WHERE nonce = $1 AND created_at >= $2")
            .bind(nonce)
            .bind(now - self.nonce_ttl)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    fn account_from_row(row: &sqlx::any::AnyRow) -> Result<AccountRow, sqlx::Error> {
        let jwk: String = row.try_get("jwk")?;
        let contact: String = row.try_get("contact")?;
        let status: String = row.try_get("status")?;
        Ok(AccountRow {
            id: row.try_get("id")?,
            provisioner: row.try_get("provisioner")?,
            jwk: Jwk::from_json(&jwk).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            status: parse_status(&status),
            contact: serde_json::from_str(&contact)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            terms_agreed: row.try_get::<i64, _>("terms_agreed")? != 0,
        })
    }

    /// The account of `provisioner` with key `jwk`.
    pub async fn account_by_key(
        &self,
        provisioner: &str,
        jwk: &Jwk,
    ) -> Result<Option<AccountRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, provisioner, jwk, status, contact, terms_agreed FROM accounts WHERE provisioner = $1 AND thumbprint = $2",
        )
        .bind(provisioner)
        .bind(jwk.thumbprint_sha256().as_str())
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(Self::account_from_row).transpose()
    }

    /// The account `id` of `provisioner`.
    pub async fn account(
        &self,
        provisioner: &str,
        id: &str,
    ) -> Result<Option<AccountRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, provisioner, jwk, status, contact, terms_agreed FROM accounts WHERE provisioner = $1 AND id = $2",
        )
        .bind(provisioner)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(Self::account_from_row).transpose()
    }

    /// Creates an account; `Ok(None)` if another request created one for this key meanwhile.
    pub async fn create_account(
        &self,
        account: &AccountRow,
        eab_kid: Option<&str>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "INSERT INTO accounts (id, provisioner, jwk, thumbprint, status, contact, terms_agreed, eab_kid, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&account.id)
        .bind(&account.provisioner)
        .bind(account.jwk.canonical_json())
        .bind(account.jwk.thumbprint_sha256().as_str())
        .bind(status_name(account.status))
        .bind(serde_json::to_string(&account.contact).unwrap_or_else(|_| "[]".into()))
        .bind(i64::from(account.terms_agreed))
        .bind(eab_kid)
        .bind(now)
        .execute(self.db.pool())
        .await;
        match result {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores an account's contact, terms agreement and status.
    pub async fn update_account(&self, account: &AccountRow) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE accounts SET contact = $1, terms_agreed = $2, status = $3 WHERE provisioner = $4 AND id = $5")
            .bind(serde_json::to_string(&account.contact).unwrap_or_else(|_| "[]".into()))
            .bind(i64::from(account.terms_agreed))
            .bind(status_name(account.status))
            .bind(&account.provisioner)
            .bind(&account.id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Replaces an account's key; false if another account of the provisioner holds it.
    pub async fn change_key(
        &self,
        account: &AccountRow,
        new_key: &Jwk,
    ) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "UPDATE accounts SET jwk = $1, thumbprint = $2 WHERE provisioner = $3 AND id = $4",
        )
        .bind(new_key.canonical_json())
        .bind(new_key.thumbprint_sha256().as_str())
        .bind(&account.provisioner)
        .bind(&account.id)
        .execute(self.db.pool())
        .await;
        match result {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }
}
