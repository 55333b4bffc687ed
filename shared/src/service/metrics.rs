//! `GET /metrics`: the process's instruments ([`crate::telemetry`]) in the Prometheus text
//! format, on a listener of its own (`METRICS_BIND`), never on the public port. Without
//! `METRICS_BIND` nothing is exposed; the instruments still count.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use prometheus::{Encoder, TextEncoder};

/// What an operator sees of a running service: the metrics listener and whether requests are
/// observed (request ids, metrics, the access log's fields).
#[derive(Debug, Clone, clap::Args)]
pub struct ObserveSettings {
    /// Address of the Prometheus `/metrics` listener, e.g. 127.0.0.1:9005; keep it off the
    /// public network [default: none, metrics are not exposed].
    #[arg(long, env = "METRICS_BIND")]
    pub metrics_bind: Option<String>,

    /// Give requests ids (`X-Request-Id`) and count them in the metrics. `false` serves with
    /// the plain access log only, to measure what observation costs.
    #[arg(long, env = "OBSERVE_REQUESTS", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub observe_requests: bool,
}

impl Default for ObserveSettings {
    fn default() -> Self {
        ObserveSettings {
            metrics_bind: None,
            observe_requests: true,
        }
    }
}

static OBSERVE_REQUESTS: AtomicBool = AtomicBool::new(true);

impl ObserveSettings {
    /// Applies `observe_requests` to the servers this process starts next, and starts the
    /// metrics listener if one is asked for.
    pub fn start(&self) -> anyhow::Result<Option<MetricsServer>> {
        OBSERVE_REQUESTS.store(self.observe_requests, Ordering::Relaxed);
        self.metrics_bind
            .as_deref()
            .map(|address| MetricsServer::start(crate::service::http::bind(address)?))
            .transpose()
    }
}

/// Whether servers started now observe their requests (see [`ObserveSettings`]).
pub fn observing_requests() -> bool {
    OBSERVE_REQUESTS.load(Ordering::Relaxed)
}

/// The metrics in the Prometheus text format.
pub fn render() -> String {
    let families = crate::telemetry::metrics().registry.gather();
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
        log::error!("cannot encode the metrics: {e}");
    }
    String::from_utf8(out).unwrap_or_default()
}

async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(render())
}

/// The `/metrics` listener, served on the current runtime until stopped.
#[derive(Debug)]
pub struct MetricsServer {
    url: String,
    handle: ServerHandle,
}

impl MetricsServer {
    /// Serves `/metrics` on `listener` with one worker; it does not react to signals itself:
    /// its owner stops it with the service.
    pub fn start(listener: TcpListener) -> anyhow::Result<MetricsServer> {
        let url = format!("http://{}/metrics", listener.local_addr()?);
        let server = HttpServer::new(|| {
            App::new()
                .route("/metrics", web::get().to(metrics))
                .default_service(web::to(crate::service::http::not_found))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        log::info!("metrics served at {url}");
        Ok(MetricsServer { url, handle })
    }

    /// `http://<address>/metrics`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}
