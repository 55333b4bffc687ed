//! The storage backends: SQLite (the embedded default) or PostgreSQL, chosen by the URL
//! ([`DatabaseUrl`]); the connection type, the pool with its per-backend settings, the
//! transactions writers use, and the migrations.
//!
//! Every query is written once against [`Connection`] (Diesel's `MultiConnection` over both
//! backends); what differs per backend stays in this file. On SQLite, migrations run on one
//! dedicated connection before the pool exists; that connection also switches the file to
//! WAL, which is persistent. Every pooled connection then sets the per-connection pragmas,
//! and the writes of this process queue for one writer thread, which commits those that
//! queued together (see [`Db::write`]). On PostgreSQL,
//! writes run concurrently in ordinary transactions. Queries are plain functions on
//! `&mut Connection`, called through [`Db::run`] so they never block an async worker.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use diesel::connection::{Connection as _, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::CustomizeConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use thiserror::Error;

use crate::blocking::unblock;
use crate::storage::checkpoint::{self, Checkpointer};
pub use crate::storage::connection::{AnyConnection, Manager, MultiBackend};
use crate::storage::group_commit::GroupCommit;
pub use crate::storage::url::{DatabaseUrl, UrlError};

/// The storage backend's connection type (see [`AnyConnection`]).
pub type Connection = AnyConnection;
/// The pool every service and command uses, whatever the backend.
pub type Pool = r2d2::Pool<Manager>;
/// A connection taken from the [`Pool`].
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// A migration set in both dialects, chosen by the connection's backend; the SQLite set keeps
/// the names and versions it always had, so existing files upgrade in place.
pub struct Migrations {
    pub sqlite: EmbeddedMigrations,
    pub postgres: EmbeddedMigrations,
}

impl std::fmt::Debug for Migrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Migrations")
    }
}

/// Tables every provider needs: users, applications, tokens, server keys.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: embed_migrations!("migrations/sqlite"),
    postgres: embed_migrations!("migrations/postgres"),
};

/// How long a writer waits for SQLite's single write lock before failing with "busy".
/// Write transactions here are a few inserts and updates (well under a millisecond), so
/// five seconds only runs out when something is badly wrong. Measured with 200 concurrent
/// clients mixing password grants, refreshes, revocations and exchanges against both release
/// binaries (`my-api/tests/load.rs`): the slowest request of any kind took under 0.7 s (most
/// of it bcrypt), none failed with "database is locked", so there is no reason to raise it (a
/// longer wait only hides a stuck writer) nor to lower it (a burst must queue, not fail).
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// The health check's own, short wait for a lock: a load balancer wants a quick "no".
const HEALTH_BUSY_TIMEOUT_MS: u32 = 200;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
    /// The health check's verdict: the database cannot serve requests right now.
    #[error("{0}")]
    Unhealthy(String),
}

impl StorageError {
    /// Logs the fault once, with its cause, at the boundary that turns it into an answer.
    pub fn log(&self) {
        match self {
            StorageError::Query(cause) => log::error!("{self}: {cause}"),
            other => log::error!("{other}"),
        }
    }
}

impl From<r2d2::Error> for StorageError {
    fn from(e: r2d2::Error) -> Self {
        StorageError::Unavailable(e.to_string())
    }
}

impl From<UrlError> for StorageError {
    fn from(e: UrlError) -> Self {
        StorageError::Unavailable(e.to_string())
    }
}

impl From<crate::blocking::Cancelled> for StorageError {
    fn from(e: crate::blocking::Cancelled) -> Self {
        StorageError::Unavailable(e.to_string())
    }
}

/// Where the database lives and how many connections to keep.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub url: DatabaseUrl,
    /// Readers run in parallel under WAL and writers queue on SQLite's lock, so a handful of
    /// connections per core keeps the blocking threads busy without piling up waiters.
    /// The default, 8, is kept on measurement: in the load test (`my-api/tests/load.rs`, 200
    /// concurrent clients, ~1,900 requests, 2 cores) pools of 2, 8 and 16 all finished in
    /// 1.2–1.4 s (~1,400–1,600 req/s, within run-to-run noise) with no 5xx and no busy
    /// error: bcrypt, not the pool, is the bottleneck. Every write is one short immediate
    /// transaction, so more connections only add writers queueing on the one lock, while a
    /// tiny pool would make token checks (reads, parallel under WAL) wait behind writes.
    /// The same setting sizes the PostgreSQL pool (one server connection each).
    pub pool_size: u32,
}

