//! Fake Social Site: an OAuth2 provider (password and refresh grants, revocation,
//! introspection, metadata) that shows the token owner's profile, playing the part
//! Facebook & co. play for My API.

pub mod cli;
pub mod openapi;
pub mod profile;
pub mod startup;

pub use startup::{Application, Settings, routes};
