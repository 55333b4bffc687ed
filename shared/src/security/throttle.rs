//! Brute-force protection for logins (RFC 6749 §4.3.2).
//!
//! Failed logins are counted per (username, address), per address and per username. Each key
//! has a few free failures, then it is locked for a delay that doubles with every further
//! failure: up to `max_lockout` for a pair or an address, but at most
//! [`USERNAME_LOCKOUT_CAP`] for a username alone, so an attacker spraying from many addresses
//! can slow a user down but never lock them out for long. Counts are forgotten after a quiet
//! `window`. An address is an IPv4 address or an IPv6 /64 (see `client_network`).
//!
//! An attempt counts the moment it is admitted, before its password is hashed: [`admit`]
//! reserves it under the lock as a failure, and only [`succeeded`] takes it back (and clears
//! the pair and the username). So of many guesses sent at once, no more than the free
//! allowance reach the hasher; the others are refused at once. A login form uses the same
//! `admit` / `succeeded` / `failed` calls as the password grant.
//!
//! State is per process (several instances behind a load balancer each count their own);
//! keep the type's interface if it moves to a shared store.
//!
//! [`admit`]: LoginThrottle::admit
//! [`succeeded`]: LoginThrottle::succeeded

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const USERNAME_LOCKOUT_CAP: Duration = Duration::from_secs(60);
/// Bounds memory under a spray of random usernames; see [`evict`].
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures per (username, address) before attempts wait; an address gets 4×, a
    /// username 2×. 0 = off.
    pub free_failures: u32,
    pub max_lockout: Duration,
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Address(IpAddr),
    Username(String),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// An admitted login attempt, counted as a failure until [`LoginThrottle::succeeded`] says
/// otherwise. Settle it once the credentials are checked.
#[derive(Debug)]
#[must_use = "settle the attempt with `succeeded` or `failed`"]
pub struct Attempt {
    username: String,
    address: Option<IpAddr>,
}