/// Connections in the pool unless configured (`DB_POOL_SIZE`); see [`DbConfig::pool_size`].
pub const DEFAULT_POOL_SIZE: u32 = 8;

impl DbConfig {
    pub fn new(url: impl Into<DatabaseUrl>) -> Self {
        DbConfig {
            url: url.into(),
            pool_size: DEFAULT_POOL_SIZE,
        }
    }
}

/// A new connection to `url`; SQLite files are not created here (see [`migrate`]).
pub fn establish(url: &DatabaseUrl) -> Result<Connection, StorageError> {
    let connected = match url {
        DatabaseUrl::Sqlite(path) => {
            SqliteConnection::establish(path_str(path)?).map(AnyConnection::Sqlite)
        }
        DatabaseUrl::Postgres(url) => PgConnection::establish(url).map(AnyConnection::Postgres),
    };
    // libpq's messages name the host and user, never the password.
    connected.map_err(|e| StorageError::Unavailable(format!("{}: {e}", url.redacted())))
}

/// Each pooled SQLite connection's page cache, in KiB (SQLite's default is 2,000). The pages
/// also sit in the operating system's cache, shared by every connection, so a private copy
/// per connection mostly costs memory: eight connections at the default held 16 MB.
pub const SQLITE_CACHE_KIB: u32 = 512;

#[derive(Debug)]
struct Pragmas;

// `synchronous = NORMAL` in WAL mode: a commit is in the WAL (written, not yet fsynced) when
// it returns, so it survives the process crashing or being killed (the OS holds the pages);
// only a power loss or kernel crash may lose the last commits, never corrupt the file.
// `fake-social-site/tests/api/process.rs` kills the service mid-write to check it.
impl CustomizeConnection<Connection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut Connection) -> Result<(), diesel::r2d2::Error> {
        if !conn.is_sqlite() {
            return Ok(());
        }
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA cache_size = -{SQLITE_CACHE_KIB}; \
             PRAGMA wal_autocheckpoint = {};",
            checkpoint::BACKSTOP_PAGES
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A handle on the pool; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    url: DatabaseUrl,
    /// One writer of this process at a time on SQLite; see [`Db::write`].
    writer: Arc<Mutex<()>>,
    /// SQLite's writer thread, which commits queued writes together; see [`Db::write`].
    group_commit: Option<Arc<GroupCommit>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("url", &self.url)
            .field("state", &self.pool.state())
            .finish()
    }
}

impl Db {
    /// Applies pending migrations (creating a SQLite file, mode 0600, if needed), then builds
    /// the pool.
    pub fn open(config: &DbConfig, extra: &[Migrations]) -> Result<Db, StorageError> {
        migrate(&config.url, extra)?;
        let pool = r2d2::Pool::builder()
            .max_size(config.pool_size.max(1))
            .connection_timeout(Duration::from_secs(10))
            // No `SELECT 1` before each use: on PostgreSQL that is a round trip, one in ten of
            // an exchange's (measured: (c) went from 1,927 to 2,330 req/s without it). A
            // connection whose server went away fails the one piece of work that gets it;
            // libpq then reports its state unknown, Diesel marks it broken, and the pool
            // drops it instead of handing it on (tested below).
            .test_on_check_out(false)
            .connection_customizer(Box::new(Pragmas))
            .build(Manager::new(config.url.clone()))?;
        let writer = Arc::new(Mutex::new(()));
        let group_commit = match &config.url {
            DatabaseUrl::Sqlite(_) => {
                let started = Checkpointer::start(&config.url).and_then(|checkpointer| {
                    GroupCommit::start(pool.clone(), writer.clone(), checkpointer)
                });
                Some(Arc::new(started.map_err(|e| {
                    StorageError::Unavailable(format!("cannot start the writer thread: {e}"))
                })?))
            }
            DatabaseUrl::Postgres(_) => None,
        };
        Ok(Db {
            pool,
            url: config.url.clone(),
            writer,
            group_commit,
        })
    }

