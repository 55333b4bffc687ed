//! What the tests of Fake Social Site, My API and the demo share, written once: a logger
//! that keeps every record ([`logs`]), a fresh database per test, SQLite or PostgreSQL
//! ([`testdb`]), a PostgreSQL server for tests that need one ([`postgres`]), fixtures loaded into it ([`db`]), the
//! HTTP client and the assertions on answers ([`http`]), loopback sockets ([`net`]),
//! services run as child processes ([`process`]) and checks of their flags ([`cli`]). A dev-dependency only; each crate keeps
//! its own `TestApp` with a typed method per endpoint.

pub mod cli;
pub mod db;
pub mod http;
pub mod logs;
pub mod net;
pub mod postgres;
pub mod process;
pub mod testdb;
