//! What a running process tells its operator, as a leaf any layer may use: the Prometheus
//! instruments (one registry per process, served by [`crate::service::metrics`]) and the id of
//! the request being served, which every log line carries.
//!
//! The request id lives in a task-local for the request's future (set by
//! [`crate::service::request_id`]) and in a thread-local for blocking work started from it:
//! [`crate::blocking::unblock`] carries it over with [`carry`], so a log line written inside
//! a Diesel closure names its request too.

use std::cell::RefCell;
use std::sync::{Arc, LazyLock};

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Route label of requests no route matched: raw paths would make the label set unbounded.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency buckets in seconds: 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every instrument of the process.
#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    /// `http_requests_total{route, method, status}`.
    pub http_requests: IntCounterVec,
    /// `http_request_duration_seconds{route}`, until the answer's head is ready.
    pub http_latency: HistogramVec,
    /// `oauth2_tokens_issued_total{grant_type}`.
    pub tokens_issued: IntCounterVec,
    /// `token_exchanges_total{backend, outcome}` (My API).
    pub exchanges: IntCounterVec,
    /// `provider_request_duration_seconds{backend, call}` (My API's calls to the social
    /// provider: `profile` or `introspect`).
    pub provider_latency: HistogramVec,
    /// `provider_request_failures_total{backend, call, reason}`.
    pub provider_failures: IntCounterVec,
    /// `throttle_refusals_total`: logins refused by the login throttle.
    pub throttle_refusals: IntCounter,
    /// `password_hashes_queued`: slow hashes waiting for a permit.
    pub hashes_queued: IntGauge,
    /// `password_hashes_running`.
    pub hashes_running: IntGauge,
    /// `db_pool_connections_in_use`: connections checked out for the server's work.
    pub db_in_use: IntGauge,
    /// `db_pool_waits_total`: checkouts that found no idle connection.
    pub db_waits: IntCounter,
    /// `db_pool_wait_seconds`: how long checkouts took.
    pub db_wait: Histogram,
    /// `token_cache_lookups_total{result="hit"|"miss"}`.
    pub token_cache: IntCounterVec,
    /// Its two series, resolved once: a lookup is on every authenticated request.
    pub token_cache_hits: IntCounter,
    pub token_cache_misses: IntCounter,
    /// `db_write_batch_size`: writes committed together by SQLite's writer thread.
    pub db_batch_size: Histogram,
    /// `db_lost_races_total`: writes that lost a uniqueness race to another writer (a first
    /// login made at once elsewhere) and were run again.
    pub db_lost_races: IntCounter,
    /// `changes_heard_total{heard}`: what the change listener heard (`tokens`, `keys`,
    /// `listening`, `deaf`; PostgreSQL only).
    pub changes_heard: IntCounterVec,
    /// `changes_unannounced_total`: token changes this process could not announce to the
    /// others (their caches then keep the replaced tokens at most `TOKEN_CACHE_SECONDS`).
    pub changes_unannounced: IntCounter,
    /// `change_listener_up`: 1 while this process hears other instances' changes.
    pub change_listener_up: IntGauge,
    /// `token_prunes_total{outcome}`: periodic prunes, by outcome (`done`, `failed`, or
    /// `skipped` while another instance prunes).
    pub prunes: IntCounterVec,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry
        .register(Box::new(counter.clone()))
        .expect("a metric registered once");
    counter
}

fn histogram_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let histogram = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .expect("a valid metric");
    registry
        .register(Box::new(histogram.clone()))
        .expect("a metric registered once");
    histogram
}

fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("a metric registered once");
    metric
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let gauge = |name: &str, help: &str| {
            register(&r, IntGauge::new(name, help).expect("a valid metric"))
        };
        let counter = |name: &str, help: &str| {
            register(&r, IntCounter::new(name, help).expect("a valid metric"))
        };
        let token_cache = counter_vec(
            &r,
            "token_cache_lookups_total",
            "Access-token cache lookups, by result (hit or miss).",
            &["result"],
        );
        Metrics {
            token_cache_hits: token_cache.with_label_values(&["hit"]),
            token_cache_misses: token_cache.with_label_values(&["miss"]),
            token_cache,
            http_requests: counter_vec(
                &r,
                "http_requests_total",
                "HTTP requests answered, by route template, method and status.",
                &["route", "method", "status"],
            ),
            http_latency: histogram_vec(
                &r,
                "http_request_duration_seconds",
                "Time to answer an HTTP request (until its head is ready), by route template.",
                &["route"],
            ),
            tokens_issued: counter_vec(
                &r,
                "oauth2_tokens_issued_total",
                "Access tokens issued, by grant type.",
                &["grant_type"],
            ),
            exchanges: counter_vec(
                &r,
                "token_exchanges_total",
                "Social token exchanges, by backend and outcome.",
                &["backend", "outcome"],
            ),
            provider_latency: histogram_vec(
                &r,
                "provider_request_duration_seconds",
                "Time of calls to the social provider, by backend and call.",
                &["backend", "call"],
            ),
            provider_failures: counter_vec(
                &r,
                "provider_request_failures_total",
                "Calls to the social provider that failed, by backend, call and reason.",
                &["backend", "call", "reason"],
            ),
            throttle_refusals: counter(
                "throttle_refusals_total",
                "Login attempts refused by the login throttle.",
            ),
            hashes_queued: gauge(
                "password_hashes_queued",
                "Slow password hashes waiting for a permit.",
            ),
            hashes_running: gauge("password_hashes_running", "Slow password hashes running."),
            db_in_use: gauge(
                "db_pool_connections_in_use",
                "Database connections checked out of the pool.",
            ),
            db_waits: counter(
                "db_pool_waits_total",
                "Connection checkouts that found no idle connection in the pool.",
            ),
            db_wait: register(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "db_pool_wait_seconds",
                        "Time to check a connection out of the pool.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                )
                .expect("a valid metric"),
            ),
            db_batch_size: register(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "db_write_batch_size",
                        "Writes committed in one transaction by SQLite's writer thread.",
                    )
                    .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0]),
                )
                .expect("a valid metric"),
            ),
            db_lost_races: counter(
                "db_lost_races_total",
                "Writes that lost a uniqueness race to another writer and were run again.",
            ),
            changes_heard: counter_vec(
                &r,
                "changes_heard_total",
                "Notifications of other instances' changes heard, by kind.",
                &["heard"],
            ),
            changes_unannounced: counter(
                "changes_unannounced_total",
                "Token changes that could not be announced to the other instances.",
            ),
            change_listener_up: gauge(
                "change_listener_up",
                "1 while this process listens for other instances' changes.",
            ),
            prunes: counter_vec(
                &r,
                "token_prunes_total",
                "Periodic token prunes, by outcome (done, failed, skipped: another instance \
                 was pruning).",
                &["outcome"],
            ),
            registry: r,
        }
    }
}

/// The process's instruments.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// Counts a gauge up for as long as it lives (a hash queued, a hash running).
#[derive(Debug)]
pub struct GaugeGuard(&'static IntGauge);

impl GaugeGuard {
    pub fn new(gauge: &'static IntGauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

tokio::task_local! {
    static TASK_REQUEST_ID: Arc<str>;
}

thread_local! {
    static THREAD_REQUEST_ID: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// The id of the request this code serves, if any.
pub fn request_id() -> Option<Arc<str>> {
    TASK_REQUEST_ID
        .try_with(Arc::clone)
        .ok()
        .or_else(|| THREAD_REQUEST_ID.with(|id| id.borrow().clone()))
}

/// Runs `future` as the request `id`.
pub async fn with_request_id<F: Future>(id: Arc<str>, future: F) -> F::Output {
    TASK_REQUEST_ID.scope(id, future).await
}

/// `f`, made to run as the current request wherever it is called (a blocking thread).
pub fn carry<F, T>(f: F) -> impl FnOnce() -> T
where
    F: FnOnce() -> T,
{
    let request = carried();
    move || request.run(f)
}

/// The current request, taken along to run work as it on another thread ([`carry`] for work
/// that only gets its arguments there).
#[derive(Debug)]
pub struct Carried(Option<Arc<str>>);

/// The request this code serves, to take along.
pub fn carried() -> Carried {
    Carried(request_id())
}

impl Carried {
    /// Runs `f` on this thread as the carried request.
    pub fn run<T>(self, f: impl FnOnce() -> T) -> T {
        let previous = THREAD_REQUEST_ID.with(|slot| slot.replace(self.0));
        let result = f();
        THREAD_REQUEST_ID.with(|slot| *slot.borrow_mut() = previous);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn the_request_id_follows_the_task_and_blocking_work_carried_from_it() {
        assert!(request_id().is_none());
        let id: Arc<str> = Arc::from("req-1");
        let (inside, blocking) = with_request_id(id, async {
            let inside = request_id();
            let job = carry(request_id);
            let blocking = std::thread::spawn(job).join().expect("the thread");
            (inside, blocking)
        })
        .await;
        assert_eq!(inside.as_deref(), Some("req-1"));
        assert_eq!(blocking.as_deref(), Some("req-1"));
        assert!(request_id().is_none());
    }
}
