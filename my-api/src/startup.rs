//! Building and running My API: bind first, then serve.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use shared::maintenance::Maintenance;
use shared::provider::Provider;

use crate::exchange::Exchanger;
use crate::exchange::grants::{ConvertToken, TokenExchange};
use crate::page::TestPage;
use crate::settings::Settings;
use crate::social::{Backends, ProviderClient};

/// My API's own tables (social links, items, concepts), applied after the shared ones.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The route table, shared by the binary, the tests and the demo.
pub fn routes(cfg: &mut web::ServiceConfig) {
    shared::oauth2::routes(cfg);
    crate::openapi::routes(cfg);
    cfg.service(web::resource("/healthz").route(web::get().to(shared::http::healthz)))
        .service(
            web::resource("/users/register-by-token/{backend}/")
                .app_data(web::PayloadConfig::new(
                    shared::oauth2::form::MAX_FORM_BYTES,
                ))
                .route(web::get().to(crate::exchange::register::register_by_token))
                .route(web::post().to(crate::exchange::register::register_by_token)),
        )
        .configure(crate::api::routes)
        .configure(crate::page::routes);
}

pub struct Application {
    port: u16,
    url: String,
    server: Server,
    maintenance: Maintenance,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Application {
    pub fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = shared::http::bind(&settings.bind)?;
        Self::build_with_listener(settings, listener)
    }

    pub fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let port = listener.local_addr()?.port();
        let url = shared::http::public_url(settings.provider.public_url.as_deref(), &listener)?;
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
        let page = web::Data::new(TestPage::new(
            settings
                .social
                .fake_social_site_public_url
                .as_deref()
                .unwrap_or(&settings.social.fake_social_site_url),
        ));
        let origins = settings.provider.cors_origins.clone();
        let server = HttpServer::new(move || {
            App::new()
                // The last `wrap` is the outermost: JSON error bodies go around CORS, so its
                // refusals are JSON too.
                .wrap(shared::http::cors(&origins))
                .wrap(shared::http::json_errors())
                .wrap(shared::http::access_log())
                .app_data(provider.clone())
                .app_data(exchanger.clone())
                .app_data(page.clone())
                .configure(routes)
                .default_service(web::to(shared::http::not_found))
        })
        .workers(shared::http::workers(settings.provider.workers))
        .worker_max_blocking_threads(shared::http::blocking_threads(&settings.provider))
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        let maintenance = Maintenance::start(db, settings.provider.prune_interval_seconds);
        Ok(Application {
            port,
            url,
            server,
            maintenance,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; the token prune stops with the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            mut maintenance,
            ..
        } = self;
        let result = server.await;
        maintenance.stop();
        result
    }
}
