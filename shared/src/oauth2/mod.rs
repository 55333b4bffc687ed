//! The OAuth2 endpoints both services serve under `/o/`, and their building blocks.

pub mod client_auth;
pub mod error;
pub mod form;
pub mod introspect;
pub mod metadata;
pub mod password_grant;
pub mod refresh_grant;
pub mod response;
pub mod revoke;
pub mod token;

use actix_web::web;

pub use error::OAuth2Error;

/// Registers `/o/token/`, `/o/revoke_token/`, `/o/introspect/` and the RFC 8414 metadata.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/o")
            .app_data(web::PayloadConfig::new(form::MAX_FORM_BYTES))
            // Resources, not bare routes: another method gets 405, not 404.
            .service(web::resource("/token/").route(web::post().to(token::token)))
            .service(web::resource("/revoke_token/").route(web::post().to(revoke::revoke)))
            .service(web::resource("/introspect/").route(web::post().to(introspect::introspect))),
    )
    .service(
        web::resource("/.well-known/oauth-authorization-server")
            .route(web::get().to(metadata::metadata)),
    );
}