#[derive(Debug)]
pub struct LoginThrottle {
    policy: Policy,
    capacity: usize,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl LoginThrottle {
    pub fn new(policy: Policy) -> Self {
        LoginThrottle {
            policy,
            capacity: MAX_ENTRIES,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, address: Option<IpAddr>) -> Vec<(Key, u32, Duration)> {
        let mut keys = vec![(Key::Username(username.to_owned()), 2, USERNAME_LOCKOUT_CAP)];
        if let Some(ip) = address.map(client_network) {
            keys.push((Key::Pair(username.to_owned(), ip), 1, Duration::MAX));
            keys.push((Key::Address(ip), 4, Duration::MAX));
        }
        keys
    }

    /// Admits an attempt to check credentials, counting it as a failure at once; `Err(wait)`
    /// when a key is locked, before any work is done. The check and the count are one step
    /// under the lock, so concurrent attempts cannot all pass the same check.
    pub fn admit(&self, username: &str, address: Option<IpAddr>) -> Result<Attempt, Duration> {
        let attempt = Attempt {
            username: username.to_owned(),
            address,
        };
        if self.policy.free_failures == 0 {
            return Ok(attempt);
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Read under the lock: a time read before waiting for it could be older than a lock
        // another attempt set meanwhile, and the wait would come out longer than the lock.
        let now = Instant::now();
        let keys = Self::keys(username, address);
        let wait = keys
            .iter()
            .filter_map(|(key, _, _)| entries.get(key)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        if let Some(wait) = wait {
            crate::telemetry::metrics().throttle_refusals.inc();
            return Err(wait);
        }
        if entries.len() + keys.len() > self.capacity {
            evict(&mut entries, now, self.policy.window, self.capacity);
        }
        for (key, multiplier, cap) in keys {
            let entry = entries.entry(key).or_insert(Entry {
                failures: 0,
                last: now,
                blocked_until: None,
            });
            if now.duration_since(entry.last) >= self.policy.window {
                entry.failures = 0;
            }
            entry.failures += 1;
            entry.last = now;
            // Reaching the free allowance locks the key: the next attempt waits.
            let free = self.policy.free_failures.saturating_mul(multiplier);
            if entry.failures >= free {
                let doublings = (entry.failures - free).min(20);
                let delay = Duration::from_secs(1u64 << doublings)
                    .min(self.policy.max_lockout)
                    .min(cap);
                entry.blocked_until = Some(now + delay);
            }
        }
        Ok(attempt)
    }

    /// The credentials were right: the pair and the username start afresh, and the address
    /// gets its reservation back.
    pub fn succeeded(&self, attempt: Attempt) {
        if self.policy.free_failures == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&Key::Username(attempt.username.clone()));
        if let Some(ip) = attempt.address.map(client_network) {
            entries.remove(&Key::Pair(attempt.username, ip));
            if let Some(entry) = entries.get_mut(&Key::Address(ip)) {
                entry.failures = entry.failures.saturating_sub(1);
                // A lock taken only because logins were in flight at once ends with them.
                if entry.failures < self.policy.free_failures.saturating_mul(4) {
                    entry.blocked_until = None;
                }
            }
        }
    }

    /// The credentials were wrong: the reservation stays as a failure.
    pub fn failed(&self, attempt: Attempt) {
        drop(attempt);
    }
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

/// Makes room in a full table without forgetting locks: entries idle past the window go
/// first, then unlocked entries, least recently used first, down to 90 % of `capacity` (so
/// the scan is paid once per many inserts). Locked entries go last, those whose lock ends
/// soonest first, and only if the table holds nothing else.
fn evict(entries: &mut HashMap<Key, Entry>, now: Instant, window: Duration, capacity: usize) {
    // A lock longer than the window (`max_lockout` above it) is kept until it ends.
    entries.retain(|_, e| {
        now.duration_since(e.last) < window || e.blocked_until.is_some_and(|until| until > now)
    });
    let target = capacity - capacity / 10;
    if entries.len() <= target {
        return;
    }
    let mut ranked: Vec<(bool, Instant, &Key)> = entries
        .iter()
        .map(|(key, e)| match e.blocked_until {
            Some(until) if until > now => (true, until, key),
            _ => (false, e.last, key),
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(Policy {
            free_failures: 2,
            max_lockout: Duration::from_secs(900),
            window: Duration::from_secs(900),
        })
    }

    const A: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));

    fn fail(t: &LoginThrottle, username: &str, address: Option<IpAddr>) {
        let attempt = t.admit(username, address).expect("admitted");
        t.failed(attempt);
    }

    /// Pushes the lock into the past, as if its delay had been waited out.
    fn wait_out(t: &LoginThrottle) {
        let mut entries = t.entries.lock().expect("lock");
        for entry in entries.values_mut() {
            entry.blocked_until = None;
        }
    }

    #[test]
    fn simultaneous_attempts_are_admitted_up_to_the_free_allowance_only() {
        let t = throttle();
        // All threads ask at once (a thread held back past the first 1 s lock would rightly
        // be admitted).
        let start = std::sync::Barrier::new(30);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..30)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        t.admit("alice", A)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        let admitted = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(admitted, 2, "none settled yet: two reach the hasher");
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|wait| *wait > Duration::ZERO && *wait <= Duration::from_secs(1))
        );
    }

    #[test]
    fn a_pair_is_locked_once_its_free_failures_are_used_and_the_lock_grows() {
        let t = throttle();
        fail(&t, "alice", A);
        fail(&t, "alice", A);
        let first = t.admit("alice", A).expect_err("locked");
        wait_out(&t);
        fail(&t, "alice", A);
        let second = t.admit("alice", A).expect_err("locked");
        assert!(second > first);
    }

    #[test]
    fn failures_from_one_address_never_lock_a_user_for_long_elsewhere() {
        let t = throttle();
        for _ in 0..40 {
            wait_out(&t);
            fail(&t, "alice", A);
        }
        let elsewhere = t
            .admit("alice", B)
            .expect_err("the username is slowed down");
        assert!(elsewhere <= USERNAME_LOCKOUT_CAP);
        assert!(t.admit("alice", A).expect_err("locked") > USERNAME_LOCKOUT_CAP);
    }

