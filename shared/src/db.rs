//! SQLite storage: the connection type, the pool with its pragmas, and the migrations.
//!
//! Migrations run on one dedicated connection before the pool exists; that connection also
//! switches the file to WAL, which is persistent. Every pooled connection then sets the
//! per-connection pragmas. Queries are plain functions on `&mut Connection`, called through
//! [`Db::run`] so they never block an async worker.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use thiserror::Error;

use crate::blocking::unblock;

/// The storage backend's connection type; the one place to change for another database.
pub type Connection = SqliteConnection;
pub type Pool = r2d2::Pool<ConnectionManager<Connection>>;

/// Tables every provider needs: users, applications, tokens, server keys.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long a writer waits for SQLite's single write lock before failing with "busy".
/// Write transactions here are a few inserts and updates (well under a millisecond), so
/// five seconds only runs out when something is badly wrong.
const BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
}

impl From<r2d2::Error> for StorageError {
    fn from(e: r2d2::Error) -> Self {
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
    pub path: PathBuf,
    /// Readers run in parallel under WAL and writers queue on SQLite's lock, so a handful of
    /// connections per core keeps the blocking threads busy without piling up waiters.
    pub pool_size: u32,
}

impl DbConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DbConfig {
            path: path.into(),
            pool_size: 8,
        }
    }
}

/// Accepts a plain path or a `sqlite://` URL, as `DATABASE_URL` often holds one.
pub fn path_from_url(url: &str) -> PathBuf {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    PathBuf::from(path)
}

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<Connection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut Connection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A handle on the pool; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("state", &self.pool.state())
            .finish()
    }
}

impl Db {
    /// Creates the file (mode 0600) if needed, applies pending migrations, builds the pool.
    pub fn open(config: &DbConfig, extra: &[EmbeddedMigrations]) -> Result<Db, StorageError> {
        migrate(&config.path, extra)?;
        let manager = ConnectionManager::<Connection>::new(path_str(&config.path)?);
        let pool = r2d2::Pool::builder()
            .max_size(config.pool_size.max(1))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(Pragmas))
            .build(manager)?;
        Ok(Db { pool })
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
            let mut conn = pool.get().map_err(StorageError::from)?;
            f(&mut conn)
        })
        .await
        .map_err(StorageError::from)?
    }

    /// A connection for synchronous callers (commands, tests).
    pub fn get(
        &self,
    ) -> Result<r2d2::PooledConnection<ConnectionManager<Connection>>, StorageError> {
        Ok(self.pool.get()?)
    }
}

fn path_str(path: &Path) -> Result<&str, StorageError> {
    path.to_str().ok_or_else(|| {
        StorageError::Unavailable(format!("database path is not UTF-8: {}", path.display()))
    })
}

/// Applies pending migrations on a dedicated connection, turning WAL on first.
pub fn migrate(path: &Path, extra: &[EmbeddedMigrations]) -> Result<(), StorageError> {
    create_private_file(path)?;
    let mut conn = <Connection as diesel::Connection>::establish(path_str(path)?)
        .map_err(|e| StorageError::Unavailable(e.to_string()))?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
    ))?;
    for source in std::iter::once(&MIGRATIONS).chain(extra) {
        conn.run_pending_migrations(Borrowed(source))
            .map_err(|e| StorageError::Migration(e.to_string()))?;
    }
    Ok(())
}

/// Lets a migration set be run without giving it away (`EmbeddedMigrations` is not `Copy`).
struct Borrowed<'a>(&'a EmbeddedMigrations);

impl diesel::migration::MigrationSource<diesel::sqlite::Sqlite> for Borrowed<'_> {
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<diesel::sqlite::Sqlite>>>>
    {
        self.0.migrations()
    }
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

/// True when a Diesel error is a unique-constraint violation (a lost insert race).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

#[cfg(test)]
mod tests {
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

    fn tables(conn: &mut Connection) -> Vec<String> {
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
        migrate(&path, &[]).expect("migrate");
        let mut conn =
            <Connection as diesel::Connection>::establish(path.to_str().expect("UTF-8 path"))
                .expect("connect");
        let applied = tables(&mut conn);
        assert!(applied.contains(&"users".to_owned()), "{applied:?}");

        conn.revert_all_migrations(MIGRATIONS).expect("revert");
        assert_eq!(tables(&mut conn), Vec::<String>::new());

        conn.run_pending_migrations(MIGRATIONS)
            .expect("migrate again");
        assert_eq!(tables(&mut conn), applied);
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
    }
}
