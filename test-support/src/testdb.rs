//! A fresh database per test, SQLite or PostgreSQL (`TEST_DATABASE_URL`): the storage
//! layer's own helper (`shared::storage::testdb`), which its unit tests use too.

pub use shared::storage::testdb::*;
