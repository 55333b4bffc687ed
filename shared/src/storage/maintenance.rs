//! Housekeeping a serving process does on its own: pruning expired and revoked tokens (and
//! expired authorization codes and login sessions), so the tables stay bounded without an
//! operator running `cleartokens` from cron, and signing keys retired long enough that
//! nothing they signed is still alive.
//!
//! The task runs on the server's runtime and does its database work on the blocking pool
//! through [`Db::exclusive`]: one batch per transaction, each under this process's writer
//! mutex, so a request's write waits at most for one batch, never for a whole prune. The
//! shared server builder (`crate::service::server`) starts it with the server and stops it
//! with the server (see [`Maintenance`]).

use std::time::Duration;

use crate::storage::db::{Db, StorageError};

/// Default seconds between prunes: tokens are a few hundred bytes each, and an hour of them is
/// nothing for SQLite, so pruning often buys nothing.
pub const DEFAULT_PRUNE_INTERVAL: u64 = 3600;

/// Rows (of each token table) deleted per transaction: a few milliseconds of work.
pub const PRUNE_BATCH: i64 = 1_000;

/// The running housekeeping task; dropping it (or [`Maintenance::stop`]) ends it.
#[derive(Debug)]
pub struct Maintenance {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Maintenance {
    /// Starts pruning every `interval_seconds` (never when 0). Call from inside the server's
    /// runtime (`Application::build` is).
    pub fn start(db: Db, interval_seconds: u64) -> Maintenance {
        if interval_seconds == 0 {
            return Maintenance { task: None };
        }
        let period = Duration::from_secs(interval_seconds);
        let task = actix_web::rt::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            // A prune that overran its period is not worth catching up on.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match prune(&db).await {
                    Ok(0) => log::debug!("token prune: nothing to remove"),
                    Ok(removed) => log::info!(
                        "token prune: removed {removed} token(s) or expired signing key(s)"
                    ),
                    Err(e) => log::warn!("token prune failed: {e}"),
                }
            }
        });
        Maintenance { task: Some(task) }
    }

    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Deletes expired and revoked tokens (rotated refresh tokens only once their whole family
/// is dead, see [`crate::storage::tokens::clear_token_batch`]), [`PRUNE_BATCH`] rows per transaction, each batch on
/// its own trip to the blocking pool, then the signing keys past their `expires` (a handful at
/// most). Returns how many rows went.
pub async fn prune(db: &Db) -> Result<usize, StorageError> {
    let mut total = db
        .exclusive(|conn| {
            crate::storage::tokens::keys::delete_expired(conn, crate::clock::now())
                .map_err(StorageError::from)
        })
        .await?;
    loop {
        let removed = db
            .exclusive(|conn| {
                crate::storage::tokens::clear_token_batch(conn, PRUNE_BATCH)
                    .map_err(StorageError::from)
            })
            .await?;
        total += removed;
        if removed == 0 {
            break;
        }
    }
    // Expired authorization codes (kept a while past expiry, so that a replay still revokes
    // what was issued from one) and login sessions.
    total += db
        .exclusive(|conn| {
            let codes = crate::storage::codes::clear_expired(conn, CODE_GRACE_SECONDS)?;
            let sessions = crate::storage::sessions::clear_expired(conn)?;
            Ok::<_, StorageError>(codes + sessions)
        })
        .await?;
    total += db
        .exclusive(|conn| {
            crate::storage::throttle::clear_stale(
                conn,
                crate::clock::now_ms(),
                crate::security::throttle::WINDOW,
            )
            .map_err(StorageError::from)
        })
        .await?;
    Ok(total)
}

/// How long an expired authorization code is kept (a day).
const CODE_GRACE_SECONDS: i64 = 24 * 3600;
