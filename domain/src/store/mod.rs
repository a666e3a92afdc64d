//! The database: one store for two databases, SQLite (the embedded default) and PostgreSQL.
//!
//! Where is each rule? Business modules write one query text for both databases through
//! sqlx's `Any` driver: numbered placeholders (`$1`), `ON CONFLICT`, `RETURNING`, conditional
//! `UPDATE … WHERE` checked with `rows_affected`, integer Unix-millisecond times (`BIGINT`),
//! booleans read as [`Flag`]. The few places the dialects differ are methods of [`Db`] here
//! ([`Db::for_update`], [`Db::skip_locked`]) and the two migration folders
//! (`migrations/sqlite`, `migrations/postgres`, the same schema in each dialect).
//! Write transactions start with [`Db::begin`]: on SQLite on the one writer connection (a pool
//! of one, so writers queue in order in-process instead of sleeping in SQLite's busy handler,
//! which made the p99 of postings), `BEGIN IMMEDIATE` (a read-then-write never fails to
//! upgrade); on PostgreSQL a plain transaction whose read-then-write paths lock their rows
//! (`FOR UPDATE`). [`Db::write`] runs a closure in such a transaction and commits it. Reads
//! use the other connections and never wait for the writer (WAL). Group commit on one writer
//! thread was built and measured (2026-12-07) and gave no gain: a posting's cost is the thread
//! hand-offs of its statements (README "Benchmarks").
//! Pool size, statement timeout and connection timeout: [`DbSettings`].

pub mod lease;
pub mod sessions;
#[cfg(test)]
mod tests;

use std::{str::FromStr, time::Duration};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions, AnyTypeInfo, AnyTypeInfoKind},
    AnyPool, Executor,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database url: {0}")]
    Url(String),
    /// A stored value that none of our writers could have written (a bad state, a broken JSON
    /// column): never defaulted silently.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// A row that must exist (it was just written, or it is referenced) is missing.
    #[error("not found: {0}")]
    NotFound(String),
    /// A failure of ours around the database (serialising a value, a key task that died).
    #[error("internal error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn corrupt(table: &'static str, detail: impl Into<String>) -> Self {
        StoreError::Corrupt { table, detail: detail.into() }
    }
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Url("the database url must start with sqlite:// or postgres://".into()))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Connection pool and timeouts (`[database]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbSettings {
    /// Connections kept at most (SQLite: readers; writes queue for its one writer anyway).
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL `statement_timeout` (0: none); SQLite waits this long for its write lock.
    pub statement_timeout_ms: u64,
    /// SQLite's page cache per connection, KiB (`PRAGMA cache_size`; SQLite's own default is
    /// 2,000). 256 measured the same throughput on the bench's database with 3.3 MB less memory
    /// across the pool (README "Benchmarks"); the OS file cache is behind it.
    pub sqlite_cache_kib: u32,
}

impl Default for DbSettings {
    fn default() -> Self {
        Self { max_connections: 8, acquire_timeout_ms: 10_000, statement_timeout_ms: 10_000, sqlite_cache_kib: 256 }
    }
}

/// A handle on the database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    /// Where write transactions run: SQLite's one writer connection; on PostgreSQL `pool`.
    writer: AnyPool,
    backend: Backend,
    url: std::sync::Arc<str>,
}

impl Db {
    /// Opens the database at `url` with the default settings.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Self::connect_with(url, &DbSettings::default()).await
    }

    /// Opens (on SQLite: creating if needed) the database at `url`:
    /// `sqlite://data/joygate.db` or `postgres://user:password@host/db`.
    pub async fn connect_with(url: &str, settings: &DbSettings) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms.max(1)));
        let options = match backend {
            Backend::Sqlite => {
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or("");
                if !in_memory {
                    if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(|e| StoreError::Url(format!("{}: {e}", dir.display())))?;
                    }
                }
                let busy_ms = settings.statement_timeout_ms.max(1_000);
                let journal = if in_memory { "MEMORY" } else { "WAL" };
                let cache_kib = settings.sqlite_cache_kib.max(16);
                // Pragmas are per connection: set on each one as it opens.
                pool = pool.after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute(&*format!(
                            "PRAGMA journal_mode = {journal}; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_ms}; PRAGMA cache_size = -{cache_kib};"
                        ))
                        .await?;
                        Ok(())
                    })
                });
                if in_memory {
                    // An in-memory database exists per connection: keep exactly one.
                    pool = pool.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
                } else {
                    pool = pool.idle_timeout(Duration::from_secs(600)).max_lifetime(Duration::from_secs(3600));
                }
                let url = if url.contains("mode=") {
                    url.to_string()
                } else {
                    format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
                };
                AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Url(e.to_string()))?
            }
            Backend::Postgres => {
                let timeout = settings.statement_timeout_ms;
                pool = pool.after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute(&*format!("SET statement_timeout = {timeout}; SET lock_timeout = {timeout}")).await?;
                        Ok(())
                    })
                });
                AnyConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?
            }
        };
        // SQLite on a file: one more pool, of one connection, for write transactions.
        let sqlite_file = backend == Backend::Sqlite && !url.contains(":memory:") && !url.contains("mode=memory");
        let writer = match sqlite_file {
            true => Some(pool.clone().max_connections(1).min_connections(0).connect_with(options.clone()).await?),
            false => None,
        };
        // The read connections of a SQLite file are not pinged before each use: a connection to a
        // local file does not drop like one over a network, and sqlx's ping is a round trip to
        // the connection's thread, as costly as a statement (README "Benchmarks"); sqlx still
        // pings one when it comes back. The writer keeps sqlx's default: lent without the ping,
        // postings measured the same.
        let pool = if sqlite_file { pool.test_before_acquire(false) } else { pool };
        let pool = pool.connect_with(options).await?;
        let writer = writer.unwrap_or_else(|| pool.clone());
        Ok(Db { pool, writer, backend, url: url.into() })
    }

    /// Applies the embedded migrations of this database's dialect; safe to run at every start
    /// and from several instances at once (PostgreSQL: under an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL this handle was opened with (PostgreSQL's `LISTEN` needs its own connection).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A write transaction (see the module header for what it locks). Never begin a second one
    /// while holding one: on SQLite it waits for the first (the acquire timeout ends it).
    ///
    /// The `BEGIN` runs in a task of its own, so a caller dropped while it runs (a client that
    /// hung up) cannot cut it between the database's answer and the [`Tx`] that owns it: sqlx
    /// would then return the connection still inside a transaction nobody can end, and on
    /// SQLite every later write would fail and the write lock stay taken (`store/tests.rs`).
    /// Dropped unclaimed, the finished `Tx` rolls back like any other.
    pub async fn begin(&self) -> Result<Tx<'static>, StoreError> {
        let (backend, pool) = (self.backend, self.writer.clone());
        let begun = tokio::spawn(async move {
            match backend {
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
                Backend::Postgres => pool.begin().await,
            }
        });
        Ok(begun.await.map_err(|e| StoreError::Internal(format!("beginning a transaction: {e}")))??)
    }

    /// Runs `f` in a write transaction ([`Db::begin`]) and commits it when `f` returns `Ok`; an
    /// `Err` rolls everything back. `f` must not begin another transaction.
    pub async fn write<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: for<'t, 'c> FnOnce(&'t mut Tx<'c>) -> WriteFuture<'t, Result<R, E>>,
        E: From<StoreError>,
    {
        let mut tx = self.begin().await?;
        let out = f(&mut tx).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(out)
    }

    /// `FOR UPDATE` on PostgreSQL, nothing on SQLite (whose write transaction already holds the
    /// database's one write lock): append to a `SELECT` whose rows the transaction will change.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// `FOR UPDATE SKIP LOCKED` on PostgreSQL (claim a row no other worker is claiming),
    /// nothing on SQLite.
    pub fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Readiness: the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Pool figures for `/metrics` and `/readyz`: `(open connections, idle connections)`.
    pub fn pool_state(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// The future a [`Db::write`] closure returns, borrowing the transaction.
pub type WriteFuture<'t, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 't>>;

/// A transaction on [`Db`]; business changes and the outbox rows announcing them share one.
pub type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// A boolean column: `BOOLEAN` on PostgreSQL, `INTEGER` 0/1 on SQLite (which has no boolean
/// type). Bind a plain `bool`; read into `Flag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

impl sqlx::Type<sqlx::Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <bool as sqlx::Type<sqlx::Any>>::type_info()
    }
    fn compatible(ty: &AnyTypeInfo) -> bool {
        ty.kind() == AnyTypeInfoKind::Bool || ty.kind().is_integer()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        match <bool as sqlx::Decode<sqlx::Any>>::decode(value.clone()) {
            Ok(b) => Ok(Flag(b)),
            Err(_) => Ok(Flag(<i64 as sqlx::Decode<sqlx::Any>>::decode(value)? != 0)),
        }
    }
}

