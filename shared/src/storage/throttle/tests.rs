//! The login throttle's behaviour on both stores: each case runs once counting in memory and
//! once in the table, on the run's database (`TEST_DATABASE_URL`, see `storage::testdb`). Time
//! is a clock the test moves, so no case depends on how fast the machine is.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures_util::future::join_all;

use super::*;
use crate::security::throttle::USERNAME_LOCKOUT_CAP;
use crate::storage::testdb;

const A: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
const B: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));

/// Two free failures per pair; a day's window, so that waiting out the longest lock never
/// also forgets the count.
fn policy(free_failures: u32) -> Policy {
    Policy {
        free_failures,
        max_lockout: Duration::from_secs(900),
        window: Duration::from_secs(24 * 3600),
    }
}

/// Where test clocks start (2023): long past, so that the periodic prune, which reads the
/// real clock, finds every lock set here ended.
const START: i64 = 1_700_000_000_000;

/// A stopped wall clock (Unix ms), moved by hand.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new() -> Self {
        TestClock(Arc::new(AtomicI64::new(START)))
    }

    fn clock(&self) -> Clock {
        let now = self.0.clone();
        Arc::new(move || now.load(Ordering::SeqCst))
    }

    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).expect("a short time");
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// A database on the run's backend, with its own pool per [`Fixture::instance`].
struct Database {
    fresh: testdb::TestDb,
    _dir: tempfile::TempDir,
}

impl Database {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let fresh = testdb::TestDb::create(dir.path(), "throttle");
        Db::open(&fresh.config(), &[]).expect("migrate the database");
        Database { fresh, _dir: dir }
    }

    /// A pool of its own, as another process would have.
    fn pool(&self) -> Db {
        Db::open(&self.fresh.config(), &[]).expect("open the database")
    }
}

struct Fixture {
    t: LoginThrottle,
    clock: TestClock,
    database: Option<Database>,
}

impl Fixture {
    fn new(store: ThrottleStore, policy: Policy) -> Self {
        let clock = TestClock::new();
        let (t, database) = match store {
            ThrottleStore::Memory => (LoginThrottle::in_memory(policy), None),
            ThrottleStore::Database => {
                let database = Database::new();
                (
                    LoginThrottle::in_database(policy, database.pool()),
                    Some(database),
                )
            }
        };
        Fixture {
            t: t.with_clock(clock.clock()),
            clock,
            database,
        }
    }

    /// The same store (and database) under another policy.
    fn with_policy(self, policy: Policy) -> Self {
        let t = match &self.database {
            Some(database) => LoginThrottle::in_database(policy, database.pool()),
            None => LoginThrottle::in_memory(policy),
        };
        Fixture {
            t: t.with_clock(self.clock.clock()),
            ..self
        }
    }

    /// An attempt that must be admitted, settled as a failure.
    async fn fail(&self, username: &str, address: Option<IpAddr>) {
        let attempt = self.t.admit(username, address).await.expect("admitted");
        self.t.failed(attempt);
    }

    /// A failure as soon as the key's lock ends, the clock moved to then.
    async fn fail_when_free(&self, username: &str, address: Option<IpAddr>) {
        loop {
            match self.t.admit(username, address).await {
                Ok(attempt) => return self.t.failed(attempt),
                Err(Refused::Locked(wait)) => self.clock.advance(wait),
                Err(e) => panic!("{e}"),
            }
        }
    }

    async fn locked(&self, username: &str, address: Option<IpAddr>) -> Duration {
        match self.t.admit(username, address).await {
            Err(Refused::Locked(wait)) => wait,
            Ok(_) => panic!("{username} from {address:?} was admitted"),
            Err(e) => panic!("{e}"),
        }
    }

    async fn admitted(&self, username: &str, address: Option<IpAddr>) -> Attempt {
        match self.t.admit(username, address).await {
            Ok(attempt) => attempt,
            Err(e) => panic!("{username} from {address:?}: {e:?}"),
        }
    }

    async fn succeed(&self, attempt: Attempt) {
        self.t.succeeded(attempt).await.expect("settled");
    }
}

