//! The store: the only module that speaks SQL. One set of queries runs on SQLite (the
//! embedded default) and PostgreSQL through sqlx's `Any` driver, so both backends have
//! the same behaviour; only the usage writer's SQLite connection is driven directly, with
//! the same statements (`usage_writer.rs`). Queries use `$n` placeholders in increasing
//! order, which both drivers accept; timestamps are UTC Unix milliseconds; booleans are
//! 0/1 integers.
//!
//! Nothing on the proxy's hot path calls into here synchronously: key lookups are
//! cached (`auth::key_cache`), usage is written in batches (`metering::usage`).

mod analytics;
mod billing;
mod keys;
mod orgs;
mod rate;
mod rules;
mod usage;
mod usage_writer;
mod users;

pub use analytics::{CellQuery, RollupReport, UsageCell, UsageScope};
pub use billing::{ORDER_CREATED, ORDER_PAID, Order, PaymentOutcome};
pub use keys::{KeyRecord, KeySettings, NewKey};
pub use orgs::{Invitation, Member, Org, OrgOfUser, OrgOwner, OrgRole};
pub use rate::RateTotal;
pub use usage::{Pace, UsageSummaryRow};
pub use usage_writer::UsageWriterDb;
pub use users::{RefreshOutcome, User};

use crate::config::Config;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a record with the same unique value already exists")]
    Conflict,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the usage writer's own SQLite connection (`usage_writer.rs`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
}

impl StoreError {
    /// The database refused this statement itself (bad data, a constraint), as opposed
    /// to being unreachable, busy or out of connections — which retrying can cure.
    pub fn is_rejection(&self) -> bool {
        match self {
            StoreError::Conflict => true,
            StoreError::Database(sqlx::Error::Database(db)) => {
                // Transient, not rejections: SQLite's "busy"/"locked"; PostgreSQL's
                // connection exceptions (08), insufficient resources (53), operator
                // intervention such as a restart (57) and transaction rollbacks (40).
                let code = db.code().unwrap_or_default();
                let transient = matches!(code.as_ref(), "5" | "6" | "261" | "262" | "517")
                    || ["08", "53", "57", "40"].iter().any(|class| code.starts_with(class));
                !transient
            }
            StoreError::Database(
                sqlx::Error::ColumnDecode { .. } | sqlx::Error::Encode(_) | sqlx::Error::TypeNotFound { .. },
            ) => true,
            // The same line on the writer's SQLite connection: busy and locked are waits.
            StoreError::Sqlite(e) => !matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] so callers can answer
/// 409 without knowing the backend's error codes.
fn conflict_aware(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(e),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn of(database_url: &str) -> Backend {
        if database_url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite }
    }
}

/// Connections of the main SQLite pool: requests read keys and rules through it, the
/// management API writes; usage has a connection of its own.
const SQLITE_CONNECTIONS: u32 = 4;

/// Every SQLite connection's settings; the busy timeout turns brief lock contention
/// into a wait instead of an error.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens (creating when needed) the configured database and applies migrations.
    pub async fn open(config: &Config) -> Result<Store, StoreError> {
        let store = Store::connect(config, SQLITE_CONNECTIONS, config.database_max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// One more connection to the database [`Store::open`] prepared, for the usage writer's
    /// PostgreSQL path (`store/usage_writer.rs`), which runs on a thread and runtime of its
    /// own: opened there, it belongs to that runtime (a PostgreSQL connection's socket is
    /// driven by the runtime that opened it), and the writer never waits for a connection
    /// the requests hold.
    async fn open_for_usage_writer(config: &Config) -> Result<Store, StoreError> {
        Store::connect(config, 1, 1).await
    }

    async fn connect(config: &Config, sqlite_max: u32, postgres_max: u32) -> Result<Store, StoreError> {
        install_default_drivers();
        let url = database_url(config)?;
        let backend = Backend::of(&url);
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            // SQLite allows one writer; WAL (below) lets readers proceed alongside it.
            Backend::Sqlite => options
                .max_connections(sqlite_max)
                // The pool's default check before handing out a connection is a round
                // trip to the connection's worker thread (two thread switches): it finds
                // dropped network connections, which an in-process database does not have.
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute(SQLITE_PRAGMAS).await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await
                .map_err(StoreError::Database)?,
            Backend::Postgres => options.max_connections(postgres_max).connect(&url).await?,
        };
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL;").await?;
        }
        Ok(Store { pool, backend })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The data directory holds the database and the JWT secret: owner-only.
pub fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::DataDir { path: dir.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

/// The configured database URL; the embedded default is `mintoken.db` in the data
/// directory, which is created (private to the user) when missing.
fn database_url(config: &Config) -> Result<String, StoreError> {
    match &config.database_url {
        Some(url) => Ok(url.clone()),
        None => {
            create_private_dir(&config.data_dir)?;
            Ok(format!("sqlite://{}?mode=rwc", config.data_dir.join("mintoken.db").display()))
        }
    }
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}
