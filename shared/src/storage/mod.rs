//! What is stored, and how: the SQLite pool, its pragmas and migrations ([`db`]), the Diesel
//! schema, users, applications, tokens and signing keys, authorization codes, login sessions
//! and consents, Django fixtures, and the periodic prune. Everything here is synchronous and
//! runs through [`crate::blocking`].

pub mod applications;
pub mod checkpoint;
pub mod codes;
pub mod consents;
pub mod db;
pub mod fixtures;
pub mod maintenance;
pub mod schema;
pub mod sessions;
pub mod tokens;
pub mod users;
