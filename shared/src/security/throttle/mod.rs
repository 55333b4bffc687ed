//! Brute-force protection for logins (RFC 6749 §4.3.2): the rules, whichever store holds the
//! counts.
//!
//! Failed logins are counted per (username, address), per address and per username. Each key
//! has a few free failures, then it is locked for a delay that doubles with every further
//! failure: up to `max_lockout` for a pair or an address, but at most
//! [`USERNAME_LOCKOUT_CAP`] for a username alone, so an attacker spraying from many addresses
//! can slow a user down but never lock them out for long. Counts are forgotten after a quiet
//! `window`. An address is an IPv4 address or an IPv6 /64 (see `client_network`).
//!
//! An attempt counts the moment it is admitted, before its password is hashed:
//! [`Policy::admit`] reserves it as a failure, and only a success takes it back
//! ([`Policy::after_success`]: the pair and the username start afresh). So of many guesses sent
//! at once, no more than the free allowance reach the hasher; the others are refused at once.
//!
//! This module decides; it holds nothing. The entries live in this process's memory
//! ([`memory::MemoryStore`]) or in the database, shared by every instance
//! (`crate::storage::throttle`, which also holds the `LoginThrottle` the endpoints call and
//! picks the store). Each store reads the entries of an attempt's keys, asks the policy, and
//! writes back what it answers, as one step no other attempt can interleave with. Times are
//! wall-clock milliseconds ([`crate::clock::now_ms`]), so that instances on several machines
//! agree on when a lock ends.

pub mod memory;

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

pub const USERNAME_LOCKOUT_CAP: Duration = Duration::from_secs(60);

/// How long a key's count is remembered without a new failure (15 minutes).
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures per (username, address) before attempts wait; an address gets 4×, a
    /// username 2×. 0 = off.
    pub free_failures: u32,
    pub max_lockout: Duration,
    pub window: Duration,
}

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Pair(String, IpAddr),
    Address(IpAddr),
    Username(String),
}

impl Key {
    /// The key as stored: its kind, then its parts separated by a space. An address holds
    /// no space, so the username, last, may hold anything and two keys never share a text.
    pub fn text(&self) -> String {
        match self {
            Key::Pair(username, ip) => format!("pair {ip} {username}"),
            Key::Address(ip) => format!("address {ip}"),
            Key::Username(username) => format!("username {username}"),
        }
    }

    /// (multiple of the free allowance, longest lock) of this kind of key.
    fn rule(&self) -> (u32, Duration) {
        match self {
            Key::Pair(..) => (1, Duration::MAX),
            Key::Address(_) => (4, Duration::MAX),
            Key::Username(_) => (2, USERNAME_LOCKOUT_CAP),
        }
    }
}

/// One key's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub failures: u32,
    /// When the last failure was counted (Unix ms).
    pub last_ms: i64,
    /// When the lock ends (Unix ms), if one was set.
    pub blocked_until_ms: Option<i64>,
}

impl Entry {
    /// Nothing to remember: not locked, and no failure counted or none within the window.
    /// Stores drop these.
    pub fn is_stale(&self, now_ms: i64, window: Duration) -> bool {
        (self.failures == 0 || now_ms.saturating_sub(self.last_ms) >= millis(window))
            && self.blocked_until_ms.is_none_or(|until| until <= now_ms)
    }

    /// What an entry [`Policy::after_success`] forgets becomes for a store that keeps the
    /// key's place rather than deleting it: no failure, no lock, the same as no entry to
    /// [`Policy::admit`].
    pub fn forgotten(self) -> Entry {
        Entry {
            failures: 0,
            blocked_until_ms: None,
            ..self
        }
    }
}

/// An admitted login attempt, counted as a failure until a success says otherwise. Settle it
/// once the credentials are checked.
#[derive(Debug)]
#[must_use = "settle the attempt with `succeeded` or `failed`"]
pub struct Attempt {
    /// Sorted by [`Key::text`]: stores that lock entries lock them in this order. Empty
    /// when the throttle is off.
    keys: Vec<Key>,
}

impl Attempt {
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }
}

