//! The one way blocking work (Diesel queries, password hashing) leaves the async workers.

use thiserror::Error;

/// The blocking pool dropped the task (the runtime is shutting down).
#[derive(Debug, Error)]
#[error("the blocking task was cancelled")]
pub struct Cancelled;

/// Runs `f` on the runtime's blocking thread pool and waits for it without blocking a worker;
/// `f` runs as the current request, so its log lines carry the request id.
pub async fn unblock<F, T>(f: F) -> Result<T, Cancelled>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(crate::telemetry::carry(f))
        .await
        .map_err(|_| Cancelled)
}
