//! The reads analytics needs, and the retention roll-up. Both work on "cells": usage
//! summed per key, provider, model, endpoint, intensity, holdout flag, measurability
//! (and, for time series, bucket). A cell is the finest grain analytics ever needs, so
//! per-request rows and monthly aggregates (`usage_monthly`, migration 0004) read the
//! same way and add up.

use super::{Store, StoreError};
use crate::analytics::calendar::month_start_ms;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// Usage summed over a group of requests sharing every dimension below.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsageCell {
    /// Index of the time bucket (0 when the query was not bucketed).
    pub bucket: i64,
    pub key_id: String,
    pub provider: String,
    pub model: String,
    pub endpoint: String,
    pub intensity: String,
    /// The requests ran without the skill on purpose (the key's holdout share).
    pub holdout: bool,
    /// 2xx answers with provider-reported usage: the only requests measured savings use.
    pub measurable: bool,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Σ output_tokens², for the variance of the measured savings.
    pub output_tokens_sq: f64,
    pub skill_tokens: i64,
    /// Conversation tokens before / after context compression, over the requests
    /// where it ran (both figures recorded).
    pub context_tokens_before: i64,
    pub context_tokens_after: i64,
}

/// Which rows a cell query covers: `[start_ms, end_ms)`, cut into buckets of
/// `bucket_ms` counted from `start_ms`. Monthly aggregates belong to the bucket of the
/// first instant of their month.
#[derive(Clone, Copy, Debug)]
pub struct CellQuery {
    pub start_ms: i64,
    pub end_ms: i64,
    pub bucket_ms: i64,
}

/// What one retention pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RollupReport {
    pub rows_rolled_up: u64,
    pub aggregates_written: u64,
}

/// Rows deleted and rolled up per transaction: bounds the transaction's size and the
/// memory of one pass, whatever the backlog.
const ROLLUP_CHUNK: i64 = 5_000;

fn cell_from(row: &AnyRow) -> Result<UsageCell, sqlx::Error> {
    Ok(UsageCell {
        bucket: row.try_get("bucket")?,
        key_id: row.try_get("key_id")?,
        provider: row.try_get("provider")?,
        model: row.try_get("model")?,
        endpoint: row.try_get("endpoint")?,
        intensity: row.try_get("intensity")?,
        holdout: row.try_get::<i64, _>("holdout")? != 0,
        measurable: row.try_get::<i64, _>("measurable")? != 0,
        requests: row.try_get("requests")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        output_tokens_sq: row.try_get("output_tokens_sq")?,
        skill_tokens: row.try_get("skill_tokens")?,
        context_tokens_before: row.try_get("context_tokens_before")?,
        context_tokens_after: row.try_get("context_tokens_after")?,
    })
}

/// Whose usage a report covers: a user's personal keys, or an org's keys (whoever made
/// the requests).
#[derive(Clone, Copy, Debug)]
pub enum UsageScope<'a> {
    Personal(&'a str),
    Org(&'a str),
}

impl UsageScope<'_> {
    /// The SQL condition, on the id bound at placeholder `$n`.
    fn condition(&self, n: u32) -> String {
        match self {
            UsageScope::Personal(_) => format!("user_id = ${n} AND org_id IS NULL"),
            UsageScope::Org(_) => format!("org_id = ${n}"),
        }
    }

    fn id(&self) -> &str {
        match self {
            UsageScope::Personal(id) | UsageScope::Org(id) => id,
        }
    }
}

/// The "measurable" test, in SQL, for a row of `usage_events`.
const MEASURABLE: &str = "CASE WHEN status >= 200 AND status < 300 AND usage_source = 'upstream' THEN 1 ELSE 0 END";

