//! The only module that knows diesel and SQL: connections, pools, migrations and one query
//! function per operation. Backend differences (upserts, locking) stay inside this module.

pub mod access;
pub mod channel_records;
pub mod channels;
pub mod group;
pub mod outbox;
pub mod products;
pub mod record_codec;
pub mod resellers;
pub mod schema;
pub mod sessions;
pub mod snapshots;
pub mod sqlite_sql;
pub mod subscriptions;
pub mod tokens;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection to either backend; the variant is chosen from the URL scheme.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection, so that backend-specific diesel
/// features (upserts, `RETURNING`, `FOR UPDATE`) type-check once per backend.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Postgres($c) => $body,
            $crate::store::DbConnection::Sqlite($c) => $body,
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database is away (connection lost, pool exhausted, locked) rather than the
    /// request being wrong: such errors are answered with 503 and can be retried.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Query(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => true,
            StoreError::Query(Error::DatabaseError(_, info)) => {
                let m = info.message();
                m.contains("database is locked")
                    || m.contains("server closed the connection")
                    || m.contains("terminating connection")
            }
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a URL names. Anything but `sqlite://` and `postgres(ql)://` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(
                    "DATABASE_URL sqlite:// needs a file path, e.g. sqlite://data/partnerfeed.db"
                        .into(),
                );
            }
            Ok(Backend::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres(url.to_string()))
        } else {
            let scheme = url.split("://").next().unwrap_or(url);
            Err(format!(
                "DATABASE_URL scheme {scheme:?} is not supported: use sqlite://PATH or postgres://..."
            ))
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// An r2d2 manager that opens the backend named by the URL, never by trial and error. It
/// remembers whether its last attempt to connect failed: the database is then away, and
/// checkouts fail fast instead of queueing for the whole busy wait.
#[derive(Debug, Clone)]
pub struct DbManager {
    backend: Backend,
    away: Arc<AtomicBool>,
    role: Role,
}

/// What a manager's SQLite connections are for: their page cache and checkpoint setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Read,
    Write,
}

/// SQLite's page cache per reading connection (SQLite's default), and for the one writer: the
/// writer walks three B-trees of `channel_records` per record it publishes, and with a cache
/// smaller than what one generator step touches SQLite spills pages to the WAL before commit.
const READ_CACHE_KIB: u32 = 2 * 1024;
const WRITE_CACHE_KIB: u32 = 64 * 1024;

/// WAL pages (4 KiB) past which SQLite's writer copies the log back into the database itself,
/// at the end of a commit: 1 GiB. `serve` checkpoints from a connection of its own
/// ([`checkpoint`], `jobs::checkpoint`), and this is only the bound for when that cannot catch
/// up, and for the CLI's imports. While the generator commits step after step the log never
/// starts over (it does so only when a write begins with the whole log copied back), so it
/// grows to this bound whatever the other connection copies; with SQLite's default of 1,000
/// pages, and then with 16,384, the writer spent a fifth to a third of its time copying and
/// syncing the log instead of writing records (1,000 edits to 100 channels took 1.46× as long
/// at 16,384 as at this bound).
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 262_144;
/// Bytes the `-wal` file is cut back to when the log starts over: a long run of commits leaves
/// it up to [`WRITER_AUTOCHECKPOINT_PAGES`] large, and SQLite would otherwise keep the file at
/// that size.
const WAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

impl ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        let conn = self.open();
        self.away.store(conn.is_err(), Ordering::SeqCst);
        conn
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

impl DbManager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.backend {
            Backend::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(r2d2::Error::ConnectionError)?;
                // Statement journals (an upsert of many rows keeps one) stay in memory.
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                     PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{}; \
                     PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};",
                    match self.role {
                        Role::Read => READ_CACHE_KIB,
                        Role::Write => WRITE_CACHE_KIB,
                    },
                    match self.role {
                        Role::Write => WRITER_AUTOCHECKPOINT_PAGES,
                        // Readers never commit a write: their setting only matters to the
                        // token table's and the checkpointer's own connections.
                        Role::Read => 1_000,
                    },
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            Backend::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgres)
                .map_err(r2d2::Error::ConnectionError),
        }
    }
}

/// Makes the SQLite database private before SQLite opens it: a missing directory created 0700
/// (an existing one is left as it is: it may be shared; the data directory is tightened by the
/// app), the file created empty with mode 0600 (SQLite gives its `-wal` and `-shm` files the
/// database file's mode), and looser modes of existing database files tightened.
fn private_sqlite_files(path: &std::path::Path) -> StoreResult<()> {
    use crate::files::{private_dir, private_options, restrict, FILE_MODE};
    let fail = |p: &std::path::Path, e: std::io::Error| {
        StoreError::Unavailable(format!("cannot prepare {}: {e}", p.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            private_dir(dir).map_err(|e| fail(dir, e))?;
        }
    }
    private_options()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| fail(path, e))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = sqlite_file(path, suffix);
        restrict(&file, FILE_MODE).map_err(|e| fail(&file, e))?;
    }
    Ok(())
}

