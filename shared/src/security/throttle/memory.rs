//! The login throttle's entries in this process's memory: one map under one mutex, bounded
//! against a spray of random usernames. What one process alone serves (an SQLite file) counts
//! here, at no cost to its logins; instances sharing a database count in its table instead.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::{Entry, Key, Policy};

/// Bounds memory under a spray of random usernames; see [`evict`].
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub struct MemoryStore {
    capacity: usize,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_capacity(MAX_ENTRIES)
    }
}

impl MemoryStore {
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryStore {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// [`Policy::admit`] on this map's entries, under its lock, so concurrent attempts
    /// cannot all pass the same check. `now` is read under the lock: a time read before
    /// waiting for it could be older than a lock another attempt set meanwhile, and the wait
    /// would come out longer than the lock.
    pub fn admit(
        &self,
        policy: &Policy,
        keys: &[Key],
        now: impl FnOnce() -> i64,
    ) -> Result<(), Duration> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let now = now();
        let mut current: Vec<Option<Entry>> =
            keys.iter().map(|k| entries.get(k).copied()).collect();
        policy.admit(keys, &mut current, now)?;
        if entries.len() + keys.len() > self.capacity {
            evict(&mut entries, now, policy.window, self.capacity);
        }
        for (key, entry) in keys.iter().zip(current).filter_map(|(k, e)| Some((k, e?))) {
            entries.insert(key.clone(), entry);
        }
        Ok(())
    }

    /// [`Policy::after_success`] on each of the attempt's entries.
    pub fn succeeded(&self, policy: &Policy, keys: &[Key]) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            let Some(entry) = entries.get(key).copied() else {
                continue;
            };
            match policy.after_success(key, entry) {
                Some(entry) => entries.insert(key.clone(), entry),
                None => entries.remove(key),
            };
        }
    }

    /// A copy of one entry, for tests.
    #[cfg(test)]
    pub fn entry(&self, key: &Key) -> Option<Entry> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(key).copied()
    }
}

/// Makes room in a full table without forgetting locks: stale entries go first (see
/// [`Entry::is_stale`]), then unlocked entries, least recently used first, down to 90 % of
/// `capacity` (so the scan is paid once per many inserts). Locked entries go last, those
/// whose lock ends soonest first, and only if the table holds nothing else.
fn evict(entries: &mut HashMap<Key, Entry>, now: i64, window: Duration, capacity: usize) {
    // A lock longer than the window (`max_lockout` above it) is kept until it ends.
    entries.retain(|_, e| !e.is_stale(now, window));
    let target = capacity - capacity / 10;
    if entries.len() <= target {
        return;
    }
    let mut ranked: Vec<(bool, i64, &Key)> = entries
        .iter()
        .map(|(key, e)| match e.blocked_until_ms {
            Some(until) if until > now => (true, until, key),
            _ => (false, e.last_ms, key),
        })
        .collect();
    let excess = entries.len() - target;
    ranked.select_nth_unstable_by_key(excess - 1, |(is_locked, at, _)| (*is_locked, *at));
    if ranked[..excess].iter().any(|(is_locked, _, _)| *is_locked) {
        log::warn!("login throttle table full of locks; dropping those that end soonest");
    }
    let victims: Vec<Key> = ranked[..excess]
        .iter()
        .map(|(_, _, key)| (*key).clone())
        .collect();
    for key in victims {
        entries.remove(&key);
    }
}

// Bounds of the map; the throttle's behaviour on both stores is tested in
// `crate::storage::throttle`.
#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::super::WINDOW;
    use super::*;

    const POLICY: Policy = Policy {
        free_failures: 2,
        max_lockout: Duration::from_secs(900),
        window: WINDOW,
    };

    const A: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    const START: i64 = 1_000_000_000_000;

    /// A failed attempt at `now` ms.
    fn fail(store: &MemoryStore, username: &str, address: Option<IpAddr>, now: i64) {
        let attempt = POLICY.attempt(username, address);
        store
            .admit(&POLICY, attempt.keys(), || now)
            .expect("admitted");
    }

    #[test]
    fn a_flood_of_random_usernames_does_not_unlock_a_locked_pair() {
        let store = MemoryStore::default();
        let mut now = START;
        let alice = POLICY.attempt("alice", A);
        // Ten failures, each as soon as the lock before it has ended.
        let mut failures = 0;
        while failures < 10 {
            match store.admit(&POLICY, alice.keys(), || now) {
                Ok(()) => failures += 1,
                Err(wait) => now += i64::try_from(wait.as_millis()).expect("a short wait"),
            }
        }
        let wait = store
            .admit(&POLICY, alice.keys(), || now)
            .expect_err("locked");
        assert!(wait > Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES as u32) {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i));
            fail(&store, &format!("user{i}"), Some(ip), now);
        }
        assert!(store.entries.lock().expect("lock").len() <= MAX_ENTRIES);
        assert!(
            store.admit(&POLICY, alice.keys(), || now).is_err(),
            "the lock survives"
        );
    }

    #[test]
    fn a_full_table_stays_bounded_and_keeps_locks_over_unlocked_entries() {
        let store = MemoryStore::with_capacity(30);
        for i in 0..40u8 {
            let ip = Some(IpAddr::from([10, 1, 0, i]));
            fail(&store, &format!("user{i}"), ip, START);
            fail(&store, &format!("user{i}"), ip, START);
        }
        let entries = store.entries.lock().expect("lock");
        assert!(entries.len() <= 30);
        let locked_pairs = entries
            .iter()
            .filter(|(key, e)| matches!(key, Key::Pair(..)) && e.blocked_until_ms.is_some())
            .count();
        assert!(
            locked_pairs > 0,
            "locks are kept while unlocked entries can go"
        );
        assert!(entries.contains_key(&Key::Pair(
            "user39".to_owned(),
            IpAddr::from([10, 1, 0, 39])
        )));
    }

    #[test]
    fn stale_entries_are_the_first_to_go() {
        let store = MemoryStore::with_capacity(10);
        fail(&store, "old", A, START);
        let later = START + i64::try_from(WINDOW.as_millis()).expect("ms") + 1;
        for i in 0..3u8 {
            fail(
                &store,
                &format!("new{i}"),
                Some(IpAddr::from([10, 2, 0, i])),
                later,
            );
        }
        assert!(store.entry(&Key::Username("old".to_owned())).is_none());
        assert!(store.entry(&Key::Username("new2".to_owned())).is_some());
    }
}
