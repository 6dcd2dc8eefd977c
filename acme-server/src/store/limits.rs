//! Rate-limit counting and the ARI replacement link, in the shared database so that every
//! replica sees the same counts.

use std::sync::atomic::Ordering;

use sqlx::Row;

use super::Store;

/// The outcome of counting a request against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Counted; go on.
    Allowed,
    /// Over the limit; the oldest counted request leaves the window in this many seconds.
    Limited {
        /// Seconds until a request is allowed again.
        retry_after: i64,
    },
}

impl Store {
    /// Counts one `kind` request by `subject` if fewer than `limit` were counted in the last
    /// `period` seconds. Replicas check and insert without a lock between them, so a burst
    /// spread over replicas may pass the limit by at most one request per replica.
    pub async fn count_rate(
        &self,
        kind: &str,
        subject: &str,
        limit: u32,
        period: i64,
        now: i64,
    ) -> Result<RateVerdict, sqlx::Error> {
        let since = now - period;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM rate_events WHERE kind = $1 AND subject = $2 AND at > $3",
        )
        .bind(kind)
        .bind(subject)
        .bind(since)
        .fetch_one(self.db.pool())
        .await?;
        let count: i64 = row.try_get("n")?;
        if count >= i64::from(limit) {
            let oldest: Option<i64> = row.try_get("oldest")?;
            let retry_after = oldest.map_or(period, |o| o + period - now).max(1);
            return Ok(RateVerdict::Limited { retry_after });
        }
        sqlx::query("INSERT INTO rate_events (kind, subject, at) VALUES ($1, $2, $3)")
            .bind(kind)
            .bind(subject)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        // Sweep now and then; a row older than its own period no longer counts.
        if self.issued.fetch_add(1, Ordering::Relaxed) % 256 == 0 {
            sqlx::query("DELETE FROM rate_events WHERE kind = $1 AND at <= $2")
                .bind(kind)
                .bind(since)
                .execute(self.db.pool())
                .await?;
        }
        Ok(RateVerdict::Allowed)
    }

    /// Marks certificate `id` as replaced by `order_id`; false if it already was (RFC 9773 §5
    /// `alreadyReplaced`). One conditional update, so two orders cannot both replace it.
    pub async fn mark_replaced(&self, id: &str, order_id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE certificates SET replaced_by = $1 WHERE id = $2 AND replaced_by IS NULL",
        )
        .bind(order_id)
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// When certificate `id` was revoked, if it was.
    pub async fn revoked_at(&self, id: &str) -> Result<Option<i64>, sqlx::Error> {
        let row = sqlx::query("SELECT revoked_at FROM certificates WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row
            .map(|r| r.try_get::<Option<i64>, _>("revoked_at"))
            .transpose()?
            .flatten())
    }
}