/// `async fn name(f: Fixture) { … }` as two tests, `name::memory` and `name::database`, each
/// with a fresh throttle of two free failures.
macro_rules! on_both_stores {
    ($(#[doc = $doc:literal])* async fn $name:ident($f:ident: Fixture) $body:block) => {
        mod $name {
            use super::*;

            $(#[doc = $doc])*
            async fn case($f: Fixture) $body

            #[actix_rt::test]
            async fn memory() {
                case(Fixture::new(ThrottleStore::Memory, policy(2))).await;
            }

            #[actix_rt::test]
            async fn database() {
                case(Fixture::new(ThrottleStore::Database, policy(2))).await;
            }
        }
    };
}

on_both_stores! {
    async fn simultaneous_attempts_are_admitted_up_to_the_free_allowance_only(f: Fixture) {
        let results = join_all((0..30).map(|_| f.t.admit("alice", A))).await;
        let admitted = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(admitted, 2, "none settled yet: two reach the hasher");
        assert!(results.iter().all(|r| match r {
            Ok(_) => true,
            Err(Refused::Locked(wait)) =>
                *wait > Duration::ZERO && *wait <= Duration::from_secs(1),
            Err(_) => false,
        }));
    }
}

on_both_stores! {
    async fn a_pair_is_locked_once_its_free_failures_are_used_and_the_lock_grows(f: Fixture) {
        f.fail("alice", A).await;
        f.fail("alice", A).await;
        let first = f.locked("alice", A).await;
        f.clock.advance(first);
        f.fail("alice", A).await;
        let second = f.locked("alice", A).await;
        assert!(second > first);
    }
}

on_both_stores! {
    async fn failures_from_one_address_never_lock_a_user_for_long_elsewhere(f: Fixture) {
        for _ in 0..40 {
            f.fail_when_free("alice", A).await;
        }
        let elsewhere = f.locked("alice", B).await;
        assert!(elsewhere <= USERNAME_LOCKOUT_CAP, "the username is slowed down");
        assert!(f.locked("alice", A).await > USERNAME_LOCKOUT_CAP);
    }
}

on_both_stores! {
    async fn a_success_clears_the_pair_and_the_username_and_returns_the_reservation(f: Fixture) {
        f.fail("alice", A).await;
        let attempt = f.admitted("alice", A).await;
        f.locked("alice", A).await; // while in flight
        f.succeed(attempt).await;
        let again = f.admitted("alice", A).await;
        f.t.failed(again);
        let address = f.t.entry(&Key::Address(IpAddr::from([10, 0, 0, 1]))).expect("counted");
        assert_eq!(address.failures, 2, "the success was not counted");
    }
}

on_both_stores! {
    /// Failures spread over addresses lock the username alone; the user's own success,
    /// from yet another address, clears that lock and count.
    async fn a_success_clears_the_username_locked_by_failures_from_elsewhere(f: Fixture) {
        let at = |last: u8| Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, last)));
        for last in 1..=3 {
            f.fail("alice", at(last)).await;
        }
        // The fourth attempt reaches the username's allowance (2 × 2) and locks it.
        let attempt = f.admitted("alice", A).await;
        f.locked("alice", at(4)).await; // from every address
        f.succeed(attempt).await;
        for last in 5..=7 {
            f.fail("alice", at(last)).await;
        }
        // The success cleared the username's count and lock.
        f.fail("alice", at(8)).await;
    }
}

on_both_stores! {
    async fn an_ipv6_client_rotating_within_its_64_shares_one_allowance(f: Fixture) {
        for i in 0..10u16 {
            let ip = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i);
            f.fail_when_free("alice", Some(IpAddr::V6(ip))).await;
        }
        let same_64 = Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 10)));
        f.locked("bob", same_64).await; // the /64 is locked as one address
        let next_64 = Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1)));
        f.fail("bob", next_64).await; // another /64 is another client
        let mapped = Some(IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()));
        f.fail("carol", mapped).await;
        f.fail("carol", mapped).await;
        f.locked("carol", A).await; // IPv4-mapped is IPv4
        f.fail("carol", B).await; // IPv4 stays per address
    }
}

on_both_stores! {
    async fn logins_in_flight_at_once_from_one_address_do_not_leave_it_locked(f: Fixture) {
        let mut attempts = Vec::new();
        for i in 0..8 {
            attempts.push(f.admitted(&format!("user{i}"), A).await);
        }
        f.locked("user9", A).await; // eight in flight fill the address
        for attempt in attempts {
            f.succeed(attempt).await;
        }
        let next = f.admitted("user9", A).await; // the address is free again
        f.succeed(next).await;
    }
}

on_both_stores! {
    async fn zero_free_failures_switches_it_off(f: Fixture) {
        let f = f.with_policy(policy(0));
        for _ in 0..100 {
            f.fail("alice", A).await;
        }
        f.fail("alice", A).await;
    }
}

