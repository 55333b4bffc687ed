//! A short-lived, in-process cache of validated access tokens, so that the common request
//! (a valid token on a protected resource) needs no database round trip, nor even a second
//! signature check: entries are keyed by the exact token string that was validated.
//!
//! Correctness rules:
//! - an entry lives at most `ttl` (and never past the token's `exp`); a change made to the
//!   database from outside this process (an operator deactivating a user) is seen within `ttl`;
//! - every revocation made by this process calls [`TokenCache::invalidate_all`] after its
//!   transaction commits, so RFC 7009 revocation, refresh rotation and the exchange's
//!   replacement of old tokens take effect at once: an entry cached before that call is
//!   ignored, one cached after it was read from the committed database.
//!
//! Lookups are counted in the metrics (`token_cache_lookups_total`, hit or miss; none while
//! the cache is off).
//!
//! Several instances on one PostgreSQL database hear each other's revocations through
//! [`crate::storage::changes`]: each empties its cache on a change made anywhere, within
//! milliseconds of its commit. While an instance cannot hear (its listening connection failed,
//! or it has not started listening yet) its cache is deaf ([`TokenCache::set_hearing`]):
//! it neither answers nor stores, and every check reads the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::AccessGrant;

/// Past this many entries the cache starts over: it bounds memory (a token is ~400 bytes)
/// under a flood of distinct tokens.
const MAX_ENTRIES: usize = 8_192;

#[derive(Debug)]
struct Entry {
    grant: Arc<AccessGrant>,
    generation: u64,
    until: Instant,
}

#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    generation: AtomicU64,
    /// Whether changes made elsewhere reach this process (see the module docs).
    hearing: AtomicBool,
    entries: RwLock<HashMap<String, Entry>>,
}

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        TokenCache {
            ttl,
            generation: AtomicU64::new(0),
            hearing: AtomicBool::new(true),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The cached grant for this exact token, if fresh and cached since the last revocation.
    pub fn get(&self, token: &str) -> Option<Arc<AccessGrant>> {
        if self.ttl.is_zero() {
            return None;
        }
        if !self.hearing.load(Ordering::Acquire) {
            crate::telemetry::metrics().token_cache_misses.inc();
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let hit = entries
            .get(token)
            .filter(|entry| entry.generation == generation && entry.until > Instant::now())
            .map(|entry| entry.grant.clone());
        let metrics = crate::telemetry::metrics();
        if hit.is_some() {
            metrics.token_cache_hits.inc();
        } else {
            metrics.token_cache_misses.inc();
        }
        hit
    }

    /// Remembers a grant read from the database for `token`; `generation` is what
    /// [`TokenCache::generation`] returned before that read, `seconds_left` the time to the
    /// token's `exp` (an entry never outlives it: a hit skips the signature and expiry check).
    pub fn insert(&self, token: &str, grant: Arc<AccessGrant>, generation: u64, seconds_left: i64) {
        // Whole seconds, rounded down, so an entry ends before `exp` and never after it.
        let seconds_left = seconds_left - 1;
        if self.ttl.is_zero() || seconds_left <= 0 || !self.hearing.load(Ordering::Acquire) {
            return;
        }
        let left = Duration::from_secs(u64::try_from(seconds_left).unwrap_or(0));
        let until = Instant::now() + self.ttl.min(left);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            token.to_owned(),
            Entry {
                grant,
                generation,
                until,
            },
        );
    }

    /// The current generation, to read before a database lookup whose result is cached.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Says whether changes made by other processes reach this one. Deaf, the cache is
    /// emptied and stays out of the way; hearing again, it starts empty.
    pub fn set_hearing(&self, hearing: bool) {
        self.invalidate_all();
        self.hearing.store(hearing, Ordering::Release);
        // A grant read before the switch could have been stored in between.
        self.invalidate_all();
    }

    /// Forgets every entry; called after any revocation commits.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::scope::Scope;
    use crate::storage::users::User;

    fn grant() -> Arc<AccessGrant> {
        Arc::new(AccessGrant {
            user: User {
                id: 1,
                username: "alice".to_owned(),
                password: "!".to_owned(),
                email: String::new(),
                first_name: String::new(),
                last_name: String::new(),
                is_active: true,
                is_staff: false,
                is_superuser: false,
                date_joined: 0,
            },
            client_id: "client".to_owned(),
            scope: Scope::parse("read").expect("a scope"),
            jti: "jti".to_owned(),
        })
    }

    #[test]
    fn a_deaf_cache_neither_answers_nor_stores_and_hears_again_empty() {
        let cache = TokenCache::new(Duration::from_secs(60));
        cache.insert("token", grant(), cache.generation(), 600);
        assert!(cache.get("token").is_some());

        cache.set_hearing(false);
        assert!(cache.get("token").is_none(), "deaf: no answer");
        cache.insert("token", grant(), cache.generation(), 600);
        assert!(cache.get("token").is_none(), "deaf: nothing stored");

        // A grant read while deaf is not stored once hearing again.
        let read_while_deaf = cache.generation();
        cache.set_hearing(true);
        assert!(cache.get("token").is_none(), "hearing again, empty");
        cache.insert("token", grant(), read_while_deaf, 600);
        assert!(
            cache.get("token").is_none(),
            "a read from before is not kept"
        );
        cache.insert("token", grant(), cache.generation(), 600);
        assert!(cache.get("token").is_some());
    }
}