/// Helpers for tests in this crate and in the others: a fresh migrated database, SQLite in a
/// temp folder, or — when `JOYGATE_TEST_POSTGRES_URL` is set — a new PostgreSQL database on
/// that server, dropped when the guard goes.
#[doc(hidden)]
pub mod testing {
    use super::Db;

    /// Keeps the test database alive; drops it (PostgreSQL) or its folder (SQLite) at the end.
    pub struct TestDb {
        _dir: Option<tempfile::TempDir>,
        drop_pg: Option<(String, String)>,
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            if let Some((admin_url, name)) = self.drop_pg.take() {
                // Dropped from a plain thread: Drop may run inside or outside a runtime.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
                    if let Ok(rt) = rt {
                        rt.block_on(async {
                            sqlx::any::install_default_drivers();
                            if let Ok(pool) = sqlx::AnyPool::connect(&admin_url).await {
                                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&pool).await;
                                pool.close().await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }

    /// The server tests run against when set: `postgres://user@host:port/postgres`.
    pub fn postgres_url() -> Option<String> {
        std::env::var("JOYGATE_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
    }

    /// A database URL for one test: a new PostgreSQL database (created now), or a SQLite file
    /// in `dir`.
    pub async fn fresh_url(dir: &std::path::Path) -> (String, TestDb) {
        match postgres_url() {
            Some(admin_url) => {
                sqlx::any::install_default_drivers();
                let name = format!("jg_test_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::AnyPool::connect(&admin_url).await.expect("connect to the test PostgreSQL server");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.expect("create a test database");
                pool.close().await;
                let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin_url.clone());
                let query = admin_url.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
                let url = format!("{base}/{name}{query}");
                (url, TestDb { _dir: None, drop_pg: Some((admin_url, name)) })
            }
            None => (format!("sqlite://{}", dir.join("joygate.db").display()), TestDb { _dir: None, drop_pg: None }),
        }
    }

    pub async fn temp_db() -> (TestDb, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, mut guard) = fresh_url(dir.path()).await;
        guard._dir = Some(dir);
        let db = Db::connect(&url).await.expect("connect");
        db.migrate().await.expect("migrate");
        (guard, db)
    }
}