/// The file SQLite keeps beside the database at `path` with `suffix` (`-wal`, `-shm`, …; ""
/// for the database itself).
fn sqlite_file(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut file = path.as_os_str().to_owned();
    file.push(suffix);
    PathBuf::from(file)
}

type Pool = r2d2::Pool<DbManager>;
type Pooled = r2d2::PooledConnection<DbManager>;

/// Longest wait for a pooled connection while the database answers (every connection busy).
const BUSY_WAIT: Duration = Duration::from_secs(30);
/// Slices of that wait: between two, a checkout gives up as soon as the database is away.
const AWAY_WAIT: Duration = Duration::from_millis(500);

/// A connection from `pool`: waits while the pool is busy (up to [`BUSY_WAIT`]), but answers
/// [`StoreError::Unavailable`] within [`AWAY_WAIT`] once connecting to the database fails.
fn checkout(pool: &Pool, away: &AtomicBool) -> StoreResult<Pooled> {
    let deadline = std::time::Instant::now() + BUSY_WAIT;
    loop {
        match pool.get_timeout(AWAY_WAIT) {
            Ok(conn) => return Ok(conn),
            Err(e) if away.load(Ordering::SeqCst) || std::time::Instant::now() >= deadline => {
                return Err(StoreError::Unavailable(e.to_string()))
            }
            Err(_) => {}
        }
    }
}

/// The database handle: a pool for readers and one for writers. On SQLite the writer pool has a
/// single connection, so writers queue in-process instead of failing with "database is locked".
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    read: Pool,
    write: Pool,
    away: Arc<AtomicBool>,
}

impl Db {
    pub fn connect(backend: Backend) -> StoreResult<Db> {
        if let Backend::Sqlite(path) = &backend {
            private_sqlite_files(path)?;
        }
        let away = Arc::new(AtomicBool::new(false));
        let manager = |role| DbManager {
            backend: backend.clone(),
            away: away.clone(),
            role,
        };
        let (readers, writers) = match backend {
            Backend::Sqlite(_) => (4, 1),
            Backend::Postgres(_) => (8, 8),
        };
        let build = |size: u32, role: Role| {
            r2d2::Pool::builder()
                .max_size(size)
                // No idle minimum: r2d2 would top it up from background threads, and a CLI
                // process that exits while one of them is inside libpq can crash at exit.
                .min_idle(Some(0))
                .connection_timeout(AWAY_WAIT)
                .build(manager(role))
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let write = build(writers, Role::Write)?;
        let read = build(readers, Role::Read)?;
        Ok(Db {
            backend,
            read,
            write,
            away,
        })
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Applies the embedded migrations of this backend. On PostgreSQL an advisory lock keeps
    /// instances that start together from racing.
    pub fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.write_conn()?;
        run_migrations(&mut conn)
    }

    pub fn read_conn(&self) -> StoreResult<Pooled> {
        checkout(&self.read, &self.away)
    }

    pub fn write_conn(&self) -> StoreResult<Pooled> {
        checkout(&self.write, &self.away)
    }

    /// A connection of its own, outside both pools (the token table's refresher keeps one, so
    /// that busy pools never delay authentication).
    pub fn connect_one(&self) -> StoreResult<DbConnection> {
        DbManager {
            backend: self.backend.clone(),
            away: Arc::new(AtomicBool::new(false)),
            role: Role::Read,
        }
        .open()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// A round trip to the database that gives up after `limit` (checkout included): what
    /// `/readyz` waits for at most. The blocking work may outlive the answer; it holds no lock.
    pub async fn ping_within(&self, limit: Duration) -> StoreResult<()> {
        let pool = self.read.clone();
        let work = tokio::task::spawn_blocking(move || -> StoreResult<()> {
            let mut conn = pool
                .get_timeout(limit)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            ping(&mut conn)
        });
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("ping failed: {e}"))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "the database did not answer within {} ms",
                limit.as_millis()
            ))),
        }
    }

    /// Runs blocking read work on a pooled connection, off the async executor.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        let (pool, away) = (self.read.clone(), self.away.clone());
        blocking(move || {
            let mut conn = checkout(&pool, &away)?;
            f(&mut conn)
        })
        .await
    }

    /// Runs blocking work inside one write transaction, off the async executor. Any error,
    /// the caller's or the database's, rolls the whole transaction back.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        self.write_counted(f, true).await
    }

    /// [`Db::write`] for background work that never changes what the in-memory views trust
    /// (see [`transaction_counted_if`]): it leaves them trusted unless it fails.
    pub async fn write_uncounted<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        self.write_counted(f, false).await
    }

    async fn write_counted<T, E, F>(&self, f: F, counted: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        let (pool, away) = (self.write.clone(), self.away.clone());
        blocking(move || {
            let mut pooled = checkout(&pool, &away)?;
            transaction_counted_if(&mut pooled, f, |_| counted)
        })
        .await
    }
}

