//! CRL publication state: revoked certificates as the publisher reads them, the published CRLs
//! (one per shard), and the counter comparison that says whether a revocation awaits
//! publication. Regeneration is one write transaction under a leader lock (a PostgreSQL
//! advisory lock; SQLite's write lock), so replicas never publish two CRLs with one number, the
//! number never goes back, and a crash mid-way leaves the last good CRLs in place.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use e2ei_sqlstore::DbKind;
use sqlx::Row;

use super::Store;

/// Who a certificate is for and where its revocation is published, recorded at issuance.
#[derive(Debug, Clone, Default)]
pub struct CertificateSubject {
    /// The CRL shard baked into its distribution point.
    pub shard: u32,
    /// Wire client id URI (canonical `!` form), for Wire leaves.
    pub client_id: Option<String>,
    /// Wire handle URI, for Wire leaves.
    pub handle: Option<String>,
}

/// A revoked certificate as the publisher reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRow {
    /// Serial, lowercase hex of the DER INTEGER contents.
    pub serial: String,
    /// Its shard.
    pub shard: u32,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// When it was revoked, Unix seconds.
    pub revoked_at: i64,
    /// RFC 5280 reason code.
    pub reason: u8,
}

/// A published CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCrl {
    /// Shard.
    pub shard: u32,
    /// cRLNumber.
    pub crl_number: u64,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: i64,
    /// The DER bytes every replica serves.
    pub der: Vec<u8>,
    /// Entity tag of the bytes.
    pub etag: String,
}

/// What one publication attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored these CRLs.
    Published(Vec<StoredCrl>),
    /// Another replica is publishing right now.
    Busy,
}

/// The PostgreSQL advisory-lock class of the CRL leader ("e2ei"); the other half of the key is
/// the schema's hash, so authorities in different schemas of one database do not wait for
/// each other.
const CRL_LOCK: i32 = 0x6532_6569;

/// One certificate a revocation request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeOutcome {
    /// Certificate id.
    pub id: String,
    /// Serial (hex).
    pub serial: String,
    /// Its provisioner.
    pub provisioner: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Whether it was revoked before this request.
    pub already_revoked: bool,
}