    /// Where this database is (printable: a password shows as `***`).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Runs `f` with a pooled connection on the blocking pool (the pool's `get` blocks too).
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let pool = self.pool.clone();
        unblock(move || {
            let (mut conn, _in_use) = checkout(&pool)?;
            f(&mut conn)
        })
        .await
        .map_err(StorageError::from)?
    }

    /// Runs `f` in a write transaction of its own, or in a savepoint of one shared with other
    /// writes: either way it commits or rolls back as a whole, and its result comes back once
    /// it is committed.
    ///
    /// SQLite has one write lock. Writers that meet it held wait in its busy handler, which
    /// sleeps in growing steps (up to 100 ms) and so turns a sub-millisecond queue into
    /// tail latency of a hundred milliseconds. So this process's writes queue for one writer
    /// thread instead, which hands the lock on as soon as it is free (SQLite's own wait is
    /// left for other processes) and commits the writes that queued meanwhile together
    /// ([`group_commit`](crate::storage::group_commit)). The writer takes a connection per
    /// batch, so waiting writes never hold connections readers need. PostgreSQL locks rows,
    /// not the database: its writers run concurrently, each in its own transaction
    /// ([`AnyConnection::write_transaction`]).
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + From<diesel::result::Error> + Send + 'static,
    {
        match &self.group_commit {
            Some(group) => group.write(f).await,
            None => self.exclusive(move |conn| conn.write_transaction(f)).await,
        }
    }

    /// Like [`Db::write`], for a write that can lose an insert race on PostgreSQL (two first
    /// logins at once): there, when `lost` says its error is such a race, `f` runs once more
    /// in a new transaction (see [`retry_lost_race`]). SQLite's write lock makes the race
    /// impossible, so there `f` runs once, batched like any write. Returns whether it ran again.
    pub async fn write_retrying<T, E, F, L>(&self, mut f: F, lost: L) -> Result<(T, bool), E>
    where
        F: FnMut(&mut Connection) -> Result<T, E> + Send + 'static,
        L: Fn(&E) -> bool + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + From<diesel::result::Error> + Send + 'static,
    {
        if self.group_commit.is_some() {
            return self.write(move |conn| Ok((f(conn)?, false))).await;
        }
        self.exclusive(move |conn| {
            let (result, retried) = retry_lost_race(|| conn.write_transaction(&mut f), lost);
            result.map(|value| (value, retried))
        })
        .await
    }

    /// How many transactions SQLite's writer thread has run (none on PostgreSQL).
    #[cfg(test)]
    pub(crate) fn write_batches(&self) -> u64 {
        self.group_commit
            .as_ref()
            .map_or(0, |group| group.batches())
    }

    /// Runs `f` holding this process's write turn on SQLite (the writer thread's batches
    /// wait meanwhile; see [`Db::write`]; on PostgreSQL there is no turn) but without opening a
    /// transaction, for work that manages its own (batched deletes).
    pub async fn exclusive<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let writer = (!self.url.is_postgres()).then(|| self.writer.clone());
        unblock(move || {
            let _turn = writer
                .as_ref()
                .map(|w| w.lock().unwrap_or_else(PoisonError::into_inner));
            let (mut conn, _in_use) = checkout(&pool)?;
            f(&mut conn)
        })
        .await
        .map_err(StorageError::from)?
    }

    /// Whether the database can serve requests, each check within a short wait (not the
    /// pool's five seconds), so a held lock is reported instead of waited out. On SQLite: its
    /// file is still there, a real table can be read, and the write lock can be had. On
    /// PostgreSQL: a real table can be read.
    pub async fn health(&self) -> Result<(), StorageError> {
        let path = self.url.sqlite_path().map(Path::to_path_buf);
        self.run(move |conn| {
            let Some(path) = path else {
                return probe_postgres(conn);
            };
            // Open connections keep working on a deleted file, and every write would then
            // be lost: only the path tells.
            if !path.exists() {
                // The path goes to the log, never into the answer: /healthz is public.
                log::warn!("the database file {} is missing", path.display());
                return Err(StorageError::Unhealthy(
                    "the database file is missing".to_owned(),
                ));
            }
            conn.batch_execute(&format!("PRAGMA busy_timeout = {HEALTH_BUSY_TIMEOUT_MS}"))?;
            let probe = probe(conn);
            // Back to the pool's wait whatever happened; a connection that cannot even do
            // that is not fit to go back.
            conn.batch_execute(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"))?;
            probe
        })
        .await
    }

    /// A connection for synchronous callers (commands, tests).
    pub fn get(&self) -> Result<PooledConnection, StorageError> {
        Ok(self.pool.get()?)
    }
}

