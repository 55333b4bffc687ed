//! Password hashing: bcrypt for new hashes; Django's formats verified and upgraded.
//!
//! Hashing is deliberately slow (~240 ms at cost 12), so it runs on the blocking pool and at
//! most `max_concurrent` hashes run at once: the rest of the service keeps a core to answer
//! cheap requests while logins queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use thiserror::Error;
use tokio::sync::Semaphore;

use crate::blocking::{Cancelled, unblock};
use crate::security::secret::{Secret, constant_time_eq};
use crate::telemetry::GaugeGuard;

pub const DEFAULT_COST: u32 = 12;

/// Stored in place of a hash for accounts that cannot log in with a password.
pub const UNUSABLE: &str = "!";

#[derive(Debug, Error)]
pub enum PasswordError {
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
}

/// The outcome of a verification.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    /// The password matches; `rehash` holds a bcrypt hash to store when the old one was in
    /// another format or at a lower cost.
    Yes {
        rehash: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    dummy: Arc<OnceLock<String>>,
    /// Verifications against the dummy hash so far (a test seam and a cheap metric).
    dummy_uses: Arc<AtomicU64>,
}

impl PasswordHasher {
    pub fn new(cost: u32, max_concurrent: usize) -> Self {
        PasswordHasher {
            cost,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy: Arc::new(OnceLock::new()),
            dummy_uses: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Hashes synchronously (commands and fixtures, outside the server).
    pub fn hash_blocking(&self, password: &Secret) -> Result<String, PasswordError> {
        Ok(bcrypt::hash(password.expose(), self.cost)?)
    }

    /// Runs slow hashing work on the blocking pool within the limit on concurrent hashes:
    /// every slow hash (passwords, Django-format client secrets) shares the same permits.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PasswordError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let metrics = crate::telemetry::metrics();
        let queued = GaugeGuard::new(&metrics.hashes_queued);
        let _permit = self.permits.acquire().await.map_err(|_| Cancelled)?;
        drop(queued);
        let _running = GaugeGuard::new(&metrics.hashes_running);
        Ok(unblock(f).await?)
    }

    /// Verifies against `stored`; with `None` (unknown user) it verifies against a dummy hash
    /// of the same cost, so an unknown username takes as long as a wrong password. A failure
    /// against a hash cheaper than that also pays the dummy: every failure costs at least one
    /// hash at the configured cost.
    pub async fn verify(
        &self,
        password: Secret,
        stored: Option<String>,
    ) -> Result<Verified, PasswordError> {
        let this = self.clone();
        self.run(move || this.verify_blocking(&password, stored.as_deref()))
            .await?
    }

    pub fn verify_blocking(
        &self,
        password: &Secret,
        stored: Option<&str>,
    ) -> Result<Verified, PasswordError> {
        let Some(stored) = stored else {
            self.verify_dummy(password)?;
            return Ok(Verified::No);
        };
        let (matches, current) = match check(password.expose(), stored) {
            Some(result) => result,
            None => {
                // Unusable or unknown format: spend the same time, then refuse.
                self.verify_dummy(password)?;
                return Ok(Verified::No);
            }
        };
        if !matches {
            // A cheaper stored hash (Django's PBKDF2, a low bcrypt cost) would answer faster
            // than an unknown user and give the account's format away: pay the dummy too.
            if !self.costs_a_full_hash(stored) {
                self.verify_dummy(password)?;
            }
            return Ok(Verified::No);
        }
        let rehash = match current {
            Some(cost) if cost >= self.cost => None,
            _ => Some(self.hash_blocking(password)?),
        };
        Ok(Verified::Yes { rehash })
    }

    /// Whether checking `stored` already cost a bcrypt at the configured cost.
    fn costs_a_full_hash(&self, stored: &str) -> bool {
        let bcrypt = stored
            .strip_prefix("bcrypt_sha256$")
            .or_else(|| stored.strip_prefix("bcrypt$"))
            .unwrap_or(stored);
        bcrypt.starts_with("$2") && bcrypt_cost(bcrypt).is_some_and(|cost| cost >= self.cost)
    }

    /// How many verifications ran against the dummy hash.
    pub fn dummy_hashes(&self) -> u64 {
        self.dummy_uses.load(Ordering::Relaxed)
    }

    fn verify_dummy(&self, password: &Secret) -> Result<(), PasswordError> {
        let dummy = self.dummy_hash()?;
        let _ = bcrypt::verify(password.expose(), dummy);
        self.dummy_uses.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn dummy_hash(&self) -> Result<&str, PasswordError> {
        if let Some(hash) = self.dummy.get() {
            return Ok(hash);
        }
        let hash = bcrypt::hash(crate::security::secret::random_token(16), self.cost)?;
        Ok(self.dummy.get_or_init(|| hash))
    }
}

/// Whether `password` matches a hash in one of the formats [`PasswordHasher`] reads, with no
/// dummy work for an unusable one: for client secrets, whose ids are not secret.
pub fn matches(password: &Secret, stored: &str) -> bool {
    check(password.expose(), stored).is_some_and(|(matches, _)| matches)
}

/// Checks `password` against a stored hash. Returns whether it matches and, for a plain
/// bcrypt hash, its cost (`None` means "not our format: rehash"). `None` overall means the
/// stored value is not a usable hash.
fn check(password: &str, stored: &str) -> Option<(bool, Option<u32>)> {
    if stored.starts_with("$2") {
        let cost = bcrypt_cost(stored);
        return Some((bcrypt::verify(password, stored).unwrap_or(false), cost));
    }
    let (algorithm, rest) = stored.split_once('$')?;
    match algorithm {
        // Django's BCryptPasswordHasher: "bcrypt$" + a bcrypt hash.
        "bcrypt" => Some((bcrypt::verify(password, rest).unwrap_or(false), None)),
        // Django's BCryptSHA256PasswordHasher: bcrypt of the hex SHA-256 of the password.
        "bcrypt_sha256" => {
            let digest = crate::security::secret::sha256_hex(password);
            Some((bcrypt::verify(digest, rest).unwrap_or(false), None))
        }
        "pbkdf2_sha256" => Some((check_pbkdf2_sha256(password, rest)?, None)),
        _ => None,
    }
}

fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

/// Django's `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` (the part after the algorithm).
fn check_pbkdf2_sha256(password: &str, rest: &str) -> Option<bool> {
    let mut parts = rest.splitn(3, '$');
    let iterations: u32 = parts.next()?.parse().ok()?;
    let salt = parts.next()?;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(parts.next()?)
        .ok()?;
    if iterations == 0 || expected.is_empty() || expected.len() > 64 {
        return None;
    }
    let mut derived = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    Some(constant_time_eq(&derived, &expected))
}

/// Builds a Django-format PBKDF2 hash (used by tests and to describe the fixture format).
pub fn django_pbkdf2_sha256(password: &str, salt: &str, iterations: u32) -> String {
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(derived);
    format!("pbkdf2_sha256${iterations}${salt}${encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_pbkdf2_hash_verifies_and_asks_for_a_bcrypt_rehash() {
        let hasher = PasswordHasher::new(4, 1);
        let stored = django_pbkdf2_sha256("s3cret", "somesalt", 1_000);
        let ok = hasher
            .verify_blocking(&Secret::from("s3cret"), Some(&stored))
            .expect("verify");
        match ok {
            Verified::Yes { rehash: Some(new) } => assert!(new.starts_with("$2")),
            other => panic!("expected a rehash, got {other:?}"),
        }
        let wrong = hasher
            .verify_blocking(&Secret::from("nope"), Some(&stored))
            .expect("verify");
        assert_eq!(wrong, Verified::No);
    }

    /// Django's `bcrypt_sha256$`, built as Django builds it: bcrypt of the hex SHA-256.
    fn django_bcrypt_sha256(password: &str, cost: u32) -> String {
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(password.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "bcrypt_sha256${}",
            bcrypt::hash(digest, cost).expect("hash")
        )
    }

    #[test]
    fn django_bcrypt_hashes_verify_and_ask_for_a_plain_bcrypt_rehash() {
        let hasher = PasswordHasher::new(4, 1);
        let plain = bcrypt::hash("s3cret", 4).expect("hash");
        for stored in [format!("bcrypt${plain}"), django_bcrypt_sha256("s3cret", 4)] {
            match hasher
                .verify_blocking(&Secret::from("s3cret"), Some(&stored))
                .expect("verify")
            {
                Verified::Yes { rehash: Some(new) } => {
                    assert!(new.starts_with("$2"), "{new}");
                    assert!(bcrypt::verify("s3cret", &new).expect("verify the rehash"));
                }
                other => panic!("{stored}: expected a rehash, got {other:?}"),
            }
            let wrong = hasher
                .verify_blocking(&Secret::from("nope"), Some(&stored))
                .expect("verify");
            assert_eq!(wrong, Verified::No, "{stored}");
        }
        // bcrypt_sha256 hashes the digest, not the password: the two are not interchangeable.
        let digest_of_other = django_bcrypt_sha256("other", 4);
        assert!(!matches(&Secret::from("s3cret"), &digest_of_other));
        let swapped = django_bcrypt_sha256("s3cret", 4).replacen("bcrypt_sha256$", "bcrypt$", 1);
        assert!(!matches(&Secret::from("s3cret"), &swapped));
    }

    #[test]
    fn bcrypt_hash_at_the_configured_cost_needs_no_rehash() {
        let hasher = PasswordHasher::new(4, 1);
        let stored = hasher.hash_blocking(&Secret::from("pw")).expect("hash");
        let ok = hasher
            .verify_blocking(&Secret::from("pw"), Some(&stored))
            .expect("verify");
        assert_eq!(ok, Verified::Yes { rehash: None });
    }

    #[actix_rt::test]
    async fn slow_work_never_runs_beyond_the_permits() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let hasher = PasswordHasher::new(4, 2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            hasher.run(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let stored = django_pbkdf2_sha256("secret", "salt", 20_000);
                let ok = matches(&Secret::from("secret"), &stored);
                running.fetch_sub(1, Ordering::SeqCst);
                ok
            })
        });
        let results = futures_util::future::join_all(jobs).await;
        assert!(results.into_iter().all(|r| r.is_ok_and(|ok| ok)));
        let most = most.load(Ordering::SeqCst);
        assert!((1..=2).contains(&most), "{most} ran at once");
    }

    #[test]
    fn every_failed_check_costs_at_least_one_hash_at_the_configured_cost() {
        let hasher = PasswordHasher::new(5, 1);
        let full = hasher.hash_blocking(&Secret::from("pw")).expect("hash");
        let cheap_bcrypt = bcrypt::hash("pw", 4).expect("hash");
        let pbkdf2 = django_pbkdf2_sha256("pw", "salt", 1_000);
        let wrong = Secret::from("wrong");
        let dummies = |stored: Option<&str>| {
            let before = hasher.dummy_hashes();
            let result = hasher.verify_blocking(&wrong, stored).expect("verify");
            assert_eq!(result, Verified::No);
            hasher.dummy_hashes() - before
        };
        assert_eq!(dummies(None), 1, "unknown user");
        assert_eq!(dummies(Some("!")), 1, "unusable password");
        assert_eq!(dummies(Some(&pbkdf2)), 1, "Django PBKDF2");
        assert_eq!(
            dummies(Some(&cheap_bcrypt)),
            1,
            "bcrypt below the configured cost"
        );
        assert_eq!(dummies(Some(&full)), 0, "bcrypt at the configured cost");
        let django_bcrypt = format!("bcrypt${full}");
        assert_eq!(
            dummies(Some(&django_bcrypt)),
            0,
            "Django's bcrypt at the cost"
        );
    }

    #[test]
    fn unusable_and_malformed_hashes_never_match() {
        let hasher = PasswordHasher::new(4, 1);
        for stored in [
            "!",
            "",
            "pbkdf2_sha256$x$y$z",
            "md5$a$b",
            "pbkdf2_sha256$0$s$AAAA",
        ] {
            let result = hasher
                .verify_blocking(&Secret::from("pw"), Some(stored))
                .expect("verify");
            assert_eq!(result, Verified::No, "{stored}");
        }
    }
}
