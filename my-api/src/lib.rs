//! My API: an OAuth2 provider for its own users that also accepts Fake Social Site users,
//! exchanging their Fake Social Site token for its own, plus a small resource API and a
//! browser test page.

pub mod api;
pub mod cli;
pub mod exchange;
pub mod fixtures;
pub mod openapi;
pub mod page;
pub mod schema;
pub mod settings;
pub mod social;
pub mod startup;

pub use settings::{Settings, SocialSettings};
pub use startup::{Application, MIGRATIONS, routes};
