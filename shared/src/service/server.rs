//! Running a service: the HTTP server both services build the same way (middleware, worker
//! and blocking-thread counts, shutdown time, JSON 404) and the periodic token prune that
//! lives and dies with it. Each service only brings its routes and app data. Every request
//! is observed (an id, metrics, the access log: [`crate::service::request_id`]) unless
//! `OBSERVE_REQUESTS=false`, which leaves the plain access log. [`Application`] is the bind
//! then start sequence both services follow, around what their [`ServiceSettings`] build.

use std::marker::PhantomData;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpServer, web};

use crate::oauth2::settings::ProviderSettings;
use crate::service::body_deadline::BodyDeadline;
use crate::service::http;
use crate::service::{metrics, request_id};
use crate::storage::db::Db;
use crate::storage::maintenance::Maintenance;

/// A bound, started service; it serves once awaited through [`Running::run_until_stopped`].
pub struct Running {
    bound: std::net::SocketAddr,
    port: u16,
    url: String,
    server: Server,
    maintenance: Maintenance,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// Serves `configure`'s routes and app data on `listener`, as `url`, with CORS for
    /// `origins`, and starts the token prune on `db`.
    pub fn start<F>(
        listener: TcpListener,
        url: String,
        settings: &ProviderSettings,
        origins: Vec<String>,
        db: Db,
        configure: F,
    ) -> anyhow::Result<Running>
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let bound = listener.local_addr()?;
        let port = bound.port();
        let body_timeout = Duration::from_millis(settings.request_body_timeout_ms);
        let observe = metrics::observing_requests();
        let server = HttpServer::new(move || {
            // The last `wrap` is the outermost: JSON error bodies go around CORS, so its
            // refusals (a foreign origin's preflight) are JSON too, and the security headers
            // go around everything, so no answer lacks them.
            App::new()
                .wrap(BodyDeadline::new(body_timeout))
                .wrap(http::cors(&origins))
                .wrap(http::json_errors())
                .wrap(Condition::new(!observe, http::access_log()))
                .wrap(Condition::new(observe, from_fn(request_id::observe)))
                .wrap(http::security_headers())
                .configure(configure.clone())
                .default_service(web::to(http::not_found))
        })
        .workers(settings.worker_count())
        .worker_max_blocking_threads(http::blocking_threads(settings))
        .max_connections(settings.max_connections)
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        let maintenance = Maintenance::start(db, settings.prune_interval_seconds);
        Ok(Running {
            bound,
            port,
            url,
            server,
            maintenance,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address it is bound to (behind a load balancer, not the public URL).
    pub fn bound(&self) -> std::net::SocketAddr {
        self.bound
    }

    /// The base URL it serves (and issues tokens) as.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; the token prune stops with the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Running {
            server,
            mut maintenance,
            ..
        } = self;
        let result = server.await;
        maintenance.stop();
        result
    }
}

/// What a service's settings bring to [`Application`]: where to listen, and how to start
/// on the bound listener as the public URL.
pub trait ServiceSettings {
    /// The address to bind, and the provider settings (its configured public URL).
    fn listen_on(&self) -> (&str, &ProviderSettings);

    /// Starts the service's routes and app data on `listener`, serving as `url`.
    fn start(self, listener: TcpListener, url: String) -> anyhow::Result<Running>;
}

/// A service, bound and started from its settings `S`; `Deref`s to [`Running`] for its URL
/// and handle.
pub struct Application<S>(Running, PhantomData<S>);

impl<S> std::fmt::Debug for Application<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Application").field(&self.0).finish()
    }
}

impl<S> std::ops::Deref for Application<S> {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.0
    }
}

impl<S: ServiceSettings> Application<S> {
    /// Binds the settings' address (port 0 picks a free one), then starts.
    pub fn build(settings: S) -> anyhow::Result<Self> {
        let (bind, provider) = settings.listen_on();
        let listener = http::bind_public(bind, provider.public_url.as_deref())?;
        Self::build_with_listener(settings, listener)
    }

    /// Starts on a listener already bound, as the configured public URL or the bound one.
    pub fn build_with_listener(settings: S, listener: TcpListener) -> anyhow::Result<Self> {
        let url = http::public_url(settings.listen_on().1.public_url.as_deref(), &listener)?;
        Ok(Application(settings.start(listener, url)?, PhantomData))
    }

    /// Serves until stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.0.run_until_stopped().await
    }
}
