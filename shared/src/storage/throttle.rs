//! Where the login throttle's counts live, and the [`LoginThrottle`] the login endpoints call.
//!
//! The rules are `crate::security::throttle`'s, the same whatever the store. The counts live
//! in this process's memory (the default on SQLite: one process owns the file, and its logins
//! pay nothing for the throttle) or in the `login_throttle` table (the default on PostgreSQL:
//! every instance on the database counts in the same rows, so N instances do not give N× the
//! guesses). `LOGIN_THROTTLE_STORE` chooses otherwise.
//!
//! In the table, an admission is one write transaction: the attempt's one to three rows are
//! created if missing (`ON CONFLICT DO NOTHING`), then locked in key order (PostgreSQL's `FOR
//! UPDATE`; SQLite's immediate transaction holds the whole file already), checked, counted and
//! written back. Concurrent admissions at any instance queue on those rows, each seeing what
//! the one before it wrote, so they cannot all pass the same check; every transaction locks
//! in the same order, so none waits for another that waits for it. A refused attempt rolls
//! back and leaves nothing behind. A success locks the same rows the same way to clear the
//! pair and the username; their rows stay, with nothing counted. Only [`clear_stale`], called
//! by the periodic prune, deletes rows (those with nothing to remember, skipping any an
//! admission holds); an admission that finds a row it created gone before it could lock it
//! starts again in a new transaction, so that it never takes a lock outside the key order.
//!
//! A database fault is an error, never a decision: the caller refuses the attempt as
//! temporarily unavailable, so no guess goes uncounted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use thiserror::Error;

use crate::security::throttle::memory::MemoryStore;
use crate::security::throttle::{Attempt, Entry, Key, Policy};
use crate::storage::connection::AnyConnection;
use crate::storage::db::{Connection, Db, StorageError};
use crate::storage::maintenance::PRUNE_BATCH;
use crate::storage::schema::login_throttle;

/// Where the counts live (`LOGIN_THROTTLE_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ThrottleStore {
    /// This process's memory: instances count apart.
    Memory,
    /// The database's `login_throttle` table, shared by every instance on it.
    Database,
}

impl ThrottleStore {
    /// Memory on SQLite, the database on PostgreSQL (where several instances may share it).
    pub fn default_for(db: &Db) -> ThrottleStore {
        if db.url().is_postgres() {
            ThrottleStore::Database
        } else {
            ThrottleStore::Memory
        }
    }
}

/// Why an attempt was not admitted.
#[derive(Debug, Error)]
pub enum Refused {
    /// A key is locked for this long.
    #[error("too many failed logins")]
    Locked(Duration),
    /// The counts could not be read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for Refused {
    fn from(e: diesel::result::Error) -> Self {
        Refused::Storage(StorageError::Query(e))
    }
}

/// Wall-clock Unix milliseconds ([`crate::clock::now_ms`]; tests stop it).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The login throttle of one process: the policy, and the store its counts live in.
pub struct LoginThrottle {
    policy: Policy,
    store: Store,
    clock: Clock,
}

enum Store {
    Memory(MemoryStore),
    Database(Db),
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("policy", &self.policy)
            .field("store", &self.store())
            .finish_non_exhaustive()
    }
}

impl LoginThrottle {
    /// A throttle counting in `store`, or where [`ThrottleStore::default_for`] `db` says.
    pub fn new(policy: Policy, store: Option<ThrottleStore>, db: &Db) -> Self {
        match store.unwrap_or_else(|| ThrottleStore::default_for(db)) {
            ThrottleStore::Memory => LoginThrottle::in_memory(policy),
            ThrottleStore::Database => LoginThrottle::in_database(policy, db.clone()),
        }
    }

    pub fn in_memory(policy: Policy) -> Self {
        LoginThrottle {
            policy,
            store: Store::Memory(MemoryStore::default()),
            clock: Arc::new(crate::clock::now_ms),
        }
    }

    pub fn in_database(policy: Policy, db: Db) -> Self {
        LoginThrottle {
            policy,
            store: Store::Database(db),
            clock: Arc::new(crate::clock::now_ms),
        }
    }

