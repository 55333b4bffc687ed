//! What Fake Social Site and My API share: storage, users, applications, tokens, password
//! hashing, the OAuth2 endpoints and errors, the bearer-token extractor, fixtures and the
//! manage.py-like commands.

pub mod applications;
pub mod blocking;
pub mod body_deadline;
pub mod clock;
pub mod db;
pub mod maintenance;
pub mod oauth2;
pub mod openapi;
pub mod password;
pub mod profile;
pub mod provider;
pub mod schema;
pub mod scope;
pub mod secret;
pub mod server;
pub mod settings;
pub mod text;
pub mod throttle;
pub mod tokens;
pub mod users;

pub mod bearer;
pub mod cli;
pub mod fixtures;
pub mod http;