impl Policy {
    pub fn is_off(&self) -> bool {
        self.free_failures == 0
    }

    /// The attempt to log in as `username` from `address`, with the keys it counts against.
    pub fn attempt(&self, username: &str, address: Option<IpAddr>) -> Attempt {
        if self.is_off() {
            return Attempt { keys: Vec::new() };
        }
        let mut keys = vec![Key::Username(username.to_owned())];
        if let Some(ip) = address.map(client_network) {
            keys.push(Key::Pair(username.to_owned(), ip));
            keys.push(Key::Address(ip));
        }
        keys.sort_by_cached_key(Key::text);
        Attempt { keys }
    }

    /// The one admission decision. `entries` holds the current entry of each of `keys` (None:
    /// no count yet); `Err(wait)` when one of them is locked, and then nothing changes.
    /// Otherwise each entry becomes its count with this attempt added as a failure, for the
    /// store to write back, and a key that reaches its free allowance is locked: the next
    /// attempt waits.
    pub fn admit(
        &self,
        keys: &[Key],
        entries: &mut [Option<Entry>],
        now_ms: i64,
    ) -> Result<(), Duration> {
        let wait = entries
            .iter()
            .flatten()
            .filter_map(|e| e.blocked_until_ms)
            .filter(|until| *until > now_ms)
            .map(|until| until - now_ms)
            .max();
        if let Some(wait) = wait {
            return Err(Duration::from_millis(
                u64::try_from(wait).unwrap_or(u64::MAX),
            ));
        }
        for (key, slot) in keys.iter().zip(entries) {
            let (multiplier, cap) = key.rule();
            let mut entry = slot.unwrap_or(Entry {
                failures: 0,
                last_ms: now_ms,
                blocked_until_ms: None,
            });
            if now_ms.saturating_sub(entry.last_ms) >= millis(self.window) {
                entry.failures = 0;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_ms = now_ms;
            let free = self.free_failures.saturating_mul(multiplier);
            if entry.failures >= free {
                let doublings = (entry.failures - free).min(20);
                let delay = Duration::from_secs(1u64 << doublings)
                    .min(self.max_lockout)
                    .min(cap);
                entry.blocked_until_ms = Some(now_ms.saturating_add(millis(delay)));
            }
            *slot = Some(entry);
        }
        Ok(())
    }

    /// What the credentials being right leaves of `key`'s entry: the pair and the username
    /// start afresh (None: forget it, see [`Entry::forgotten`]), and the address gets its
    /// reservation back.
    pub fn after_success(&self, key: &Key, entry: Entry) -> Option<Entry> {
        let Key::Address(_) = key else {
            return None;
        };
        let mut entry = entry;
        entry.failures = entry.failures.saturating_sub(1);
        // A lock taken only because logins were in flight at once ends with them.
        if entry.failures < self.free_failures.saturating_mul(4) {
            entry.blocked_until_ms = None;
        }
        Some(entry)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The part of an address one client controls: an IPv6 host usually gets a whole /64 and can
/// rotate through it, so the /64 is one key; an IPv4-mapped IPv6 address is its IPv4 address.
fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

// The behaviour of a whole throttle, on both stores, is tested in `crate::storage::throttle`.
#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn no_two_keys_share_a_text_whatever_the_username_holds() {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let texts = [
            Key::Username("pair 10.0.0.1 bob".to_owned()).text(),
            Key::Pair("bob".to_owned(), ip).text(),
            Key::Address(ip).text(),
            Key::Username("address 10.0.0.1".to_owned()).text(),
            Key::Pair("1 bob".to_owned(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))).text(),
        ];
        let distinct: std::collections::HashSet<_> = texts.iter().collect();
        assert_eq!(distinct.len(), texts.len(), "{texts:?}");
    }

    #[test]
    fn an_attempts_keys_are_in_the_order_stores_lock_them() {
        let policy = Policy {
            free_failures: 1,
            max_lockout: Duration::from_secs(1),
            window: WINDOW,
        };
        let attempt = policy.attempt("zed", Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
        let texts: Vec<String> = attempt.keys().iter().map(Key::text).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts.len(), 3);
        assert_eq!(texts, sorted);
    }
}
