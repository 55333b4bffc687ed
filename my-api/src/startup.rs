//! Building and running My API: bind first, then serve.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::web;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use shared::oauth2::provider::Provider;
use shared::service::server::Running;

use crate::exchange::Exchanger;
use crate::exchange::grants::{ConvertToken, TokenExchange};
use crate::page::TestPage;
use crate::settings::Settings;
use crate::social::{Backends, ProviderClient};

/// My API's own tables (social links, items, concepts), applied after the shared ones.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

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
        .configure(crate::api::routes);
}

/// My API, bound and started; `Deref`s to [`Running`] for its URL and handle.
#[derive(Debug)]
pub struct Application(Running);

impl std::ops::Deref for Application {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.0
    }
}

impl Application {
    pub fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = shared::service::http::bind_public(
            &settings.bind,
            settings.provider.public_url.as_deref(),
        )?;
        Self::build_with_listener(settings, listener)
    }

    pub fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let url =
            shared::service::http::public_url(settings.provider.public_url.as_deref(), &listener)?;
        let client = ProviderClient::new(settings.social.client_config())
            .map_err(|e| anyhow::anyhow!("FAKE_SOCIAL_SITE_URL: {e}"))?;
        let audience = settings.social.audience_check();
        if audience.is_none() {
            log::warn!(
                "FAKE_SOCIAL_SITE_CLIENT_ID and FAKE_SOCIAL_SITE_CLIENT_SECRET are not set: token exchanges will be refused"
            );
        }
        let exchanger = Arc::new(Exchanger::new(
            client,
            Backends::standard(),
            audience,
            settings.social.exchange_application.clone(),
        ));
        let provider = Provider::open(&settings.provider, &settings.db, &url, &[MIGRATIONS])?
            .with_extension(Arc::new(TokenExchange(exchanger.clone())))
            .with_extension(Arc::new(ConvertToken(exchanger.clone())));
        let provider = web::Data::new(provider);
        let db = provider.db.clone();
        let exchanger = web::Data::from(exchanger);
        // The test page offers the demo accounts: only a demo serves it.
        let page = if settings.demo {
            let fss_url = settings.social.fake_social_site_public_url.as_deref();
            Some(web::Data::new(TestPage::new(
                fss_url.unwrap_or(&settings.social.fake_social_site_url),
            )?))
        } else {
            None
        };
        let api = web::Data::new(settings.api.clone());
        let configure = move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(provider.clone())
                .app_data(exchanger.clone())
                .app_data(api.clone());
            routes(cfg);
            if let Some(page) = &page {
                cfg.app_data(page.clone());
                crate::page::routes(cfg);
            } else {
                crate::page::routes_without_page(cfg);
            }
        };
        let origins = settings.provider.cors_origins.clone();
        let running = Running::start(listener, url, &settings.provider, origins, db, configure)?;
        Ok(Application(running))
    }

    /// Serves until stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.0.run_until_stopped().await
    }
}
