//! Shared requests-per-minute accounting between instances (`rate_usage`).

use super::{Store, StoreError};
use sqlx::Row;

/// One instance's running total of admitted requests for one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateTotal {
    pub instance_id: String,
    pub user_id: String,
    pub total: i64,
    pub rpm: u32,
}

/// Rows untouched this long belong to instances that stopped; they are deleted.
const STALE_MS: i64 = 10 * 60_000;

impl Store {
    /// Publishes this instance's totals (one transaction) and deletes stale rows.
    pub async fn publish_rate_totals(&self, totals: &[RateTotal], now_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for t in totals {
            sqlx::query(
                "INSERT INTO rate_usage (instance_id, user_id, total, rpm, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (instance_id, user_id) DO UPDATE SET total = excluded.total, rpm = excluded.rpm, \
                 updated_at = excluded.updated_at",
            )
            .bind(&t.instance_id)
            .bind(&t.user_id)
            .bind(t.total)
            .bind(i64::from(t.rpm))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM rate_usage WHERE updated_at < $1").bind(now_ms - STALE_MS).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Other instances' totals changed at or after `since_ms`.
    pub async fn rate_totals_changed_since(
        &self,
        instance_id: &str,
        since_ms: i64,
    ) -> Result<Vec<RateTotal>, StoreError> {
        let rows = sqlx::query(
            "SELECT instance_id, user_id, total, rpm FROM rate_usage WHERE updated_at >= $1 AND instance_id <> $2",
        )
        .bind(since_ms)
        .bind(instance_id)
        .fetch_all(&self.pool)
        .await?;
        let total = |r: &sqlx::any::AnyRow| -> Result<RateTotal, sqlx::Error> {
            Ok(RateTotal {
                instance_id: r.try_get("instance_id")?,
                user_id: r.try_get("user_id")?,
                total: r.try_get("total")?,
                rpm: u32::try_from(r.try_get::<i64, _>("rpm")?).unwrap_or(u32::MAX),
            })
        };
        Ok(rows.iter().map(total).collect::<Result<_, _>>()?)
    }
}
