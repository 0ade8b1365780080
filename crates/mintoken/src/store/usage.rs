//! Usage records: batched inserts, and the reads tests and analytics need.

use super::{Store, StoreError, flag};
use crate::metering::UsageRecord;
use crate::metering::quota::month_start_ms;
use sqlx::Row;

/// How the usage writer runs a batch on SQLite, where its statements hold a core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// One row per statement, and the core given up after each: while SQLite runs a
    /// statement, a request waiting for that core on a small machine waits for all of
    /// it. With 32 rows the p99 at concurrency 1 on one core was ~50–150 µs worse than
    /// with 8, and one row did better than 8 again (docs/BENCHMARKS.md).
    GiveWay,
    /// The writer has fallen behind (a saturated instance): statements of up to 64 rows,
    /// and the core kept. Giving the core up after every row, a writer sharing it with
    /// busy request workers got it back a slice later, stored fewer rows than were
    /// served, and its queue overflowed (docs/BENCHMARKS.md).
    CatchUp,
}

/// Rows per `INSERT` statement, largest first: a batch is cut into chunks of these
/// sizes, so at most three statement texts exist per backend and all stay prepared.
const CHUNK_SIZES: [usize; 3] = [64, 8, 1];

/// The chunk sizes a batch is cut into. Many rows per statement on PostgreSQL, whose work
/// runs in the server's processes: there each statement is a network round trip, and
/// 8-row statements made a 512-row batch 64 of them. On SQLite, as the pace says.
const fn usage_chunk_sizes(backend: super::Backend, pace: Pace) -> &'static [usize] {
    match (backend, pace) {
        (super::Backend::Sqlite, Pace::GiveWay) => &[1],
        _ => &CHUNK_SIZES,
    }
}
const USAGE_COLUMNS: usize = 21;

/// The `INSERT INTO usage_events … VALUES (…), (…)` statement for `rows` rows (one of
/// [`CHUNK_SIZES`]), built once. Placeholders are positional `?` on SQLite (numbered
/// ones make SQLite look each name up, quadratic in their number) and `$n` on PostgreSQL.
pub(super) fn insert_usage_sql(backend: super::Backend, rows: usize) -> &'static str {
    use std::sync::OnceLock;
    static SQL: [[OnceLock<String>; 3]; 2] = [const { [const { OnceLock::new() }; 3] }; 2];
    let size = CHUNK_SIZES.iter().position(|&n| n == rows).unwrap_or(CHUNK_SIZES.len() - 1);
    let postgres = backend == super::Backend::Postgres;
    SQL[usize::from(postgres)][size].get_or_init(|| {
        use std::fmt::Write;
        let mut sql = String::from(
            "INSERT INTO usage_events (request_id, created_at, user_id, key_id, provider, model, endpoint, \
             intensity, intensity_reason, status, input_tokens, output_tokens, skill_tokens, \
             context_tokens_before, context_tokens_after, duration_ms, upstream_ms, streamed, usage_source, holdout, org_id) VALUES ",
        );
        for row in 0..CHUNK_SIZES[size] {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for column in 0..USAGE_COLUMNS {
                sql.push_str(if column == 0 { "" } else { ", " });
                if postgres {
                    let _ = write!(sql, "${}", row * USAGE_COLUMNS + column + 1);
                } else {
                    sql.push('?');
                }
            }
            sql.push(')');
        }
        sql
    })
}

/// Cuts `batch` into chunks of the [`usage_chunk_sizes`] of `backend`, each at the pace
/// `pace` gives for the rows still to write (asked again before every chunk, so a writer
/// that falls behind in the middle of a batch catches up at once), with that pace.
pub(super) fn usage_chunks<T>(
    backend: super::Backend,
    mut pace: impl FnMut(usize) -> Pace,
    mut batch: &[T],
) -> impl Iterator<Item = (Pace, &[T])> {
    std::iter::from_fn(move || {
        let pace = pace(batch.len());
        let size = usage_chunk_sizes(backend, pace).iter().copied().find(|&n| n <= batch.len())?;
        let (chunk, rest) = batch.split_at(size);
        batch = rest;
        Some((pace, chunk))
    })
}

/// Receives a usage row's columns in [`insert_usage_sql`]'s order: each driver binds
/// them its own way, from this one list.
pub(super) trait UsageColumns<'r> {
    fn text(&mut self, value: &'r str);
    fn optional_text(&mut self, value: Option<&'r str>);
    fn int(&mut self, value: i64);
    fn optional_int(&mut self, value: Option<i64>);
}

pub(super) fn usage_columns<'r>(r: &'r UsageRecord, to: &mut impl UsageColumns<'r>) {
    to.text(&r.request_id);
    to.int(r.created_at);
    to.text(&r.user_id);
    to.text(&r.key_id);
    to.text(r.provider);
    to.text(&r.model);
    to.text(r.endpoint);
    to.text(r.intensity.as_str());
    to.text(r.intensity_reason.as_str());
    to.int(i64::from(r.status));
    to.int(r.input_tokens);
    to.int(r.output_tokens);
    to.int(r.skill_tokens);
    to.optional_int(r.context_tokens_before);
    to.optional_int(r.context_tokens_after);
    to.int(r.duration_ms);
    to.int(r.upstream_ms);
    to.int(flag(r.streamed));
    to.text(r.usage_source.as_str());
    to.int(flag(r.holdout));
    to.optional_text(r.org_id.as_deref());
}

