//! Fake Social Site over real HTTP: each test starts the service on port 0 with its own
//! SQLite file and talks to it with `reqwest`.

mod admin;
mod authorize;
mod bad_input;
mod client_secrets;
mod code_grant;
mod commands;
mod conformance;
mod cors;
mod data_transfer;
mod discovery;
mod health;
mod helpers;
mod id_token;
mod keys;
mod logs;
mod metadata;
mod observe_process;
mod oidc_clients;
mod oidc_flow;
mod oidc_interop;
mod process;
mod profile;
mod prune;
mod readme_promises;
mod refresh_revoke;
mod security;
mod security_headers;
mod settings_ranges;
mod slow_clients;
mod startup;
mod token;
mod token_type;
mod userinfo;
