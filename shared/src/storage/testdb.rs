//! A fresh database per test, on the backend the run asks for: a SQLite file in the test's
//! temporary directory by default, or, when `TEST_DATABASE_URL` holds a PostgreSQL admin URL
//! (`postgres://…/postgres`), a new PostgreSQL database with a random name, created for the
//! test and dropped when its [`TestDb`] is. Tests about SQLite itself (file modes, WAL, its
//! catalogue) ask for [`TestDb::sqlite`] and say so.
//!
//! Built for this crate's own tests and, through the `testdb` feature, for `test-support`,
//! which every other crate's tests use; never part of a service.

use std::path::{Path, PathBuf};

use crate::storage::db::{AnyConnection, DatabaseUrl, DbConfig};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// The variable naming the PostgreSQL server the suite runs against (an admin URL: a role
/// that may create databases).
pub const ENV: &str = "TEST_DATABASE_URL";

/// The PostgreSQL admin URL of this run, if it names one.
///
/// # Panics
/// When the variable is set to something other than a `postgres://` URL.
pub fn postgres_admin_url() -> Option<String> {
    let url = std::env::var(ENV).ok().filter(|u| !u.trim().is_empty())?;
    match DatabaseUrl::parse(&url) {
        Ok(DatabaseUrl::Postgres(url)) => Some(url),
        Ok(DatabaseUrl::Sqlite(_)) => panic!("{ENV} must be a postgres:// URL"),
        Err(e) => panic!("{ENV}: {e}"),
    }
}

/// One test's database; a PostgreSQL one is dropped with it.
#[derive(Debug)]
pub struct TestDb {
    url: DatabaseUrl,
    /// (admin URL, database name) of a database this test created.
    created: Option<(String, String)>,
}

impl TestDb {
    /// A fresh database: `dir/<name>.sqlite3`, or a new PostgreSQL database when the run
    /// names a server (see the module's comment).
    ///
    /// # Panics
    /// When the PostgreSQL database cannot be created.
    pub fn create(dir: &Path, name: &str) -> TestDb {
        match postgres_admin_url() {
            Some(admin) => TestDb::postgres(&admin, name),
            None => TestDb::sqlite(dir, name),
        }
    }

    /// Always a SQLite file `dir/<name>.sqlite3`, for tests about SQLite itself.
    pub fn sqlite(dir: &Path, name: &str) -> TestDb {
        TestDb {
            url: DatabaseUrl::Sqlite(dir.join(format!("{name}.sqlite3"))),
            created: None,
        }
    }

    /// A new PostgreSQL database on the server `admin` names (an admin URL), whatever the run asks
    /// for: for tests that need PostgreSQL itself.
    pub fn postgres(admin: &str, name: &str) -> TestDb {
        let database = format!(
            "test_{}_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
                .to_ascii_lowercase(),
            crate::security::secret::random_alphanumeric(10).to_ascii_lowercase()
        );
        let mut conn = PgConnection::establish(admin)
            .unwrap_or_else(|e| panic!("connect to {ENV} ({}): {e}", redacted(admin)));
        conn.batch_execute(&format!("CREATE DATABASE \"{database}\""))
            .unwrap_or_else(|e| panic!("create the test database {database}: {e}"));
        TestDb {
            url: DatabaseUrl::Postgres(with_database(admin, &database)),
            created: Some((admin.to_owned(), database)),
        }
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The URL whole (password included), to hand a child process in a test.
    pub fn url_arg(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => path.display().to_string(),
            DatabaseUrl::Postgres(url) => url.clone(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.is_postgres()
    }

    /// The SQLite file, when this is one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.url.sqlite_path().map(Path::to_path_buf)
    }

    /// A service's database configuration for it.
    pub fn config(&self) -> DbConfig {
        DbConfig::new(self.url.clone())
    }

    /// A connection of our own, beside a service's pool (SQLite: with the pool's pragmas).
    ///
    /// # Panics
    /// When the database cannot be opened.
    pub fn connect(&self) -> AnyConnection {
        connect(&self.url)
    }
}

impl From<&TestDb> for DatabaseUrl {
    fn from(db: &TestDb) -> Self {
        db.url.clone()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, database)) = self.created.take() else {
            return;
        };
        // Best effort: a server already gone takes its databases with it.
        if let Ok(mut conn) = PgConnection::establish(&admin) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
            ));
        }
    }
}

/// A connection of our own to a test database on either backend (SQLite: with the pool's
/// lock wait and foreign keys).
///
/// # Panics
/// When the database cannot be opened.
pub fn connect(url: &DatabaseUrl) -> AnyConnection {
    match url {
        DatabaseUrl::Sqlite(path) => {
            let path = path.to_str().expect("the temporary path is UTF-8");
            let mut conn = AnyConnection::Sqlite(
                SqliteConnection::establish(path).expect("open the test database"),
            );
            conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
                .expect("set the connection pragmas");
            conn
        }
        DatabaseUrl::Postgres(url) => {
            AnyConnection::Postgres(PgConnection::establish(url).expect("open the test database"))
        }
    }
}

/// `url` naming `database` instead of the one it names.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (body, query) = match rest.split_once('?') {
        Some((body, query)) => (body, Some(query)),
        None => (rest, None),
    };
    let authority = body.split('/').next().unwrap_or_default();
    let mut out = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn redacted(url: &str) -> String {
    DatabaseUrl::parse(url).map_or_else(|_| "an unreadable URL".to_owned(), |u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_database_replaces_the_admin_database_and_keeps_the_rest() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "t1"),
            "postgres://u:p@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres:///postgres?host=/tmp/pg&port=5433", "t1"),
            "postgres:///t1?host=/tmp/pg&port=5433"
        );
        assert_eq!(
            with_database("postgresql://localhost", "t1"),
            "postgresql://localhost/t1"
        );
    }
}
