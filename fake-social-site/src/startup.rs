//! Building and running the service: bind first (so tests can ask for port 0 and learn the
//! real one), then serve.

use std::net::TcpListener;

use std::sync::Arc;

use actix_web::web;
use shared::oauth2::code_grant::AuthorizationCodeGrant;
use shared::oauth2::oidc::OidcSettings;
use shared::oauth2::provider::Provider;
use shared::oauth2::settings::ProviderSettings;
use shared::service::server::{Running, ServiceSettings};
use shared::storage::db::DbConfig;

use crate::profile;

/// My API's default origins: its browser test page calls `/o/token/` here.
pub const DEFAULT_CORS_ORIGINS: &[&str] = &["http://127.0.0.1:8000", "http://localhost:8000"];

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub db: DbConfig,
    pub provider: ProviderSettings,
    /// The OpenID Connect provider's own settings (codes, login sessions).
    pub oidc: OidcSettings,
}

impl Settings {
    /// Defaults for a database (a SQLite file or a PostgreSQL URL), listening on `bind`.
    pub fn new(
        db_path: impl Into<shared::storage::db::DatabaseUrl>,
        bind: impl Into<String>,
    ) -> Self {
        Settings {
            bind: bind.into(),
            db: DbConfig::new(db_path),
            provider: ProviderSettings::default(),
            oidc: OidcSettings::default(),
        }
    }
}

/// The route table, shared by the binary, the tests and the demo.
pub fn routes(cfg: &mut web::ServiceConfig, oidc: &OidcSettings) {
    // Before the `/o` scope of the shared routes, which would answer 404 for these.
    shared::oauth2::oidc_routes(cfg, oidc);
    shared::oauth2::routes(cfg);
    crate::openapi::routes(cfg);
    cfg.service(web::resource("/healthz").route(web::get().to(shared::service::http::healthz)))
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

/// Fake Social Site, bound and started; `Deref`s to [`Running`] for its URL and handle.
pub type Application = shared::service::server::Application<Settings>;

impl ServiceSettings for Settings {
    fn listen_on(&self) -> (&str, &ProviderSettings) {
        (&self.bind, &self.provider)
    }

    fn start(self, listener: TcpListener, url: String) -> anyhow::Result<Running> {
        let provider = web::Data::new(
            Provider::open(&self.provider, &self.db, &url, &[])?
                .with_extension(Arc::new(AuthorizationCodeGrant)),
        );
        shared::oauth2::id_token::publish_client_keys(&provider)?;
        let db = provider.db.clone();
        let origins = if self.provider.cors_origins.is_empty() {
            DEFAULT_CORS_ORIGINS
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        } else {
            self.provider.cors_origins.clone()
        };
        let oidc = self.oidc.clone();
        let configure = move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(provider.clone());
            routes(cfg, &oidc);
        };
        Running::start(listener, url, &self.provider, origins, db, configure)
    }
}
