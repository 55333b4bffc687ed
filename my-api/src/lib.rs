//! My API: the product's own OAuth2-protected API, which also exchanges Fake Social Site
//! access tokens for its own.

pub mod social;
