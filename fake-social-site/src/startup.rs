//! Building and running the service: bind first (so tests can ask for port 0 and learn the
//! real one), then serve.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use shared::db::DbConfig;
use shared::maintenance::Maintenance;
use shared::provider::Provider;
use shared::settings::ProviderSettings;

use crate::profile;

/// My API's default origins: its browser test page calls `/o/token/` here.
pub const DEFAULT_CORS_ORIGINS: &[&str] = &["http://127.0.0.1:8000", "http://localhost:8000"];

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub db: DbConfig,
    pub provider: ProviderSettings,
}

impl Settings {
    /// Defaults for a database file, listening on `bind`.
    pub fn new(db_path: impl Into<std::path::PathBuf>, bind: impl Into<String>) -> Self {
        Settings {
            bind: bind.into(),
            db: DbConfig::new(db_path),
            provider: ProviderSettings::default(),
        }
    }
}

/// The route table, shared by the binary, the tests and the demo.
pub fn routes(cfg: &mut web::ServiceConfig) {
    shared::oauth2::routes(cfg);
    crate::openapi::routes(cfg);
    cfg.service(web::resource("/healthz").route(web::get().to(shared::http::healthz)))
        .service(
            web::resource("/user_details/")
                .route(web::get().to(profile::user_details))
                .route(web::head().to(profile::user_details)),
        )
        .service(
            web::resource("/user_details_by_username/{username}/")
                .route(web::get().to(profile::user_details_by_username))
                .route(web::head().to(profile::user_details_by_username)),
        );
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
        let provider = web::Data::new(Provider::open(&settings.provider, &settings.db, &url, &[])?);
        let db = provider.db.clone();
        let origins = if settings.provider.cors_origins.is_empty() {
            DEFAULT_CORS_ORIGINS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        } else {
            settings.provider.cors_origins.clone()
        };
        let server = HttpServer::new(move || {
            // The last `wrap` is the outermost: JSON error bodies go around CORS, so its
            // refusals (a foreign origin's preflight) are JSON too.
            App::new()
                .wrap(shared::http::cors(&origins))
                .wrap(shared::http::json_errors())
                .wrap(shared::http::access_log())
                .app_data(provider.clone())
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

    /// The base URL it serves (and issues tokens) as.
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