/// Three throttles with pools of their own on one database, as three instances behind a load
/// balancer would be: concurrent wrong guesses spread over them are admitted no more than the
/// allowance in total, and a success through one clears the pair for all.
#[actix_rt::test]
async fn instances_sharing_a_database_share_one_allowance() {
    const FREE: usize = 3;
    let database = Database::new();
    let clock = TestClock::new();
    let instances: Vec<LoginThrottle> = (0..3)
        .map(|_| {
            LoginThrottle::in_database(policy(FREE as u32), database.pool())
                .with_clock(clock.clock())
        })
        .collect();
    let results = join_all((0..30).map(|i| instances[i % 3].admit("alice", A))).await;
    let mut admitted = Vec::new();
    for result in results {
        match result {
            Ok(attempt) => admitted.push(attempt),
            Err(Refused::Locked(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(admitted.len(), FREE, "not {FREE} per instance");
    for (i, instance) in instances.iter().enumerate() {
        assert!(
            matches!(instance.admit("alice", A).await, Err(Refused::Locked(_))),
            "locked at instance {i}"
        );
    }

    // One guess was right, settled through the second instance.
    let right = admitted.pop().expect("an attempt");
    instances[1].succeeded(right).await.expect("settled");
    for wrong in admitted {
        instances[0].failed(wrong);
    }
    // The pair starts afresh everywhere: FREE more failures, through any instance, then locked.
    for i in 0..FREE {
        let attempt = instances[(i + 2) % 3]
            .admit("alice", A)
            .await
            .expect("the pair was cleared for every instance");
        instances[0].failed(attempt);
    }
    assert!(matches!(
        instances[1].admit("alice", A).await,
        Err(Refused::Locked(_))
    ));
}

/// A refused attempt writes nothing (its insert of missing rows is rolled back), and the
/// prune deletes the rows the window has forgotten but keeps every lock.
#[actix_rt::test]
async fn refusals_write_nothing_and_the_prune_forgets_quiet_rows_but_keeps_locks() {
    let f = Fixture::new(ThrottleStore::Database, policy(2));
    let db = f.database.as_ref().expect("a database").pool();
    let rows = || -> i64 {
        login_throttle::table
            .count()
            .get_result(&mut db.get().expect("a connection"))
            .expect("count the rows")
    };
    // Four addresses lock alice's username: 1 username + 4 pairs + 4 addresses.
    let at = |last: u8| Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, last)));
    for last in 1..=4 {
        f.fail("alice", at(last)).await;
    }
    assert_eq!(rows(), 9);
    f.locked("alice", at(5)).await;
    assert_eq!(
        rows(),
        9,
        "the refused attempt's new pair and address are not kept"
    );

    // Ten failures of bob's from B: his pair locked 256 s, his username 60 s, B 4 s.
    for _ in 0..10 {
        f.fail_when_free("bob", B).await;
    }
    assert_eq!(rows(), 12);
    let now = f.clock.now() + 20_000;
    let removed = clear_stale(
        &mut db.get().expect("a connection"),
        now,
        Duration::from_secs(10),
    )
    .expect("clear the stale rows");
    assert_eq!(removed, 10, "alice's rows and the address B");
    let ip = IpAddr::from([10, 0, 0, 2]);
    assert!(f.t.entry(&Key::Pair("bob".to_owned(), ip)).is_some());
    assert!(f.t.entry(&Key::Username("bob".to_owned())).is_some());

    // The periodic prune does the same, with the real clock and window: long after these
    // locks ended, nothing is left.
    crate::storage::maintenance::prune(&db)
        .await
        .expect("prune");
    assert_eq!(rows(), 0);
}

#[actix_rt::test]
async fn the_store_is_memory_on_sqlite_and_the_database_on_postgresql_unless_chosen() {
    let database = Database::new();
    let db = database.pool();
    let default = LoginThrottle::new(policy(2), None, &db).store();
    if database.fresh.is_postgres() {
        assert_eq!(default, ThrottleStore::Database);
    } else {
        assert_eq!(default, ThrottleStore::Memory);
    }
    for chosen in [ThrottleStore::Memory, ThrottleStore::Database] {
        assert_eq!(
            LoginThrottle::new(policy(2), Some(chosen), &db).store(),
            chosen
        );
    }
}

/// Admissions and successes over overlapping keys (shared usernames and addresses), at once
/// through three instances, with prunes deleting every row no one holds meanwhile: every one
/// is answered, none is aborted as a deadlock.
#[actix_rt::test]
async fn concurrent_admissions_and_successes_over_shared_keys_never_deadlock() {
    let database = Database::new();
    let clock = TestClock::new();
    let instances: Vec<LoginThrottle> = (0..3)
        .map(|_| {
            LoginThrottle::in_database(policy(1000), database.pool()).with_clock(clock.clock())
        })
        .collect();
    let login = |i: usize| {
        let t = &instances[i % 3];
        let username = format!("user{}", i % 4);
        let address = Some(IpAddr::from([
            10,
            0,
            0,
            u8::try_from(i % 3).expect("small"),
        ]));
        async move {
            let attempt = t.admit(&username, address).await?;
            if i.is_multiple_of(2) {
                t.succeeded(attempt).await?;
            } else {
                t.failed(attempt);
            }
            Ok::<_, Refused>(())
        }
    };
    // Far ahead, every row not locked is stale.
    let pruner = database.pool();
    let prune = |_| {
        pruner.exclusive(|conn| {
            clear_stale(conn, i64::MAX / 2, Duration::from_secs(1)).map_err(StorageError::from)
        })
    };
    let (logins, prunes) =
        futures_util::future::join(join_all((0..120).map(login)), join_all((0..10).map(prune)))
            .await;
    for result in logins {
        result.expect("answered");
    }
    for result in prunes {
        result.expect("pruned");
    }
}
