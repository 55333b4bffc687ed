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
//! Per process: with several instances, each one's revocations invalidate only its own cache,
//! so keep `ttl` short (or 0, off) there.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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
    entries: RwLock<HashMap<String, Entry>>,
}

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        TokenCache {
            ttl,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The cached grant for this exact token, if fresh and cached since the last revocation.
    pub fn get(&self, token: &str) -> Option<Arc<AccessGrant>> {
        if self.ttl.is_zero() {
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
        if self.ttl.is_zero() || seconds_left <= 0 {
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