impl Store {
    /// A scope's usage in `[start, end)` as cells: per-request rows grouped, plus the
    /// monthly aggregates whose month starts inside the period.
    pub async fn usage_cells(&self, scope: UsageScope<'_>, q: CellQuery) -> Result<Vec<UsageCell>, StoreError> {
        let (events_of, monthly_of) = (scope.condition(3), scope.condition(8));
        let user_id = scope.id();
        let sql = format!(
            "SELECT bucket, key_id, provider, model, endpoint, intensity, holdout, measurable, \
               CAST(COUNT(*) AS BIGINT) AS requests, \
               CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
               CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
               CAST(SUM(out_sq) AS DOUBLE PRECISION) AS output_tokens_sq, \
               CAST(SUM(skill_tokens) AS BIGINT) AS skill_tokens, \
               CAST(SUM(ctx_before) AS BIGINT) AS context_tokens_before, \
               CAST(SUM(ctx_after) AS BIGINT) AS context_tokens_after \
             FROM (SELECT CAST((created_at - $1) / $2 AS BIGINT) AS bucket, key_id, provider, model, endpoint, \
                     intensity, CAST(holdout AS BIGINT) AS holdout, CAST({MEASURABLE} AS BIGINT) AS measurable, \
                     input_tokens, output_tokens, \
                     CAST(output_tokens AS DOUBLE PRECISION) * output_tokens AS out_sq, skill_tokens, \
                     CASE WHEN context_tokens_after IS NULL THEN 0 ELSE COALESCE(context_tokens_before, 0) END AS ctx_before, \
                     CASE WHEN context_tokens_before IS NULL THEN 0 ELSE COALESCE(context_tokens_after, 0) END AS ctx_after \
                   FROM usage_events WHERE {events_of} AND created_at >= $4 AND created_at < $5) e \
             GROUP BY bucket, key_id, provider, model, endpoint, intensity, holdout, measurable \
             UNION ALL \
             SELECT CAST((month_start - $6) / $7 AS BIGINT) AS bucket, key_id, provider, model, endpoint, intensity, \
               CAST(holdout AS BIGINT) AS holdout, CAST(measurable AS BIGINT) AS measurable, \
               CAST(requests AS BIGINT) AS requests, CAST(input_tokens AS BIGINT) AS input_tokens, \
               CAST(output_tokens AS BIGINT) AS output_tokens, \
               CAST(output_tokens_sq AS DOUBLE PRECISION) AS output_tokens_sq, \
               CAST(skill_tokens AS BIGINT) AS skill_tokens, \
               CAST(context_tokens_before AS BIGINT) AS context_tokens_before, \
               CAST(context_tokens_after AS BIGINT) AS context_tokens_after \
             FROM usage_monthly WHERE {monthly_of} AND month_start >= $9 AND month_start < $10"
        );
        let bucket_ms = q.bucket_ms.max(1);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(q.start_ms)
            .bind(bucket_ms)
            .bind(user_id)
            .bind(q.start_ms)
            .bind(q.end_ms)
            .bind(q.start_ms)
            .bind(bucket_ms)
            .bind(user_id)
            .bind(q.start_ms)
            .bind(q.end_ms)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(cell_from).collect::<Result<_, _>>()?)
    }

    /// Moves usage rows created before `cutoff_ms` into `usage_monthly` and deletes
    /// them, a chunk per transaction. Each chunk deletes its rows first (`RETURNING`
    /// them) and adds exactly those to the aggregates in the same transaction, so a row
    /// is counted once however many instances run this at the same time: on PostgreSQL
    /// a concurrent delete of the same row waits and then finds it gone; SQLite has one
    /// writer at a time. A failed chunk rolls back whole.
    pub async fn roll_up_usage_before(&self, cutoff_ms: i64) -> Result<RollupReport, StoreError> {
        self.roll_up(cutoff_ms, None).await
    }

    /// [`Store::roll_up_usage_before`] for one account only (tests, targeted upkeep).
    pub async fn roll_up_usage_of_user_before(
        &self,
        user_id: &str,
        cutoff_ms: i64,
    ) -> Result<RollupReport, StoreError> {
        self.roll_up(cutoff_ms, Some(user_id)).await
    }

    async fn roll_up(&self, cutoff_ms: i64, user_id: Option<&str>) -> Result<RollupReport, StoreError> {
        let mut report = RollupReport::default();
        loop {
            let (rolled, written) = self.roll_up_chunk(cutoff_ms, user_id).await?;
            report.rows_rolled_up += rolled;
            report.aggregates_written += written;
            // Fewer than a full chunk: nothing older is left (or another instance is
            // taking the rest, which is as good).
            if rolled < ROLLUP_CHUNK as u64 {
                return Ok(report);
            }
        }
    }

    async fn roll_up_chunk(&self, cutoff_ms: i64, user_id: Option<&str>) -> Result<(u64, u64), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Placeholders stay in increasing order (the house rule for both drivers).
        let filter = if user_id.is_some() { "AND user_id = $2 ORDER BY id LIMIT $3" } else { "ORDER BY id LIMIT $2" };
        let sql = format!(
            "DELETE FROM usage_events WHERE id IN \
               (SELECT id FROM usage_events WHERE created_at < $1 {filter}) \
             RETURNING created_at, user_id, org_id, key_id, provider, model, endpoint, intensity, \
               CAST(holdout AS BIGINT) AS holdout, CAST({MEASURABLE} AS BIGINT) AS measurable, \
               input_tokens, output_tokens, skill_tokens, context_tokens_before, context_tokens_after"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(cutoff_ms);
        if let Some(user_id) = user_id {
            query = query.bind(user_id);
        }
        let rows = query.bind(ROLLUP_CHUNK).fetch_all(&mut *tx).await?;
        let mut groups: HashMap<MonthKey, UsageCell> = HashMap::new();
        for row in &rows {
            let created_at: i64 = row.try_get("created_at")?;
            let key = MonthKey {
                user_id: row.try_get("user_id")?,
                org_id: row.try_get("org_id")?,
                month_start: month_start_ms(created_at),
                cell: CellKey {
                    key_id: row.try_get("key_id")?,
                    provider: row.try_get("provider")?,
                    model: row.try_get("model")?,
                    endpoint: row.try_get("endpoint")?,
                    intensity: row.try_get("intensity")?,
                    holdout: row.try_get::<i64, _>("holdout")? != 0,
                    measurable: row.try_get::<i64, _>("measurable")? != 0,
                },
            };
            let output: i64 = row.try_get("output_tokens")?;
            let before: Option<i64> = row.try_get("context_tokens_before")?;
            let after: Option<i64> = row.try_get("context_tokens_after")?;
            let sum = groups.entry(key).or_default();
            sum.requests += 1;
            sum.input_tokens += row.try_get::<i64, _>("input_tokens")?;
            sum.output_tokens += output;
            sum.output_tokens_sq += (output as f64) * (output as f64);
            sum.skill_tokens += row.try_get::<i64, _>("skill_tokens")?;
            if let (Some(b), Some(a)) = (before, after) {
                sum.context_tokens_before += b;
                sum.context_tokens_after += a;
            }
        }
        for (key, sum) in &groups {
            sqlx::query(
                "INSERT INTO usage_monthly (user_id, key_id, provider, model, endpoint, intensity, holdout, measurable, \
                   month_start, requests, input_tokens, output_tokens, output_tokens_sq, skill_tokens, \
                   context_tokens_before, context_tokens_after, org_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                 ON CONFLICT (user_id, key_id, provider, model, endpoint, intensity, holdout, measurable, month_start) \
                 DO UPDATE SET requests = usage_monthly.requests + excluded.requests, \
                   input_tokens = usage_monthly.input_tokens + excluded.input_tokens, \
                   output_tokens = usage_monthly.output_tokens + excluded.output_tokens, \
                   output_tokens_sq = usage_monthly.output_tokens_sq + excluded.output_tokens_sq, \
                   skill_tokens = usage_monthly.skill_tokens + excluded.skill_tokens, \
                   context_tokens_before = usage_monthly.context_tokens_before + excluded.context_tokens_before, \
                   context_tokens_after = usage_monthly.context_tokens_after + excluded.context_tokens_after",
            )
            .bind(&key.user_id)
            .bind(&key.cell.key_id)
            .bind(&key.cell.provider)
            .bind(&key.cell.model)
            .bind(&key.cell.endpoint)
            .bind(&key.cell.intensity)
            .bind(i64::from(key.cell.holdout))
            .bind(i64::from(key.cell.measurable))
            .bind(key.month_start)
            .bind(sum.requests)
            .bind(sum.input_tokens)
            .bind(sum.output_tokens)
            .bind(sum.output_tokens_sq)
            .bind(sum.skill_tokens)
            .bind(sum.context_tokens_before)
            .bind(sum.context_tokens_after)
            .bind(key.org_id.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok((rows.len() as u64, groups.len() as u64))
    }

    /// Output tokens of an account's (org's or user's personal) monthly aggregates from
    /// `since_ms` on (the quota counts rolled-up rows of the current month when retention
    /// is shorter than it).
    pub async fn aggregated_output_tokens_since(&self, account_id: &str, since_ms: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS n FROM usage_monthly \
             WHERE (org_id = $1 OR (user_id = $2 AND org_id IS NULL)) AND month_start >= $3",
        )
        .bind(account_id)
        .bind(account_id)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Number of monthly aggregate rows of a user (tests, diagnostics).
    pub async fn monthly_aggregate_rows(&self, user_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM usage_monthly WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CellKey {
    key_id: String,
    provider: String,
    model: String,
    endpoint: String,
    intensity: String,
    holdout: bool,
    measurable: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct MonthKey {
    user_id: String,
    /// Follows from the key; kept so org analytics find rolled-up org usage.
    org_id: Option<String>,
    month_start: i64,
    cell: CellKey,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::StoreArgs;
    use crate::config::Config;

    /// Each scope's usage rows are found through an index, the org one partial (only
    /// org keys' rows are in it, migration 0009): a condition the partial index cannot
    /// serve would make every org report scan the whole table.
    #[tokio::test]
    async fn each_usage_scope_is_read_through_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let args = StoreArgs { data_dir: Some(dir.path().to_owned()), ..Default::default() };
        let store = Store::open(&Config::for_store(&args).unwrap()).await.unwrap();
        for (scope, index) in
            [(UsageScope::Personal("u"), "usage_events_user_time"), (UsageScope::Org("o"), "usage_events_org_time")]
        {
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT output_tokens FROM usage_events WHERE {} AND created_at >= $2",
                scope.condition(1)
            );
            let plan = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(scope.id()).bind(0i64).fetch_all(&store.pool).await;
            let plan: Vec<String> = plan.unwrap().iter().map(|r| r.try_get("detail").unwrap()).collect();
            assert!(plan.iter().any(|step| step.contains(&format!("USING INDEX {index} "))), "{scope:?}: {plan:?}");
        }
    }
}
