//! Pure security rules, with no database and no HTTP: password hashing (bcrypt, Django's
//! formats), secret values that never print, OAuth2 scopes, the login throttle, and what
//! stored text may hold.

pub mod password;
pub mod scope;
pub mod secret;
pub mod text;
pub mod throttle;