    /// The same throttle reading time from `clock` (tests stop time with it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> ThrottleStore {
        match self.store {
            Store::Memory(_) => ThrottleStore::Memory,
            Store::Database(_) => ThrottleStore::Database,
        }
    }

    /// Admits an attempt to check credentials, counting it as a failure at once;
    /// [`Refused::Locked`] when a key is locked, before any work is done. The check and the
    /// count are one step, so concurrent attempts (at any instance sharing the store) cannot
    /// all pass the same check.
    pub async fn admit(&self, username: &str, address: Option<IpAddr>) -> Result<Attempt, Refused> {
        let attempt = self.policy.attempt(username, address);
        if attempt.keys().is_empty() {
            return Ok(attempt);
        }
        let admitted = match &self.store {
            Store::Memory(memory) => memory
                .admit(&self.policy, attempt.keys(), || (self.clock)())
                .map_err(Refused::Locked),
            Store::Database(db) => {
                let (policy, keys, clock) =
                    (self.policy, attempt.keys().to_vec(), self.clock.clone());
                db.exclusive(move |conn| admit(conn, &policy, &keys, &*clock))
                    .await
            }
        };
        if let Err(Refused::Locked(_)) = admitted {
            crate::telemetry::metrics().throttle_refusals.inc();
        }
        admitted.map(|()| attempt)
    }

    /// The credentials were right: the pair and the username start afresh, and the address
    /// gets its reservation back.
    pub async fn succeeded(&self, attempt: Attempt) -> Result<(), StorageError> {
        if attempt.keys().is_empty() {
            return Ok(());
        }
        match &self.store {
            Store::Memory(memory) => {
                memory.succeeded(&self.policy, attempt.keys());
                Ok(())
            }
            Store::Database(db) => {
                let (policy, keys) = (self.policy, attempt.keys().to_vec());
                db.exclusive(move |conn| Ok(settle_success(conn, &policy, &keys)?))
                    .await
            }
        }
    }

    /// The credentials were wrong: the reservation stays as a failure.
    pub fn failed(&self, attempt: Attempt) {
        drop(attempt);
    }

    /// One key's count as stored, for tests.
    #[cfg(test)]
    fn entry(&self, key: &Key) -> Option<Entry> {
        match &self.store {
            Store::Memory(memory) => memory.entry(key),
            Store::Database(db) => {
                let mut conn = db.get().expect("a connection");
                lock(&mut conn, &[key.text()])
                    .expect("read the entry")
                    .remove(&key.text())
            }
        }
    }
}

/// Rounds of [`admit`] before it gives up: a round starts again only when a row it created
/// was deleted before it could lock it, which only the prune does, and only to a row with
/// nothing to remember.
const ADMIT_ROUNDS: usize = 8;

/// One admission in the table (see the module's comment). `now` is read once the rows are
/// locked: a time read before could be older than a lock another attempt set meanwhile.
/// [`Refused::Locked`] rolls the transaction back.
pub fn admit(
    conn: &mut Connection,
    policy: &Policy,
    keys: &[Key],
    now: &dyn Fn() -> i64,
) -> Result<(), Refused> {
    let texts: Vec<String> = keys.iter().map(Key::text).collect();
    for _ in 0..ADMIT_ROUNDS {
        if conn.write_transaction(|conn| admit_round(conn, policy, keys, &texts, now))? {
            return Ok(());
        }
    }
    Err(Refused::Storage(StorageError::Unavailable(
        "the login throttle's rows kept being deleted during an admission".to_owned(),
    )))
}

/// One try at [`admit`]: false when a row went between its insert and its lock. Writing it
/// back then would be an insert made while holding locks, outside the key order, and two
/// such inserts could each wait for the other's locks; so the round ends (its commit
/// releases every lock) and the next one creates the row again.
fn admit_round(
    conn: &mut Connection,
    policy: &Policy,
    keys: &[Key],
    texts: &[String],
    now: &dyn Fn() -> i64,
) -> Result<bool, Refused> {
    // A row with no failure counts as no row: the policy starts it afresh.
    let missing: Vec<_> = texts
        .iter()
        .map(|text| {
            (
                login_throttle::key.eq(text),
                login_throttle::failures.eq(0),
                login_throttle::last_ms.eq(0),
                login_throttle::blocked_until_ms.eq(None::<i64>),
            )
        })
        .collect();
    crate::per_backend!(conn, |c| diesel::insert_into(login_throttle::table)
        .values(&missing)
        .on_conflict_do_nothing()
        .execute(c))?;
    let held = lock(conn, texts)?;
    if held.len() < texts.len() {
        return Ok(false);
    }
    let now = now();
    let mut entries: Vec<Option<Entry>> = texts.iter().map(|t| held.get(t).copied()).collect();
    policy
        .admit(keys, &mut entries, now)
        .map_err(Refused::Locked)?;
    for (text, entry) in texts.iter().zip(entries) {
        if let Some(entry) = entry {
            write(conn, text, entry)?;
        }
    }
    Ok(true)
}

