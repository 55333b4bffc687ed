//! Building and running My API: bind first, then serve.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::web;
use diesel_migrations::embed_migrations;
use shared::oauth2::provider::Provider;
use shared::oauth2::settings::ProviderSettings;
use shared::service::server::{Running, ServiceSettings};
use shared::storage::db::Migrations;

use crate::exchange::Exchanger;
use crate::exchange::grants::{ConvertToken, TokenExchange};
use crate::page::TestPage;
use crate::settings::Settings;
use crate::social::ProviderClient;

/// My API's own tables (social links, items, concepts), applied after the shared ones.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: embed_migrations!("migrations/sqlite"),
    postgres: embed_migrations!("migrations/postgres"),
};

/// The route table, shared by the binary, the tests and the demo. The test page
/// ([`crate::page::routes`]) is added in demo mode only.
pub fn routes(cfg: &mut web::ServiceConfig) {
    shared::oauth2::routes(cfg);
    crate::openapi::routes(cfg);
    cfg.service(web::resource("/healthz").route(web::get().to(shared::service::http::healthz)))
        .service(
            web::resource("/users/register-by-token/{backend}/")
                .app_data(web::PayloadConfig::new(
                    shared::oauth2::form::MAX_FORM_BYTES,
                ))
                .route(web::get().to(crate::exchange::register::register_by_token))
                .route(web::post().to(crate::exchange::register::register_by_token)),
        )
        .service(
            web::resource("/users/link-by-token/{backend}/")
                .app_data(web::PayloadConfig::new(
                    shared::oauth2::form::MAX_FORM_BYTES,
                ))
                .route(web::post().to(crate::exchange::link::link_by_token)),
        )
        .configure(crate::api::routes);
}

/// My API, bound and started; `Deref`s to [`Running`] for its URL and handle.
pub type Application = shared::service::server::Application<Settings>;

impl ServiceSettings for Settings {
    fn listen_on(&self) -> (&str, &ProviderSettings) {
        (&self.bind, &self.provider)
    }

    fn start(self, listener: TcpListener, url: String) -> anyhow::Result<Running> {
        let client = ProviderClient::new(self.social.client_config())
            .map_err(|e| anyhow::anyhow!("FAKE_SOCIAL_SITE_URL: {e}"))?;
        let audience = self.social.audience_check();
        if audience.is_none() {
            log::warn!(
                "FAKE_SOCIAL_SITE_CLIENT_ID and FAKE_SOCIAL_SITE_CLIENT_SECRET are not set: token exchanges will be refused"
            );
        }
        let exchanger = Arc::new(Exchanger::new(
            client,
            self.social.backends()?,
            audience,
            self.social.exchange_application.clone(),
        ));
        let provider = Provider::open(&self.provider, &self.db, &url, &[MIGRATIONS])?
            .with_extension(Arc::new(TokenExchange(exchanger.clone())))
            .with_extension(Arc::new(ConvertToken(exchanger.clone())));
        let openapi = web::Data::new(crate::openapi::Served::render(exchanger.backends()));
        let provider = web::Data::new(provider);
        let db = provider.db.clone();
        let exchanger = web::Data::from(exchanger);
        // The test page offers the demo accounts: only a demo serves it.
        let page = if self.demo {
            let fss_url = self.social.fake_social_site_public_url.as_deref();
            Some(web::Data::new(TestPage::new(
                fss_url.unwrap_or(&self.social.fake_social_site_url),
            )?))
        } else {
            None
        };
        let api = web::Data::new(self.api.clone());
        let configure = move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(provider.clone())
                .app_data(exchanger.clone())
                .app_data(api.clone())
                .app_data(openapi.clone());
            routes(cfg);
            if let Some(page) = &page {
                cfg.app_data(page.clone());
                crate::page::routes(cfg);
            } else {
                crate::page::routes_without_page(cfg);
            }
        };
        let origins = self.provider.cors_origins.clone();
        Running::start(listener, url, &self.provider, origins, db, configure)
    }
}
