//! The usage writer's connection to the database (`metering/writer.rs` runs it on a
//! thread of its own).
//!
//! On SQLite it is a rusqlite connection driven on that thread. Through sqlx, every
//! statement went to the connection's worker thread and its result came back: two thread
//! switches per statement, and ~25k instructions per usage row in sqlx's layers against
//! ~15k in SQLite itself (callgrind, docs/BENCHMARKS.md). The writer's thread exists
//! to wait for the database, so it may as well run it. The statements are the ones
//! [`Store::insert_usage`] runs, from the same text and the same column list.
//!
//! On PostgreSQL it is a one-connection sqlx pool opened on the writer's runtime.

use super::usage::{
    ADD_QUOTA_USAGE_SQL, KEY_LAST_USED_SQL, Pace, UsageColumns, insert_usage_sql, keys_last_used, quota_added,
    usage_chunks, usage_columns,
};
use super::{Backend, SQLITE_PRAGMAS, Store, StoreError};
use crate::config::Config;
use crate::metering::UsageRecord;
use rusqlite::{Connection, TransactionBehavior};

/// SQLite settings of the writer's connection beyond every connection's: a multi-row
/// `INSERT` inside a transaction keeps a statement journal (the pages it changes, as they
/// were, in case it fails half-way), which SQLite spills to a temporary file past 64 KiB:
/// two `pwrite`s per page, ~17 pages per 8-row statement. In memory it costs a copy. The
/// writer's connection runs nothing else, so no large sort or temporary table can grow
/// in memory through it.
const USAGE_WRITER_SQLITE_PRAGMAS: &str = "PRAGMA temp_store = MEMORY;";

pub enum UsageWriterDb {
    Sqlite(Connection),
    Pool(Store),
}

impl UsageWriterDb {
    /// Connects to the database [`Store::open`] prepared (call it on the writer's thread).
    pub async fn open(config: &Config) -> Result<UsageWriterDb, StoreError> {
        let url = super::database_url(config)?;
        match Backend::of(&url) {
            Backend::Sqlite => open_sqlite(&url).map(UsageWriterDb::Sqlite),
            Backend::Postgres => Store::open_for_usage_writer(config).await.map(UsageWriterDb::Pool),
        }
    }

    /// Writes a batch in one transaction, as [`Store::insert_usage`] does; on SQLite at the
    /// pace `pace` gives for the rows still to write (PostgreSQL runs its statements in its
    /// own processes, and keeps its chunk sizes).
    pub async fn insert_usage(
        &mut self,
        batch: &[UsageRecord],
        pace: impl FnMut(usize) -> Pace,
    ) -> Result<(), StoreError> {
        match self {
            UsageWriterDb::Sqlite(conn) => insert_usage_sqlite(conn, batch, pace),
            UsageWriterDb::Pool(store) => store.insert_usage(batch).await,
        }
    }
}

fn open_sqlite(url: &str) -> Result<Connection, StoreError> {
    use std::str::FromStr;
    // sqlx's reading of the URL, so both drivers open the same file.
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let conn = Connection::open(options.get_filename())?;
    conn.execute_batch(SQLITE_PRAGMAS)?;
    conn.execute_batch(USAGE_WRITER_SQLITE_PRAGMAS)?;
    Ok(conn)
}

/// Binds usage columns to a rusqlite statement, by position.
struct SqliteColumns<'s, 'c> {
    statement: &'s mut rusqlite::CachedStatement<'c>,
    next: usize,
    failed: Option<rusqlite::Error>,
}

impl SqliteColumns<'_, '_> {
    fn bind(&mut self, value: impl rusqlite::ToSql) {
        self.next += 1;
        if self.failed.is_none()
            && let Err(e) = self.statement.raw_bind_parameter(self.next, value)
        {
            self.failed = Some(e);
        }
    }
}

impl<'r> UsageColumns<'r> for SqliteColumns<'_, '_> {
    fn text(&mut self, value: &'r str) {
        self.bind(value);
    }
    fn optional_text(&mut self, value: Option<&'r str>) {
        self.bind(value);
    }
    fn int(&mut self, value: i64) {
        self.bind(value);
    }
    fn optional_int(&mut self, value: Option<i64>) {
        self.bind(value);
    }
}

