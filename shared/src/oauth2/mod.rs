//! The OAuth2 provider: its state ([`provider`]) and settings, the endpoints both services
//! serve under `/o/`, and their building blocks: form parsing, client authentication, token
//! answers and errors, and the RFC 6750 bearer-token extractor for resource routes. An
//! OpenID Connect provider adds the authorization code flow ([`oidc`]): the authorization
//! endpoint, login and consent pages, codes, ID tokens, userinfo and discovery.

pub mod authorize;
pub mod bearer;
pub mod client_address;
pub mod client_auth;
pub mod code_grant;
pub mod credentials;
pub mod discovery;
pub mod error;
pub mod form;
pub mod id_token;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod metadata;
pub mod oidc;
pub mod pages;
pub mod password_grant;
pub mod pkce;
pub mod provider;
pub mod refresh_grant;
pub mod response;
pub mod revoke;
pub mod session;
pub mod settings;
pub mod token;
pub mod userinfo;

use actix_web::web;

pub use error::OAuth2Error;
pub use oidc::routes as oidc_routes;

/// Registers `/o/token/`, `/o/revoke_token/`, `/o/introspect/`, the RFC 8414 metadata and the
/// JWK Set.
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
    )
    .service(web::resource("/.well-known/jwks.json").route(web::get().to(jwks::jwks)));
}