/// A pooled connection for the server's work, counted in the metrics: the connection is in
/// use while the returned guard lives; a checkout that finds every connection taken waits.
pub(crate) fn checkout(
    pool: &Pool,
) -> Result<(PooledConnection, crate::telemetry::GaugeGuard), StorageError> {
    let metrics = crate::telemetry::metrics();
    let state = pool.state();
    if state.idle_connections == 0 && state.connections >= pool.max_size() {
        metrics.db_waits.inc();
    }
    let started = std::time::Instant::now();
    let conn = pool.get();
    metrics.db_wait.observe(started.elapsed().as_secs_f64());
    Ok((conn?, crate::telemetry::GaugeGuard::new(&metrics.db_in_use)))
}

/// A read of a real table (under WAL, readers are blocked only by recovery or an exclusive
/// locking mode) and a write lock taken and released at once (what token issue needs).
fn probe(conn: &mut Connection) -> Result<(), StorageError> {
    let locked = |e: diesel::result::Error| {
        if e.to_string().contains("locked") {
            StorageError::Unhealthy("the database is locked".to_owned())
        } else {
            StorageError::Query(e)
        }
    };
    diesel::sql_query("SELECT id FROM users WHERE id = 0")
        .execute(conn)
        .map_err(locked)?;
    conn.batch_execute("BEGIN IMMEDIATE").map_err(locked)?;
    conn.batch_execute("ROLLBACK")?;
    Ok(())
}

/// A read of a real table, given [`HEALTH_BUSY_TIMEOUT_MS`] to answer.
fn probe_postgres(conn: &mut Connection) -> Result<(), StorageError> {
    conn.transaction(|conn| {
        conn.batch_execute(&format!(
            "SET LOCAL statement_timeout = {HEALTH_BUSY_TIMEOUT_MS}; \
             SET LOCAL lock_timeout = {HEALTH_BUSY_TIMEOUT_MS}"
        ))?;
        diesel::sql_query("SELECT id FROM users WHERE id = 0").execute(conn)?;
        Ok(())
    })
}

fn path_str(path: &Path) -> Result<&str, StorageError> {
    path.to_str().ok_or_else(|| {
        StorageError::Unavailable(format!("database path is not UTF-8: {}", path.display()))
    })
}

/// The page size of a new SQLite file. Token writes change rows at random places in a
/// handful of B-trees (a token's id, its family, its refresh token's hash), and SQLite writes
/// each changed page whole to the WAL: with 1 KiB pages an exchange writes about 25 KiB to the
/// WAL instead of 85 KiB with the default 4 KiB (measured on the token tables' schema with
/// 20,000 users), and the disk, not the CPU, bounds token issuing. An existing file keeps its
/// page size (changing it takes a `VACUUM` outside WAL mode).
pub const SQLITE_PAGE_SIZE: u32 = 1024;

/// Applies pending migrations (the shared set, then `extra`, each in the backend's dialect)
/// on a dedicated connection. A SQLite file is created private, given its page size if new,
/// and switched to WAL first.
pub fn migrate(url: &DatabaseUrl, extra: &[Migrations]) -> Result<(), StorageError> {
    if let Some(path) = url.sqlite_path() {
        create_private_file(path)?;
    }
    let mut conn = establish(url)?;
    if conn.is_sqlite() {
        // `page_size` only takes on a file with no table yet, and must come before WAL.
        conn.batch_execute(&format!(
            "PRAGMA page_size = {SQLITE_PAGE_SIZE}; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; \
             PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
        ))?;
    }
    for set in std::iter::once(&MIGRATIONS).chain(extra) {
        run_pending(&mut conn, set).map_err(|e| StorageError::Migration(e.to_string()))?;
    }
    Ok(())
}