/// Runs `f` in a write transaction on `conn`, committed only when `f` succeeds. On SQLite the
/// transaction is `BEGIN IMMEDIATE`: it waits (busy timeout) for the write lock up front instead
/// of failing with "database is locked" when a read snapshot must later become a write.
pub fn transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
{
    transaction_counted_if(conn, f, |_| true)
}

/// [`transaction`] for background work that usually changes nothing the in-memory views trust
/// (tokens, grants, and channels' codes, last seqs and definitions; see [`commits`]): it is
/// counted only when it fails or when `counts` says its result changed some of that. An idle
/// generator step then leaves the views trusted, so 304s keep being answered from memory.
pub fn transaction_counted_if<T, E, F, C>(conn: &mut DbConnection, f: F, counts: C) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    C: FnOnce(&T) -> bool,
{
    let begun = match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c),
    };
    begun.map_err(|e| E::from(StoreError::Query(e)))?;
    let result = finish(conn, f);
    if result.as_ref().map_or(true, counts) {
        note_commit();
    }
    result
}

/// Write transactions this process has ended (committed or not), counted after their end.
static COMMITS: AtomicU64 = AtomicU64::new(0);

/// Counts a write transaction that just ended. [`transaction`] calls it; a commit made any
/// other way must call it too, or in-memory views (`api::token_table`'s channels and grants)
/// could trust state read before that commit until their next refresh.
pub fn note_commit() {
    COMMITS.fetch_add(1, Ordering::Release);
}

/// The number of write transactions ended so far: a view read after taking it, and still
/// holding the same number, has seen every commit of this process.
pub fn commits() -> u64 {
    COMMITS.load(Ordering::Acquire)
}

/// Runs `f` in a read-only snapshot: every query sees the same committed state (REPEATABLE READ
/// on PostgreSQL; one read transaction on SQLite). A feed and its cursor are read this way.
pub fn snapshot<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
{
    let begun = match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN DEFERRED")
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        ),
    };
    begun.map_err(|e| E::from(StoreError::Query(e)))?;
    finish(conn, f)
}

/// Commits after `f` succeeds, rolls back after it fails.
fn finish<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
{
    fn end(conn: &mut DbConnection, commit: bool) -> diesel::QueryResult<()> {
        match (conn, commit) {
            (DbConnection::Sqlite(c), true) => AnsiTransactionManager::commit_transaction(c),
            (DbConnection::Sqlite(c), false) => AnsiTransactionManager::rollback_transaction(c),
            (DbConnection::Postgres(c), true) => AnsiTransactionManager::commit_transaction(c),
            (DbConnection::Postgres(c), false) => AnsiTransactionManager::rollback_transaction(c),
        }
    }
    match f(conn) {
        Ok(value) => {
            if let Err(e) = end(conn, true) {
                let _ = end(conn, false);
                return Err(E::from(StoreError::Query(e)));
            }
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = end(conn, false) {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

async fn blocking<T, E, F>(f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        E::from(StoreError::Unavailable(format!(
            "database task failed: {e}"
        )))
    })?
}

/// SQLite: copies what the write-ahead log holds back into the database file, as far as no
/// reader still needs the log (`PASSIVE`: never waits for the writer or a reader). When the
/// whole log was copied, the writer's next commit starts it over from its beginning. Nothing
/// to do on PostgreSQL.
pub fn checkpoint(conn: &mut DbConnection) -> StoreResult<()> {
    if let DbConnection::Sqlite(c) = conn {
        c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")?;
    }
    Ok(())
}

/// Rows for a list of keys, loaded in chunks of [`sqlite_sql::LIST_MAX`] keys: on SQLite by
/// `sqlite` (a `sqlite_sql` statement, whose `IN` list is prepared once per shape), on
/// PostgreSQL by `postgres` (diesel's `eq_any`).
pub fn load_in_chunks<T>(
    conn: &mut DbConnection,
    keys: &[&str],
    mut sqlite: impl FnMut(&mut SqliteConnection, &[&str]) -> diesel::QueryResult<Vec<T>>,
    mut postgres: impl FnMut(&mut PgConnection, &[&str]) -> diesel::QueryResult<Vec<T>>,
) -> StoreResult<Vec<T>> {
    let mut rows = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(sqlite_sql::LIST_MAX) {
        rows.extend(match conn {
            DbConnection::Sqlite(c) => sqlite(c, chunk)?,
            DbConnection::Postgres(c) => postgres(c, chunk)?,
        });
    }
    Ok(rows)
}

/// A round trip to the database.
pub fn ping(conn: &mut DbConnection) -> StoreResult<()> {
    conn.batch_execute("SELECT 1")?;
    Ok(())
}

pub fn run_migrations(conn: &mut DbConnection) -> StoreResult<()> {
    let postgres = matches!(conn, DbConnection::Postgres(_));
    if postgres {
        conn.batch_execute("SELECT pg_advisory_lock(727274)")?;
    }
    let result = migrate_and_backfill(conn);
    if postgres {
        conn.batch_execute("SELECT pg_advisory_unlock(727274)")?;
    }
    result
}

/// The version of the migration that creates `product_search` (filled by the service).
const PRODUCT_SEARCH_MIGRATION: &str = "20261205000050";

fn migrate_and_backfill(conn: &mut DbConnection) -> StoreResult<()> {
    let versions = |v: Vec<diesel::migration::MigrationVersion<'_>>| {
        v.iter().map(|v| v.to_string()).collect::<Vec<_>>()
    };
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(versions),
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(versions),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    if applied.iter().any(|v| v == PRODUCT_SEARCH_MIGRATION) {
        backfill_product_search(conn)?;
    }
    Ok(())
}

/// Indexes every stored product's search words, a page of SKUs at a time, each page in its own
/// transaction (run once, right after the migration that creates the index).
pub fn backfill_product_search(conn: &mut DbConnection) -> StoreResult<()> {
    let mut after: Option<String> = None;
    loop {
        let page = products::list(conn, after.as_deref(), 1000)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.sku.clone());
        let mut words = Vec::with_capacity(page.len());
        for row in &page {
            let found = crate::catalog::search::stored_words(&row.body)
                .map_err(|e| StoreError::Corrupt(format!("product {}: {e}", row.sku)))?;
            words.push((row.sku.as_str(), found));
        }
        conn.transaction(|c| products::set_search_words(c, &words))?;
    }
}

