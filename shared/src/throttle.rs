//! Brute-force protection for logins (RFC 6749 §4.3.2).
//!
//! Failed logins are counted per (username, address), per address and per username. Each key
//! has a few free failures, then it is locked for a delay that doubles with every further
//! failure: up to `max_lockout` for a pair or an address, but at most
//! [`USERNAME_LOCKOUT_CAP`] for a username alone, so an attacker spraying from many addresses
//! can slow a user down but never lock them out for long. Counts are forgotten after a quiet
//! `window`.
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
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const USERNAME_LOCKOUT_CAP: Duration = Duration::from_secs(60);
/// Bounds memory under a spray of random usernames; past it, stale entries are dropped.
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
    entries: Mutex<HashMap<Key, Entry>>,
}

impl LoginThrottle {
    pub fn new(policy: Policy) -> Self {
        LoginThrottle {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, address: Option<IpAddr>) -> Vec<(Key, u32, Duration)> {
        let mut keys = vec![(Key::Username(username.to_owned()), 2, USERNAME_LOCKOUT_CAP)];
        if let Some(ip) = address {
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
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let keys = Self::keys(username, address);
        let wait = keys
            .iter()
            .filter_map(|(key, _, _)| entries.get(key)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        if entries.len() + keys.len() > MAX_ENTRIES {
            let window = self.policy.window;
            entries.retain(|_, e| now.duration_since(e.last) < window);
            if entries.len() + keys.len() > MAX_ENTRIES {
                log::warn!("login throttle table full; forgetting old failures");
                entries.clear();
            }
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
        if let Some(ip) = attempt.address {
            entries.remove(&Key::Pair(attempt.username, ip));
            if let Some(entry) = entries.get_mut(&Key::Address(ip)) {
                entry.failures = entry.failures.saturating_sub(1);
            }
        }
    }

    /// The credentials were wrong: the reservation stays as a failure.
    pub fn failed(&self, attempt: Attempt) {
        drop(attempt);
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
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..30).map(|_| s.spawn(|| t.admit("alice", A))).collect();
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
