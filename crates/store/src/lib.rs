//! ferrocat's metadata store.
//!
//! [`Db`] is one handle over either an SQLite file (the embedded default) or a
//! PostgreSQL server, chosen by the URL scheme at start-up. Every query is written once,
//! with `$n` placeholders valid on both engines, and compiled for both pools by the
//! [`with_db!`] macro. A per-backend arm is allowed only where behaviour or speed differs,
//! and says why.
//!
//! Migrations come in pairs: `migrations/sqlite/NNNN_x.sql` and
//! `migrations/postgres/NNNN_x.sql` with the same tables and columns (checked by the
//! `schema_parity` test). Applied migrations are never edited.
//!
//! One module per table group; no HTTP types here.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub mod access_tokens;
pub mod annotations;
pub mod auth;
pub mod events;
pub mod exceptions;
pub mod git;
pub mod projects;
pub mod queue;
pub mod tasks;
pub mod users;

pub use users::{NewUser, UserPatch, UserRow, UserSort};

/// Compiles `$body` once for each pool type: inside the body `$pool` is either a
/// `&SqlitePool` or a `&PgPool`.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// What can go wrong in the store. Unique violations are surfaced so that the caller can
/// turn them into field errors at the call site.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("database error: {0}")]
    Sqlx(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("bad database URL: {0}")]
    Url(String),
    /// An error reported by the database engine outside sqlx (its C API).
    #[error("database error: {0}")]
    Engine(String),
    /// Data that cannot be stored or read back as it is (a bug or a damaged row).
    #[error("invalid data: {0}")]
    Invalid(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(d) = &e
            && d.is_unique_violation()
        {
            return StoreError::Unique(d.constraint().unwrap_or_else(|| d.message()).to_string());
        }
        StoreError::Sqlx(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The metadata database: SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    /// Opens the database named by `url`: `sqlite://path` (created if missing) or
    /// `postgres://…`. `max_connections` bounds the pool.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
            Self::connect_postgres(opts, max_connections).await
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Url(e.to_string()))?
                .create_if_missing(true);
            Self::connect_sqlite(opts, max_connections).await
        } else {
            Err(StoreError::Url(format!(
                "{url}: expected a sqlite:// or postgres:// URL"
            )))
        }
    }

    /// Opens an SQLite database in WAL mode with foreign keys on, memory-mapped reads and
    /// a 32 MB page cache per connection.
    pub async fn connect_sqlite(opts: SqliteConnectOptions, max_connections: u32) -> Result<Db> {
        let opts = opts
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // Reads of big jobs touch many pages: map the file instead of a read() per
            // page, and keep more pages per connection than the 2 MB default.
            .pragma("mmap_size", "1073741824")
            .pragma("cache_size", "-32768");
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(opts)
            .await?;
        Ok(Db::Sqlite(pool))
    }

    /// Opens a PostgreSQL pool.
    pub async fn connect_postgres(opts: PgConnectOptions, max_connections: u32) -> Result<Db> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        Ok(Db::Postgres(pool))
    }

    /// Applies the pending migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Db::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// A cheap round trip, for `/healthz`.
    pub async fn ping(&self) -> Result<()> {
        with_db!(self, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        with_db!(self, |p| p.close().await)
    }

    /// Tables and their columns, sorted, as the database reports them (for the parity
    /// test and for diagnostics). Internal tables (`_sqlx_migrations`, `sqlite_*`) are left
    /// out.
    pub async fn schema_columns(&self) -> Result<Vec<(String, String)>> {
        let mut cols: Vec<(String, String)> = match self {
            // SQLite has no information_schema; pragma_table_info is its equivalent.
            Db::Sqlite(p) => {
                sqlx::query_as(
                    "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\'",
                )
                .fetch_all(p)
                .await?
            }
            Db::Postgres(p) => {
                sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'",
                )
                .fetch_all(p)
                .await?
            }
        };
        cols.sort();
        Ok(cols)
    }
}

/// The current time, truncated to microseconds (what both engines store and what the
/// API renders).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}