/// The current time as stored: UTC without offset, microsecond precision.
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros())
        .unwrap_or(now)
        .naive_utc()
}

/// A secret shared by every instance, created by the first one that asks for it.
pub fn service_key(
    conn: &mut DbConnection,
    name: &str,
    generate: impl FnOnce() -> String,
) -> StoreResult<String> {
    use diesel::prelude::*;
    use schema::service_keys;
    let fresh = generate();
    with_conn!(conn, |c| diesel::insert_into(service_keys::table)
        .values((service_keys::name.eq(name), service_keys::value.eq(&fresh)))
        .on_conflict(service_keys::name)
        .do_nothing()
        .execute(c))?;
    Ok(service_keys::table
        .find(name)
        .select(service_keys::value)
        .first(conn)?)
}

/// Replaces a service key's value, only if it still is `old`; answers how many rows changed.
pub fn replace_service_key(
    conn: &mut DbConnection,
    name: &str,
    old: &str,
    new: &str,
) -> StoreResult<usize> {
    use diesel::prelude::*;
    use schema::service_keys;
    Ok(diesel::update(
        service_keys::table
            .filter(service_keys::name.eq(name))
            .filter(service_keys::value.eq(old)),
    )
    .set(service_keys::value.eq(new))
    .execute(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Size of the `-wal` file beside `path`.
    fn wal_bytes(path: &std::path::Path) -> u64 {
        std::fs::metadata(sqlite_file(path, "-wal")).map_or(0, |m| m.len())
    }

    #[test]
    fn the_log_grows_past_its_old_bound_and_is_cut_back_when_it_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let db = Db::connect(Backend::Sqlite(path.clone())).unwrap();
        let write = |sql: &str| {
            let mut conn = db.write_conn().unwrap();
            conn.batch_execute(sql).unwrap();
        };
        write("CREATE TABLE t (b BLOB NOT NULL)");
        // 96 MiB in commits of 4 MiB: past 16,384 pages, where the writer used to copy the
        // log back itself; nothing copies it here.
        for _ in 0..24 {
            write(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1024) \
                 INSERT INTO t SELECT randomblob(4096) FROM n",
            );
        }
        let grown = wal_bytes(&path);
        assert!(
            grown > 96 * 1024 * 1024,
            "the log holds every commit: {grown}"
        );
        // Copied back by another connection (as `jobs::checkpoint` does), the log starts over
        // at the next write, and its file is cut back to the limit.
        checkpoint(&mut db.connect_one().unwrap()).unwrap();
        write("INSERT INTO t VALUES (x'00')");
        assert_eq!(wal_bytes(&path), WAL_SIZE_LIMIT);
    }
}