/// Runs `set`'s pending migrations in the connection's own dialect.
pub fn run_pending(conn: &mut Connection, set: &Migrations) -> diesel::migration::Result<()> {
    match conn {
        AnyConnection::Sqlite(conn) => conn.run_pending_migrations(Borrowed(&set.sqlite))?,
        AnyConnection::Postgres(conn) => conn.run_pending_migrations(Borrowed(&set.postgres))?,
    };
    Ok(())
}

/// Lets a migration set be run without giving it away (`EmbeddedMigrations` is not `Copy`).
struct Borrowed<'a>(&'a EmbeddedMigrations);

impl<DB: diesel::backend::Backend> diesel::migration::MigrationSource<DB> for Borrowed<'_> {
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DB>>>> {
        diesel::migration::MigrationSource::<DB>::migrations(self.0)
    }
}

/// After rows were stored with explicit ids (fixtures): PostgreSQL's identity sequences
/// move past the highest id of their table, so the next generated id is free (SQLite's
/// AUTOINCREMENT does this by itself). Django's `loaddata` does the same.
pub fn reset_sequences(conn: &mut Connection) -> QueryResult<()> {
    if conn.is_sqlite() {
        return Ok(());
    }
    conn.batch_execute(
        "DO $$
        DECLARE r record;
        BEGIN
            FOR r IN SELECT c.table_name, c.column_name FROM information_schema.columns c
                WHERE c.table_schema = current_schema() AND c.is_identity = 'YES'
            LOOP
                EXECUTE format(
                    'SELECT setval(pg_get_serial_sequence(%L, %L), '
                    'COALESCE((SELECT max(%I) FROM %I), 0) + 1, false)',
                    r.table_name, r.column_name, r.column_name, r.table_name);
            END LOOP;
        END $$",
    )
}

/// The database holds password hashes and token records: only its owner may read it.
fn create_private_file(path: &Path) -> Result<(), StorageError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StorageError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StorageError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    Ok(())
}

/// Runs `attempt` (one write transaction) and, when it lost an insert race (`lost`: a unique
/// violation, which PostgreSQL's concurrent writers can meet and SQLite's serialised ones
/// never do), runs it once more: rolled back, the second attempt reads the winner's row
/// instead of inserting its own. Returns the outcome and whether the second attempt ran (also
/// counted in `db_lost_races_total`).
pub fn retry_lost_race<T, E>(
    mut attempt: impl FnMut() -> Result<T, E>,
    lost: impl Fn(&E) -> bool,
) -> (Result<T, E>, bool) {
    match attempt() {
        Err(e) if lost(&e) => {
            crate::telemetry::metrics().db_lost_races.inc();
            (attempt(), true)
        }
        other => (other, false),
    }
}

/// Whether `text` can be a stored value at all. PostgreSQL's text holds no NUL character and
/// refuses a query that binds one (an error, not "no row"); nothing here stores one on SQLite
/// either. So a key from a request that holds one names no row, on either backend, and the
/// finders answer so without asking.
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// True when a Diesel error is a unique-constraint violation (a lost insert race).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