    #[test]
    fn a_success_clears_the_pair_and_the_username_and_returns_the_reservation() {
        let t = throttle();
        fail(&t, "alice", A);
        let attempt = t.admit("alice", A).expect("admitted");
        assert!(t.admit("alice", A).is_err(), "locked while in flight");
        t.succeeded(attempt);
        let again = t.admit("alice", A).expect("cleared");
        t.failed(again);
        let address = t.entries.lock().expect("lock")[&Key::Address(IpAddr::from([10, 0, 0, 1]))];
        assert_eq!(address.failures, 2, "the success was not counted");
    }

    /// Failures spread over addresses lock the username alone; the user's own success,
    /// from yet another address, clears that lock and count.
    #[test]
    fn a_success_clears_the_username_locked_by_failures_from_elsewhere() {
        let t = throttle();
        let at = |last: u8| Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, last)));
        for last in 1..=3 {
            fail(&t, "alice", at(last));
        }
        // The fourth attempt reaches the username's allowance (2 × 2) and locks it.
        let attempt = t.admit("alice", A).expect("admitted");
        assert!(
            t.admit("alice", at(4)).is_err(),
            "the username is locked from every address"
        );
        t.succeeded(attempt);
        for last in 5..=7 {
            fail(&t, "alice", at(last));
        }
        assert!(
            t.admit("alice", at(8)).is_ok(),
            "the success cleared the username's count and lock"
        );
    }

    #[test]
    fn an_ipv6_client_rotating_within_its_64_shares_one_allowance() {
        let t = throttle();
        for i in 0..10u16 {
            wait_out(&t);
            let ip = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i);
            fail(&t, "alice", Some(IpAddr::V6(ip)));
        }
        let same_64 = Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 10)));
        assert!(
            t.admit("bob", same_64).is_err(),
            "the /64 is locked as one address"
        );
        let next_64 = Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1)));
        assert!(
            t.admit("bob", next_64).is_ok(),
            "another /64 is another client"
        );
        let mapped = Some(IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()));
        fail(&t, "carol", mapped);
        fail(&t, "carol", mapped);
        assert!(t.admit("carol", A).is_err(), "IPv4-mapped is IPv4");
        assert!(t.admit("carol", B).is_ok(), "IPv4 stays per address");
    }

    #[test]
    fn a_flood_of_random_usernames_does_not_unlock_a_locked_pair() {
        let t = throttle();
        for _ in 0..10 {
            wait_out(&t);
            fail(&t, "alice", A);
        }
        assert!(t.admit("alice", A).expect_err("locked") > Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES as u32) {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i));
            fail(&t, &format!("user{i}"), Some(ip));
        }
        assert!(t.entries.lock().expect("lock").len() <= MAX_ENTRIES);
        assert!(t.admit("alice", A).is_err(), "the lock survives");
    }

    #[test]
    fn a_full_table_stays_bounded_and_keeps_locks_over_unlocked_entries() {
        let mut t = throttle();
        t.capacity = 30;
        for i in 0..40u8 {
            let ip = Some(IpAddr::from([10, 1, 0, i]));
            fail(&t, &format!("user{i}"), ip);
            fail(&t, &format!("user{i}"), ip);
        }
        let entries = t.entries.lock().expect("lock");
        assert!(entries.len() <= 30);
        let locked_pairs = entries
            .iter()
            .filter(|(key, e)| matches!(key, Key::Pair(..)) && e.blocked_until.is_some())
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
    fn logins_in_flight_at_once_from_one_address_do_not_leave_it_locked() {
        let t = throttle();
        let attempts: Vec<_> = (0..8)
            .map(|i| t.admit(&format!("user{i}"), A).expect("admitted"))
            .collect();
        assert!(
            t.admit("user9", A).is_err(),
            "eight in flight fill the address"
        );
        for attempt in attempts {
            t.succeeded(attempt);
        }
        let next = t.admit("user9", A).expect("the address is free again");
        t.succeeded(next);
    }

    #[test]
    fn zero_free_failures_switches_it_off() {
        let t = LoginThrottle::new(Policy {
            free_failures: 0,
            max_lockout: Duration::from_secs(1),
            window: Duration::from_secs(1),
        });
        for _ in 0..100 {
            fail(&t, "alice", A);
        }
        assert!(t.admit("alice", A).is_ok());
    }
}