fn insert_usage_sqlite(
    conn: &mut Connection,
    batch: &[UsageRecord],
    pace: impl FnMut(usize) -> Pace,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    // IMMEDIATE: the write lock is taken (or waited for, up to the busy timeout) at the
    // start, not half-way through the batch.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (pace, rows) in usage_chunks(Backend::Sqlite, pace, batch) {
        let mut statement = tx.prepare_cached(insert_usage_sql(Backend::Sqlite, rows.len()))?;
        let mut columns = SqliteColumns { statement: &mut statement, next: 0, failed: None };
        for r in rows {
            usage_columns(r, &mut columns);
        }
        if let Some(e) = columns.failed {
            return Err(e.into());
        }
        statement.raw_execute()?;
        if pace == Pace::GiveWay {
            // A request waiting for this core gets it between statements (one row each): a
            // batch runs for milliseconds, and nothing else makes this thread give the core
            // up meanwhile. Measured on one core (docs/BENCHMARKS.md): without it, one
            // request in a thousand waited for a whole batch (+2 ms); yielding only every
            // 500 µs made the p99 worse than yielding after every statement.
            std::thread::yield_now();
        }
    }
    let now = crate::clock::now_ms();
    for (user_id, month, tokens) in quota_added(batch) {
        tx.prepare_cached(ADD_QUOTA_USAGE_SQL)?.execute((user_id, month, tokens, now))?;
    }
    for (key_id, at) in keys_last_used(batch) {
        tx.prepare_cached(KEY_LAST_USED_SQL)?.execute((at, key_id, at))?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::StoreArgs;
    use crate::metering::{IntensityReason, UsageSource};
    use mintoken_compress::Intensity;
    use rusqlite::types::Value;

    fn record(i: i64) -> UsageRecord {
        UsageRecord {
            request_id: format!("req_{i}"),
            // Two months, so the quota rows split.
            created_at: 1_790_000_000_000 + i * 200_000_000,
            user_id: format!("user_{}", i % 2),
            org_id: (i % 3 == 0).then(|| "org_1".to_owned()),
            key_id: format!("key_{}", i % 4),
            provider: if i % 2 == 0 { "openai" } else { "anthropic" },
            model: format!("model-{i}"),
            endpoint: "chat.completions",
            intensity: if i % 2 == 0 { Intensity::Full } else { Intensity::Lite },
            intensity_reason: IntensityReason::Classifier,
            status: if i == 5 { 502 } else { 200 },
            input_tokens: 100 + i,
            output_tokens: 10 * i,
            skill_tokens: 119,
            holdout: i % 5 == 0,
            context_tokens_before: (i % 2 == 1).then_some(5_000 + i),
            context_tokens_after: (i % 2 == 1).then_some(1_000 + i),
            duration_ms: 20 + i,
            upstream_ms: 15 + i,
            streamed: i % 3 == 1,
            usage_source: if i == 7 { UsageSource::Counted } else { UsageSource::Upstream },
        }
    }

    fn rows(dir: &std::path::Path, sql: &str) -> Vec<Vec<Value>> {
        let conn = Connection::open(dir.join("mintoken.db")).unwrap();
        let mut statement = conn.prepare(sql).unwrap();
        let columns = statement.column_count();
        let rows = statement.query_map([], |row| (0..columns).map(|i| row.get::<_, Value>(i)).collect());
        rows.unwrap().collect::<Result<_, _>>().unwrap()
    }

    /// The writer's own SQLite path stores exactly what `Store::insert_usage` (sqlx) stores,
    /// at either pace: every column of every row, NULLs included, and the same quota sums;
    /// 77 records take every statement size of catching up (64 + 8 + 1 rows).
    #[tokio::test]
    async fn the_writer_stores_what_the_sqlx_path_stores() {
        let batch: Vec<UsageRecord> = (1..=77).map(record).collect();
        let through_sqlx = tempfile::tempdir().unwrap();
        let open = |dir: &std::path::Path| {
            Config::for_store(&StoreArgs { data_dir: Some(dir.to_owned()), ..Default::default() }).unwrap()
        };
        Store::open(&open(through_sqlx.path())).await.unwrap().insert_usage(&batch).await.unwrap();
        for pace in [Pace::GiveWay, Pace::CatchUp] {
            let direct = tempfile::tempdir().unwrap();
            let config = open(direct.path());
            Store::open(&config).await.unwrap();
            let mut db = UsageWriterDb::open(&config).await.unwrap();
            assert!(matches!(db, UsageWriterDb::Sqlite(_)));
            db.insert_usage(&batch, |_| pace).await.unwrap();
            for sql in [
                "SELECT * FROM usage_events ORDER BY id",
                "SELECT user_id, month_start, output_tokens FROM quota_usage ORDER BY user_id, month_start",
            ] {
                let expected = rows(through_sqlx.path(), sql);
                assert!(!expected.is_empty(), "{sql}");
                assert_eq!(rows(direct.path(), sql), expected, "{pace:?}: {sql}");
            }
            assert_eq!(rows(direct.path(), "SELECT count(*) FROM usage_events"), vec![vec![Value::Integer(77)]]);
        }
    }

    /// Busy and locked are waits the writer retries; anything else SQLite refuses is a
    /// rejection, written around record by record.
    #[test]
    fn busy_and_locked_are_not_rejections() {
        let failure = |code| StoreError::Sqlite(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None));
        assert!(!failure(rusqlite::ffi::SQLITE_BUSY).is_rejection());
        assert!(!failure(rusqlite::ffi::SQLITE_LOCKED).is_rejection());
        assert!(!failure(rusqlite::ffi::SQLITE_BUSY_SNAPSHOT).is_rejection());
        assert!(failure(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE).is_rejection());
        assert!(failure(rusqlite::ffi::SQLITE_TOOBIG).is_rejection());
    }
}
