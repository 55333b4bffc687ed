//! Fake Social Site over real HTTP: each test starts the service on port 0 with its own
//! SQLite file and talks to it with `reqwest`.

mod bad_input;
mod commands;
mod cors;
mod helpers;
mod logs;
mod metadata;
mod profile;
mod refresh_revoke;
mod security;
mod token;