/// Adds a batch's output tokens to its accounts' month (`$1` account, `$2` month start,
/// `$3` tokens, `$4` now).
pub(super) const ADD_QUOTA_USAGE_SQL: &str = "INSERT INTO quota_usage (user_id, month_start, output_tokens, updated_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, month_start) DO UPDATE SET \
     output_tokens = quota_usage.output_tokens + excluded.output_tokens, updated_at = excluded.updated_at";

/// Moves a key's `last_used_at` forward, never back (`$1` and `$3` the time, `$2` the key).
pub(super) const KEY_LAST_USED_SQL: &str =
    "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)";

/// Each key's latest use in `batch`.
pub(super) fn keys_last_used(batch: &[UsageRecord]) -> Vec<(&str, i64)> {
    let mut last_use: Vec<(&str, i64)> = Vec::new();
    for r in batch {
        match last_use.iter_mut().find(|(k, _)| *k == r.key_id) {
            Some((_, t)) => *t = (*t).max(r.created_at),
            None => last_use.push((&r.key_id, r.created_at)),
        }
    }
    last_use
}

/// The output tokens `batch` adds to each account's month: (account, month start, tokens).
pub(super) fn quota_added(batch: &[UsageRecord]) -> Vec<(&str, i64, i64)> {
    let mut quota: Vec<(&str, i64, i64)> = Vec::new();
    for r in batch {
        let month = month_start_ms(r.created_at);
        match quota.iter_mut().find(|(a, m, _)| *a == r.account_id() && *m == month) {
            Some((_, _, tokens)) => *tokens += r.output_tokens,
            None => quota.push((r.account_id(), month, r.output_tokens)),
        }
    }
    quota
}

/// Binds usage columns to an sqlx query.
struct SqlxColumns<'q>(Option<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>>);

impl<'q> SqlxColumns<'q> {
    fn bind<T: sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + 'q>(&mut self, value: T) {
        self.0 = self.0.take().map(|query| query.bind(value));
    }
}

impl<'q> UsageColumns<'q> for SqlxColumns<'q> {
    fn text(&mut self, value: &'q str) {
        self.bind(value);
    }
    fn optional_text(&mut self, value: Option<&'q str>) {
        self.bind(value);
    }
    fn int(&mut self, value: i64) {
        self.bind(value);
    }
    fn optional_int(&mut self, value: Option<i64>) {
        self.bind(value);
    }
}

