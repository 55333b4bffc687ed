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
//!
//! Several instances on one PostgreSQL database prune one at a time: a prune first takes a
//! session advisory lock ([`PruneLock`]); an instance that finds it taken skips its turn
//! (counted as `token_prunes_total{outcome="skipped"}`), since the other one is doing the
//! same work. SQLite has one serving process per file and takes no lock.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};

use crate::blocking::unblock;
use crate::storage::db::{Connection, Db, PooledConnection, StorageError};

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
            let outcomes = &crate::telemetry::metrics().prunes;
            loop {
                ticks.tick().await;
                let outcome = match prune_alone(&db).await {
                    Ok(None) => {
                        log::debug!("token prune: another instance is pruning");
                        "skipped"
                    }
                    Ok(Some(0)) => {
                        log::debug!("token prune: nothing to remove");
                        "done"
                    }
                    Ok(Some(removed)) => {
                        log::info!(
                            "token prune: removed {removed} row(s): dead tokens, expired codes, sessions, \
                             signing keys and quiet login-throttle counts"
                        );
                        "done"
                    }
                    Err(e) => {
                        log::warn!("token prune failed: {e}");
                        "failed"
                    }
                };
                outcomes.with_label_values(&[outcome]).inc();
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

/// [`prune`], unless another instance on the same database is pruning: `None` then.
pub async fn prune_alone(db: &Db) -> Result<Option<usize>, StorageError> {
    let pool = db.clone();
    let Some(lock) = unblock(move || PruneLock::try_take(&pool)).await?? else {
        return Ok(None);
    };
    let pruned = prune(db).await;
    // Released on the blocking pool: it is a round trip to the server.
    unblock(move || drop(lock)).await?;
    pruned.map(Some)
}

/// The advisory lock key of the prune (any constant both services agree on: a lock belongs to
/// one database).
pub const PRUNE_LOCK_KEY: i64 = 0x7072_756e_6500_0001;

/// Held while this instance prunes: a PostgreSQL session advisory lock on a connection kept
/// out of the pool for the time, released when dropped (on SQLite, nothing).
#[derive(Debug)]
pub struct PruneLock(Option<PooledConnection>);

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Bool)]
    taken: bool,
}

impl PruneLock {
    /// The lock, or `None` when another session holds it. Blocks on the database.
    pub fn try_take(db: &Db) -> Result<Option<PruneLock>, StorageError> {
        if !db.url().is_postgres() {
            return Ok(Some(PruneLock(None)));
        }
        let mut conn = db.get()?;
        let Connection::Postgres(pg) = &mut *conn else {
            return Ok(Some(PruneLock(None)));
        };
        let taken = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS taken")
            .bind::<BigInt, _>(PRUNE_LOCK_KEY)
            .get_result::<Taken>(pg)?
            .taken;
        Ok(taken.then(|| PruneLock(Some(conn))))
    }
}

impl Drop for PruneLock {
    fn drop(&mut self) {
        let Some(mut conn) = self.0.take() else {
            return;
        };
        let Connection::Postgres(pg) = &mut *conn else {
            return;
        };
        let released = diesel::sql_query("SELECT pg_advisory_unlock($1) AS taken")
            .bind::<BigInt, _>(PRUNE_LOCK_KEY)
            .get_result::<Taken>(pg);
        // A failed query means a failed connection, whose session (and lock) the server
        // ends; the pool checks a connection before handing it out again.
        if !matches!(released, Ok(Taken { taken: true })) {
            log::warn!("the prune lock was not released cleanly");
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::db::DbConfig;
    use crate::storage::testdb::TestDb;

    #[test]
    fn instances_on_one_postgresql_database_prune_one_at_a_time() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let fresh = TestDb::create(dir.path(), "prune_lock");
        // Two pools, as two processes would have.
        let one = Db::open(&DbConfig::new(fresh.url().clone()), &[]).expect("open");
        let other = Db::open(&DbConfig::new(fresh.url().clone()), &[]).expect("open");
        let held = PruneLock::try_take(&one)
            .expect("ask")
            .expect("the lock is free");
        let second = PruneLock::try_take(&other).expect("ask");
        if !fresh.is_postgres() {
            // SQLite: one serving process per file; no lock to take.
            assert!(second.is_some());
            return;
        }
        assert!(second.is_none(), "held by the other instance");
        drop(held);
        let again = PruneLock::try_take(&other).expect("ask");
        assert!(again.is_some(), "free once released");
        // Its connection went back to the pool without the lock.
        drop(again);
        assert!(PruneLock::try_take(&one).expect("ask").is_some());
    }
}