fn decode_err(e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

fn crl_from_row(row: &sqlx::any::AnyRow) -> Result<StoredCrl, sqlx::Error> {
    let der: String = row.try_get("der_b64")?;
    Ok(StoredCrl {
        shard: u32::try_from(row.try_get::<i64, _>("shard")?).map_err(decode_err)?,
        crl_number: u64::try_from(row.try_get::<i64, _>("crl_number")?).map_err(decode_err)?,
        this_update: row.try_get("this_update")?,
        next_update: row.try_get("next_update")?,
        der: STANDARD.decode(der).map_err(decode_err)?,
        etag: row.try_get("etag")?,
    })
}

impl Store {
    /// The published CRL of `shard`.
    pub async fn crl(&self, shard: u32) -> Result<Option<StoredCrl>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT shard, crl_number, this_update, next_update, der_b64, etag FROM crls WHERE shard = $1",
        )
        .bind(i64::from(shard))
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(crl_from_row).transpose()
    }

    /// Whether the CRLs must be made anew at `now`: a revocation awaits publication, none has
    /// been published, or the oldest was made at least `refresh_after` seconds ago.
    pub async fn crl_publication_due(
        &self,
        now: i64,
        refresh_after: i64,
    ) -> Result<bool, sqlx::Error> {
        let state = sqlx::query(
            "SELECT revocations, published_revocations, (SELECT MIN(this_update) FROM crls) AS oldest FROM crl_state WHERE id = 1",
        )
        .fetch_one(self.db.pool())
        .await?;
        let revocations: i64 = state.try_get("revocations")?;
        let published: i64 = state.try_get("published_revocations")?;
        let oldest: Option<i64> = state.try_get("oldest")?;
        Ok(revocations > published || oldest.is_none_or(|t| t + refresh_after <= now))
    }

    /// Regenerates every CRL in one transaction, as leader: `make` receives the last CRL number
    /// and the revocations still to be listed at `now` (those whose notAfter is later than
    /// `listed_since`) and returns the CRLs to store, numbered above the last one. `Busy` when
    /// another replica holds the lock; an error from `make` rolls everything back.
    pub async fn publish_crls<E>(
        &self,
        listed_since: i64,
        make: impl FnOnce(u64, Vec<RevocationRow>) -> Result<Vec<StoredCrl>, E>,
    ) -> Result<Result<PublishOutcome, E>, sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        if self.db.kind() == DbKind::Postgres {
            let locked: bool = sqlx::query(
                "SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema())) AS locked",
            )
            .bind(CRL_LOCK)
            .fetch_one(&mut *tx)
            .await?
            .try_get("locked")?;
            if !locked {
                tx.rollback().await?;
                return Ok(Ok(PublishOutcome::Busy));
            }
        }
        // The counter first: a revocation committed after this read stays "awaiting".
        let state = sqlx::query("SELECT last_number, revocations FROM crl_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let last_number: i64 = state.try_get("last_number")?;
        let revocations: i64 = state.try_get("revocations")?;
        let rows = sqlx::query(
            "SELECT serial, shard, not_after, revoked_at, revocation_reason FROM certificates WHERE revoked_at IS NOT NULL AND not_after > $1",
        )
        .bind(listed_since)
        .fetch_all(&mut *tx)
        .await?;
        let mut revoked = Vec::with_capacity(rows.len());
        for row in &rows {
            revoked.push(RevocationRow {
                serial: row.try_get("serial")?,
                shard: u32::try_from(row.try_get::<i64, _>("shard")?).map_err(decode_err)?,
                not_after: row.try_get("not_after")?,
                revoked_at: row.try_get("revoked_at")?,
                reason: u8::try_from(
                    row.try_get::<Option<i64>, _>("revocation_reason")?
                        .unwrap_or(0),
                )
                .unwrap_or(0),
            });
        }
        let crls = match make(u64::try_from(last_number).unwrap_or(0), revoked) {
            Ok(crls) => crls,
            Err(e) => {
                // Rolled back now, not when the pooled connection is next used: until then it
                // would still hold the leader lock. The last good CRLs stay.
                tx.rollback().await?;
                return Ok(Err(e));
            }
        };
        let mut highest = last_number;
        for crl in &crls {
            let number = i64::try_from(crl.crl_number).map_err(decode_err)?;
            if number <= last_number {
                return Err(sqlx::Error::Protocol(format!(
                    "CRL number {number} does not advance past {last_number}"
                )));
            }
            highest = highest.max(number);
            sqlx::query("DELETE FROM crls WHERE shard = $1")
                .bind(i64::from(crl.shard))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO crls (shard, crl_number, this_update, next_update, der_b64, etag) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(i64::from(crl.shard))
            .bind(number)
            .bind(crl.this_update)
            .bind(crl.next_update)
            .bind(STANDARD.encode(&crl.der))
            .bind(&crl.etag)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE crl_state SET last_number = $1, published_revocations = $2 WHERE id = 1",
        )
        .bind(highest)
        .bind(revocations)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(PublishOutcome::Published(crls)))
    }

    /// The certificates a revocation names: by serial (hex), by Wire client id, or by handle;
    /// whether each is revoked already.
    pub async fn certificates_named(
        &self,
        column: CertificateKey,
        value: &str,
    ) -> Result<Vec<RevokeOutcome>, sqlx::Error> {
        let column = match column {
            CertificateKey::Serial => "serial",
            CertificateKey::ClientId => "client_id",
            CertificateKey::Handle => "handle",
        };
        // `column` is one of three constants above.
        let rows = sqlx::query(&format!(
            "SELECT id, serial, provisioner, not_after, revoked_at FROM certificates WHERE {column} = $1 ORDER BY created_at"
        ))
        .bind(value)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RevokeOutcome {
                    id: row.try_get("id")?,
                    serial: row.try_get("serial")?,
                    provisioner: row.try_get("provisioner")?,
                    not_after: row.try_get("not_after")?,
                    already_revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                })
            })
            .collect()
    }
}

/// How a revocation names certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateKey {
    /// Serial number (hex).
    Serial,
    /// Wire client id URI.
    ClientId,
    /// Wire handle URI (every device of the user).
    Handle,
}