impl Store {
    /// Writes a batch in one transaction, moves each key's `last_used_at` forward and adds
    /// the batch's output tokens to `quota_usage` (per account and month).
    pub async fn insert_usage(&self, batch: &[UsageRecord]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (_, rows) in usage_chunks(self.backend, |_| Pace::GiveWay, batch) {
            let mut insert =
                SqlxColumns(Some(sqlx::query(sqlx::AssertSqlSafe(insert_usage_sql(self.backend, rows.len())))));
            for r in rows {
                usage_columns(r, &mut insert);
            }
            if let Some(insert) = insert.0 {
                insert.execute(&mut *tx).await?;
            }
        }
        let now = crate::clock::now_ms();
        for (user_id, month, tokens) in quota_added(batch) {
            sqlx::query(ADD_QUOTA_USAGE_SQL).bind(user_id).bind(month).bind(tokens).bind(now).execute(&mut *tx).await?;
        }
        for (key_id, at) in keys_last_used(batch) {
            sqlx::query(KEY_LAST_USED_SQL).bind(at).bind(key_id).bind(at).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Output tokens of an account's requests since `since_ms` (the quota counter's
    /// start, a month start), including rows the retention job already rolled up into
    /// monthly aggregates (possible when `usage_retention_days` is shorter than a month).
    /// The account is an org (its keys' requests) or a user (their personal keys'
    /// requests); ids are UUIDs, so one id never names both.
    pub async fn output_tokens_since(&self, account_id: &str, since_ms: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM ( \
               SELECT output_tokens AS n FROM usage_events WHERE org_id = $1 AND created_at >= $2 \
               UNION ALL \
               SELECT output_tokens AS n FROM usage_events WHERE user_id = $3 AND org_id IS NULL AND created_at >= $4 \
             ) t",
        )
        .bind(account_id)
        .bind(since_ms)
        .bind(account_id)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        let recent: i64 = row.try_get("n")?;
        Ok(recent + self.aggregated_output_tokens_since(account_id, since_ms).await?)
    }

    /// Accounts whose output tokens of the month starting `month_start` changed at or
    /// after `since_ms`, with their totals (the quota counters' reconciliation).
    pub async fn quota_usage_changed_since(
        &self,
        month_start: i64,
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, output_tokens AS n FROM quota_usage WHERE month_start = $1 AND updated_at >= $2",
        )
        .bind(month_start)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| Ok((r.try_get("user_id")?, r.try_get("n")?))).collect::<Result<_, sqlx::Error>>()?)
    }

    /// A user's usage rows, newest first (for tests and the CLI).
    pub async fn usage_of_user(&self, user_id: &str, limit: i64) -> Result<Vec<UsageSummaryRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT request_id, key_id, provider, model, endpoint, intensity, intensity_reason, status, \
             input_tokens, output_tokens, skill_tokens, context_tokens_before, context_tokens_after, streamed, usage_source \
             FROM usage_events WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let row = |r: &sqlx::any::AnyRow| -> Result<UsageSummaryRow, sqlx::Error> {
            Ok(UsageSummaryRow {
                request_id: r.try_get("request_id")?,
                key_id: r.try_get("key_id")?,
                provider: r.try_get("provider")?,
                model: r.try_get("model")?,
                endpoint: r.try_get("endpoint")?,
                intensity: r.try_get("intensity")?,
                intensity_reason: r.try_get("intensity_reason")?,
                status: r.try_get("status")?,
                input_tokens: r.try_get("input_tokens")?,
                output_tokens: r.try_get("output_tokens")?,
                skill_tokens: r.try_get("skill_tokens")?,
                context_tokens_before: r.try_get("context_tokens_before")?,
                context_tokens_after: r.try_get("context_tokens_after")?,
                streamed: r.try_get::<i64, _>("streamed")? != 0,
                usage_source: r.try_get("usage_source")?,
            })
        };
        Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
    }
}

/// A usage row as read back.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UsageSummaryRow {
    pub request_id: String,
    pub key_id: String,
    pub provider: String,
    pub model: String,
    pub endpoint: String,
    pub intensity: String,
    pub intensity_reason: String,
    pub status: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub skill_tokens: i64,
    pub context_tokens_before: Option<i64>,
    pub context_tokens_after: Option<i64>,
    pub streamed: bool,
    pub usage_source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_have_one_placeholder_per_value() {
        let pg = insert_usage_sql(crate::store::Backend::Postgres, 8);
        assert!(pg.ends_with(", $166, $167, $168)"), "{pg}");
        assert_eq!(pg.matches('$').count(), 168);
        assert_eq!(insert_usage_sql(crate::store::Backend::Postgres, 64).matches('$').count(), 64 * 21);
        assert_eq!(insert_usage_sql(crate::store::Backend::Sqlite, 1).matches('?').count(), 21);
    }

    #[test]
    fn batches_are_cut_into_the_fixed_chunk_sizes() {
        use crate::store::Backend::{Postgres, Sqlite};
        let sizes = |backend, pace, n: u32| {
            let batch: Vec<u32> = (0..n).collect();
            let chunks: Vec<&[u32]> = usage_chunks(backend, |_| pace, &batch).map(|(_, rows)| rows).collect();
            assert_eq!(chunks.concat(), batch, "every row once, in order");
            chunks.iter().map(|c| c.len()).collect::<Vec<usize>>()
        };
        assert_eq!(sizes(Sqlite, Pace::GiveWay, 23), [1; 23]);
        assert_eq!(sizes(Sqlite, Pace::CatchUp, 141), [64, 64, 8, 1, 1, 1, 1, 1]);
        assert_eq!(sizes(Postgres, Pace::GiveWay, 141), [64, 64, 8, 1, 1, 1, 1, 1]);
        assert_eq!(sizes(Postgres, Pace::CatchUp, 141), [64, 64, 8, 1, 1, 1, 1, 1]);
        assert_eq!(insert_usage_sql(Sqlite, 64).matches('?').count(), 64 * 21);
        // Asked before every chunk: falling behind half-way switches the rest.
        let batch: Vec<u32> = (0..100).collect();
        let behind_after_11_rows = |left: usize| if left < 90 { Pace::CatchUp } else { Pace::GiveWay };
        let chunks: Vec<(Pace, usize)> =
            usage_chunks(Sqlite, behind_after_11_rows, &batch).map(|(pace, rows)| (pace, rows.len())).collect();
        let mut expected = vec![(Pace::GiveWay, 1); 11];
        expected.extend([64, 8, 8, 8, 1].map(|rows| (Pace::CatchUp, rows)));
        assert_eq!(chunks, expected);
    }
}
