//! Brute-force protection for the password grant (RFC 6749 §4.3.2).
//!
//! Failed logins are counted per (username, address), per address and per username. Past a
//! few free failures each key is locked for a delay that doubles with every further failure:
//! up to `max_lockout` for a pair or an address, but at most [`USERNAME_LOCKOUT_CAP`] for a
//! username alone, so an attacker spraying from many addresses can slow a user down but
//! never lock them out for long. A success clears the pair and the username. Counts are
//! forgotten after a quiet `window`.
//!
//! State is per process (several instances behind a load balancer each count their own);
//! keep the type's interface if it moves to a shared store.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const USERNAME_LOCKOUT_CAP: Duration = Duration::from_secs(60);
/// Bounds memory under a spray of random usernames; past it, stale entries are dropped.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Free failures per (username, address); an address gets 4×, a username 2×. 0 = off.
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

    /// `Err(wait)` when this attempt must wait before it is even checked.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        if self.policy.free_failures == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let wait = Self::keys(username, address)
            .into_iter()
            .filter_map(|(key, _, _)| entries.get(&key)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        wait.map_or(Ok(()), Err)
    }

    pub fn record_failure(&self, username: &str, address: Option<IpAddr>) {
        if self.policy.free_failures == 0 {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let window = self.policy.window;
            entries.retain(|_, e| now.duration_since(e.last) < window);
            if entries.len() >= MAX_ENTRIES {
                log::warn!("login throttle table full; forgetting old failures");
                entries.clear();
            }
        }
        for (key, multiplier, cap) in Self::keys(username, address) {
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
            let free = self.policy.free_failures.saturating_mul(multiplier);
            if entry.failures > free {
                let doublings = (entry.failures - free - 1).min(20);
                let delay = Duration::from_secs(1u64 << doublings)
                    .min(self.policy.max_lockout)
                    .min(cap);
                entry.blocked_until = Some(now + delay);
            }
        }
    }

    pub fn record_success(&self, username: &str, address: Option<IpAddr>) {
        if self.policy.free_failures == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&Key::Username(username.to_owned()));
        if let Some(ip) = address {
            entries.remove(&Key::Pair(username.to_owned(), ip));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(Policy {
            free_failures: 2,
            max_lockout: Duration::from_secs(900),
            window: Duration::from_secs(900),
        })
    }

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn a_pair_is_locked_after_its_free_failures_and_the_lock_grows() {
        let t = throttle();
        t.record_failure("alice", A);
        t.record_failure("alice", A);
        assert!(t.check("alice", A).is_ok());
        t.record_failure("alice", A);
        let first = t.check("alice", A).expect_err("locked");
        t.record_failure("alice", A);
        let second = t.check("alice", A).expect_err("locked");
        assert!(second > first);
    }

    #[test]
    fn failures_from_one_address_never_lock_a_user_for_long_elsewhere() {
        let t = throttle();
        for _ in 0..40 {
            t.record_failure("alice", A);
        }
        let elsewhere = t
            .check("alice", B)
            .expect_err("the username is slowed down");
        assert!(elsewhere <= USERNAME_LOCKOUT_CAP);
        assert!(t.check("alice", A).expect_err("locked") > USERNAME_LOCKOUT_CAP);
    }

    #[test]
    fn a_success_clears_the_pair_and_the_username() {
        let t = throttle();
        for _ in 0..3 {
            t.record_failure("alice", A);
        }
        t.record_success("alice", A);
        assert!(t.check("alice", A).is_ok());
    }

    #[test]
    fn zero_free_failures_switches_it_off() {
        let t = LoginThrottle::new(Policy {
            free_failures: 0,
            max_lockout: Duration::from_secs(1),
            window: Duration::from_secs(1),
        });
        for _ in 0..100 {
            t.record_failure("alice", A);
        }
        assert!(t.check("alice", A).is_ok());
    }
}