/// A success in the table: the attempt's rows locked in key order, then the pair and the
/// username forgotten and the address given its reservation back.
pub fn settle_success(conn: &mut Connection, policy: &Policy, keys: &[Key]) -> QueryResult<()> {
    let texts: Vec<String> = keys.iter().map(Key::text).collect();
    conn.write_transaction(|conn| {
        let held = lock(conn, &texts)?;
        for (key, text) in keys.iter().zip(&texts) {
            let Some(entry) = held.get(text) else {
                continue;
            };
            // Forgotten, not deleted: an admission that created this row and waits for its
            // lock would otherwise find it gone and have to start again.
            let after = policy
                .after_success(key, *entry)
                .unwrap_or_else(|| entry.forgotten());
            write(conn, text, after)?;
        }
        Ok(())
    })
}

/// Deletes the rows with nothing left to remember ([`Entry::is_stale`] at `now_ms`: not
/// locked, and no failure or none within `window`), [`PRUNE_BATCH`] per transaction. On
/// PostgreSQL a row an admission holds is skipped, never waited for. Returns how many rows
/// went.
pub fn clear_stale(conn: &mut Connection, now_ms: i64, window: Duration) -> QueryResult<usize> {
    let quiet_since = now_ms.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
    let mut total = 0;
    loop {
        let removed = conn.write_transaction(|conn| {
            let stale = login_throttle::table
                .filter(
                    login_throttle::failures
                        .eq(0)
                        .or(login_throttle::last_ms.le(quiet_since)),
                )
                .filter(
                    login_throttle::blocked_until_ms
                        .is_null()
                        .or(login_throttle::blocked_until_ms.le(now_ms)),
                )
                .select(login_throttle::key)
                .limit(PRUNE_BATCH);
            let keys: Vec<String> = match conn {
                AnyConnection::Postgres(pg) => stale.for_update().skip_locked().load(pg)?,
                _ => stale.load(conn)?,
            };
            diesel::delete(login_throttle::table.filter(login_throttle::key.eq_any(&keys)))
                .execute(conn)
        })?;
        total += removed;
        if i64::try_from(removed).unwrap_or(i64::MAX) < PRUNE_BATCH {
            return Ok(total);
        }
    }
}

/// The rows of `texts` that exist, locked until the transaction ends (PostgreSQL: in key
/// order, the one order every transaction here takes them in).
fn lock(conn: &mut Connection, texts: &[String]) -> QueryResult<HashMap<String, Entry>> {
    let query = login_throttle::table
        .filter(login_throttle::key.eq_any(texts))
        .order(login_throttle::key)
        .select((
            login_throttle::key,
            login_throttle::failures,
            login_throttle::last_ms,
            login_throttle::blocked_until_ms,
        ));
    let rows: Vec<(String, i32, i64, Option<i64>)> = match conn {
        AnyConnection::Postgres(pg) => query.for_update().load(pg)?,
        _ => query.load(conn)?,
    };
    Ok(rows
        .into_iter()
        .map(|(text, failures, last_ms, blocked_until_ms)| {
            let entry = Entry {
                failures: u32::try_from(failures).unwrap_or(0),
                last_ms,
                blocked_until_ms,
            };
            (text, entry)
        })
        .collect())
}

/// Stores `entry` in `text`'s row, which this transaction holds.
fn write(conn: &mut Connection, text: &str, entry: Entry) -> QueryResult<()> {
    diesel::update(login_throttle::table.find(text))
        .set((
            login_throttle::failures.eq(i32::try_from(entry.failures).unwrap_or(i32::MAX)),
            login_throttle::last_ms.eq(entry.last_ms),
            login_throttle::blocked_until_ms.eq(entry.blocked_until_ms),
        ))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests;
