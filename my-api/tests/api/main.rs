//! My API over real HTTP: each test starts the real Fake Social Site and the real My API on
//! port 0, each with its own SQLite file holding its demo fixture (or My API alone, pointed at
//! a fake provider), and talks to them with `reqwest`.

mod concurrency;
mod data_transfer;
mod demo_switch;
mod exchange;
mod fake_provider;
mod first_login_race;
mod helpers;
mod hostile_input;
mod id_tokens;
mod id_tokens_fss;
mod keys;
mod linking;
mod local_login;
mod logs;
mod migrations;
mod observability;
mod oidc_provider;
mod pagination;
mod provider_faults;
mod provider_stalls;
mod public_urls;
mod resources;
mod security_headers;
mod settings_promises;
mod settings_ranges;
mod substitution;
mod token_exchange_grants;
