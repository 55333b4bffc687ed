//! An OAuth2 provider kit, shared by Fake Social Site and My API. Four layers, each
//! importing only the ones below it:
//!
//! - [`service`]: what a running service is: the HTTP server and its middleware, the
//!   manage.py-like commands, the OpenAPI building blocks.
//! - [`oauth2`]: the provider's state and settings, the `/o/` endpoints, client
//!   authentication, the bearer-token extractor and the OAuth2 errors.
//! - [`storage`]: Diesel on SQLite and what is stored: users, applications, tokens and
//!   signing keys, Django fixtures, the periodic prune.
//! - [`security`]: pure rules, no database: password hashing, secrets, scopes, the login
//!   throttle, text checks.
//!
//! Beside them, four leaves any layer may use: [`blocking`], [`clock`], [`profile`] and
//! [`telemetry`] (the metrics and the current request id).

pub mod blocking;
pub mod clock;
pub mod profile;
pub mod telemetry;

pub mod oauth2;
pub mod security;
pub mod service;
pub mod storage;
