//! Fake Social Site's OpenID Connect provider parts, gathered: its settings and its routes
//! (authorization endpoint, login, consent and logout pages, userinfo, discovery). Only a
//! service that also registers [`super::code_grant::AuthorizationCodeGrant`] calls
//! [`routes`]; My API serves none of this.

use actix_web::web;

use super::{authorize, discovery, form, login, userinfo};

const DEFAULT_CODE_SECONDS: i64 = 60;
const DEFAULT_SESSION_SECONDS: i64 = 8 * 3600;

#[derive(Debug, Clone, clap::Args)]
pub struct OidcSettings {
    /// Lifetime of an authorization code in seconds, 1 to 600 (RFC 6749 §4.1.2: at most ten
    /// minutes).
    #[arg(long, env = "AUTHORIZATION_CODE_EXPIRE_SECONDS", default_value_t = DEFAULT_CODE_SECONDS,
          value_parser = clap::value_parser!(i64).range(1..=600))]
    pub authorization_code_expire_seconds: i64,

    /// Lifetime of a login session at the provider's pages in seconds, 60 to 2592000 (30 days).
    #[arg(long, env = "LOGIN_SESSION_SECONDS", default_value_t = DEFAULT_SESSION_SECONDS,
          value_parser = clap::value_parser!(i64).range(60..=30 * 24 * 3600))]
    pub login_session_seconds: i64,
}

impl Default for OidcSettings {
    fn default() -> Self {
        OidcSettings {
            authorization_code_expire_seconds: DEFAULT_CODE_SECONDS,
            login_session_seconds: DEFAULT_SESSION_SECONDS,
        }
    }
}

/// Registers the OpenID Connect routes with `settings`. Call before [`super::routes`]: its
/// `/o` scope would otherwise answer 404 for these paths.
pub fn routes(cfg: &mut web::ServiceConfig, settings: &OidcSettings) {
    let forms = || web::PayloadConfig::new(form::MAX_FORM_BYTES);
    cfg.app_data(web::Data::new(settings.clone()))
        .service(web::resource("/o/authorize/").route(web::get().to(authorize::authorize)))
        .service(
            web::resource("/o/login/")
                .app_data(forms())
                .route(web::post().to(login::login)),
        )
        .service(
            web::resource("/o/consent/")
                .app_data(forms())
                .route(web::post().to(login::consent)),
        )
        .service(
            web::resource("/o/logout/")
                .app_data(forms())
                .route(web::get().to(login::logout_page))
                .route(web::post().to(login::logout)),
        )
        .service(
            web::resource("/o/userinfo/")
                .route(web::get().to(userinfo::userinfo))
                .route(web::post().to(userinfo::userinfo)),
        )
        .service(
            web::resource("/.well-known/openid-configuration")
                .route(web::get().to(discovery::openid_configuration)),
        );
}
