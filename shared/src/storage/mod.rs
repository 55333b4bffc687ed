//! What is stored, and how: the pool on SQLite or PostgreSQL, the per-backend settings and
//! migrations ([`db`]), the database URL ([`url`]), the Diesel
//! schema, users, applications, tokens and signing keys, authorization codes, login sessions
//! and consents, the login throttle's counts, Django fixtures, the periodic prune, and hearing
//! other instances' changes ([`changes`]). Everything here is synchronous and
//! runs through [`crate::blocking`].

pub mod applications;
pub mod changes;
mod checkpoint;
pub mod codes;
pub mod connection;
pub mod consents;
pub mod db;
pub mod fixtures;
mod group_commit;
pub mod maintenance;
mod nudged;
pub mod schema;
pub mod sessions;
#[cfg(any(test, feature = "testdb"))]
pub mod testdb;
pub mod throttle;
pub mod tokens;
pub mod url;
pub mod users;
