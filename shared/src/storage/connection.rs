//! The connection to either backend ([`AnyConnection`], Diesel's `MultiConnection`), how the
//! pool opens one ([`Manager`]), and the transaction writers use on each
//! ([`AnyConnection::write_transaction`]). Kept apart from `db` because the derive brings its
//! own names (`MultiBackend`, …) into this module.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;

use crate::storage::url::DatabaseUrl;

/// A connection to either backend; every query of the workspace is written against it.
/// Built by [`Manager`] from a [`DatabaseUrl`], never by trying each backend in turn.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the backend's own connection, for the few statements Diesel
/// builds only per backend (`ON CONFLICT`): the body is written once and compiled for each.
#[macro_export]
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::storage::connection::AnyConnection::Postgres($c) => $body,
            $crate::storage::connection::AnyConnection::Sqlite($c) => $body,
        }
    };
}

/// Opens connections of the backend the URL names (Diesel's own manager would try
/// PostgreSQL, then SQLite, for any string, and so hide a refused PostgreSQL connection
/// behind a SQLite error about a strange file name).
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
}

impl Manager {
    pub fn new(url: DatabaseUrl) -> Self {
        Manager { url }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        let connected = match &self.url {
            DatabaseUrl::Sqlite(path) => {
                SqliteConnection::establish(&path.to_string_lossy()).map(AnyConnection::Sqlite)
            }
            DatabaseUrl::Postgres(url) => PgConnection::establish(url).map(AnyConnection::Postgres),
        };
        connected.map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

impl std::fmt::Debug for AnyConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AnyConnection::Postgres(_) => "AnyConnection::Postgres",
            AnyConnection::Sqlite(_) => "AnyConnection::Sqlite",
        })
    }
}

impl AnyConnection {
    pub fn is_sqlite(&self) -> bool {
        matches!(self, AnyConnection::Sqlite(_))
    }

    /// Runs `f` in a transaction meant for writing. On SQLite it begins `IMMEDIATE`, taking
    /// the write lock at once, so two writers never both read and then fail to upgrade; on
    /// PostgreSQL it is an ordinary transaction, and a lost race shows as a unique violation
    /// (see [`crate::storage::db::is_unique_violation`]) that rolls the whole of it back. Nested, it is a
    /// savepoint on both.
    pub fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        let AnyConnection::Sqlite(inner) = self else {
            return self.transaction(f);
        };
        let depth = AnsiTransactionManager::transaction_manager_status_mut(inner)
            .transaction_depth()
            .map_err(E::from)?;
        if depth.is_some() {
            return self.transaction(f);
        }
        AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE").map_err(E::from)?;
        match f(self) {
            Ok(value) => match <AnyConnection as TransactionManager<_>>::commit_transaction(self) {
                Ok(()) => Ok(value),
                Err(e) => {
                    // A failed COMMIT may leave the transaction open: end it before the
                    // connection goes back to the pool.
                    let _ = <AnyConnection as TransactionManager<_>>::rollback_transaction(self);
                    Err(e.into())
                }
            },
            Err(e) => {
                <AnyConnection as TransactionManager<_>>::rollback_transaction(self)
                    .map_err(E::from)?;
                Err(e)
            }
        }
    }
}