// SQLite's own behaviour (file modes, WAL, upgrading existing files); the same storage on
// both backends is tested in `test-support/tests`.
#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use diesel::sql_types::{BigInt, Text};

    use super::*;

    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }

    #[derive(QueryableByName)]
    struct Flag {
        #[diesel(sql_type = BigInt)]
        foreign_keys: i64,
    }

    fn tables(conn: &mut SqliteConnection) -> Vec<String> {
        diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name != '__diesel_schema_migrations' ORDER BY name",
        )
        .load::<Name>(conn)
        .expect("list tables")
        .into_iter()
        .map(|t| t.name)
        .collect()
    }

    #[test]
    fn every_migration_can_be_reverted_and_applied_again() {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join("migrations.sqlite3");
        migrate(&DatabaseUrl::from(&path), &[]).expect("migrate");
        let mut conn =
            SqliteConnection::establish(path.to_str().expect("UTF-8 path")).expect("connect");
        let applied = tables(&mut conn);
        assert!(applied.contains(&"users".to_owned()), "{applied:?}");

        conn.revert_all_migrations(Borrowed(&MIGRATIONS.sqlite))
            .expect("revert");
        assert_eq!(tables(&mut conn), Vec::<String>::new());

        conn.run_pending_migrations(Borrowed(&MIGRATIONS.sqlite))
            .expect("migrate again");
        assert_eq!(tables(&mut conn), applied);
    }

    #[test]
    fn upgrading_lets_only_the_grantless_confidential_clients_keep_introspecting() {
        use crate::storage::schema::applications;
        use diesel::{QueryDsl, RunQueryDsl};

        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join("upgrade.sqlite3");
        let mut conn =
            SqliteConnection::establish(path.to_str().expect("UTF-8 path")).expect("connect");
        // The schema before introspection became a permission.
        conn.run_next_migration(Borrowed(&MIGRATIONS.sqlite))
            .expect("the first migration");
        conn.batch_execute(
            "INSERT INTO applications (client_id, name, client_type, client_secret_hash, \
             grant_types, created) VALUES \
             ('introspector', 'i', 'confidential', 'sha256$00', '', 0), \
             ('backend', 'b', 'confidential', 'sha256$00', 'password refresh_token', 0), \
             ('public', 'p', 'public', NULL, '', 0)",
        )
        .expect("insert clients");
        conn.run_pending_migrations(Borrowed(&MIGRATIONS.sqlite))
            .expect("upgrade");
        let flags: Vec<(String, bool)> = applications::table
            .select((applications::client_id, applications::allow_introspection))
            .order(applications::client_id)
            .load(&mut conn)
            .expect("read the flags");
        assert_eq!(
            flags,
            [
                ("backend".to_owned(), false),
                ("introspector".to_owned(), true),
                ("public".to_owned(), false)
            ]
        );
    }

    #[test]
    fn pooled_connections_enforce_foreign_keys_on_a_private_file() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join("pool.sqlite3");
        let db = Db::open(&DbConfig::new(&path), &[]).expect("open");
        let flag = diesel::sql_query("PRAGMA foreign_keys")
            .get_result::<Flag>(&mut db.get().expect("a connection"))
            .expect("read the pragma");
        assert_eq!(flag.foreign_keys, 1);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The private signing keys live in it, and in its write-ahead log until a checkpoint:
        // SQLite gives the log and the shared-memory index the database file's mode.
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", path.display()));
            let mode = std::fs::metadata(&side).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", side.display());
        }
    }

    #[actix_rt::test]
    async fn a_connection_whose_server_went_away_is_dropped_after_the_work_that_failed_on_it() {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let fresh = crate::storage::testdb::TestDb::create(dir.path(), "gone");
        if !fresh.is_postgres() {
            return; // A SQLite connection has no server to lose.
        }
        let db = Db::open(
            &DbConfig {
                url: fresh.url().clone(),
                pool_size: 2,
            },
            &[],
        )
        .expect("open");
        let read = || {
            db.run(|conn| {
                Ok::<_, StorageError>(diesel::sql_query("SELECT id FROM users").execute(conn)?)
            })
        };
        read().await.expect("a read");
        fresh
            .connect()
            .batch_execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .expect("end the pool's server processes");
        // No ping at checkout: each dead connection fails the one read that gets it, and is
        // then dropped instead of going back to the pool, so the pool heals by itself.
        let mut failed = 0;
        let mut outcomes = Vec::new();
        for _ in 0..6 {
            let outcome = read().await;
            failed += usize::from(outcome.is_err());
            outcomes.push(outcome.is_ok());
        }
        assert!(failed <= 2, "{outcomes:?}");
        assert!(outcomes[2..].iter().all(|ok| *ok), "{outcomes:?}");
    }
}
