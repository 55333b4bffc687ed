//! Two first logins of one identity that really overlap, at the storage level, on the run's
//! backend: both read "no link" before either writes. On PostgreSQL, whose writers run
//! concurrently, the loser's insert meets the winner's row as a unique violation, rolls
//! back and runs once more (the exchange's `retry_lost_race`); on SQLite the immediate
//! transactions queue, so the second reads the first's link and nothing is retried. Either
//! way: one user, one link.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use my_api::exchange::accounts::user_for_profile;
use my_api::schema::social_links;
use my_api::social::SocialProfile;
use shared::storage::db::{is_unique_violation, retry_lost_race};
use shared::storage::schema::users;
use test_support::testdb::TestDb;

#[derive(QueryableByName)]
struct Waiting {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

#[test]
fn two_overlapping_first_logins_make_one_user_and_one_link_and_count_the_retry() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let db = Arc::new(TestDb::create(dir.path(), "race"));
    shared::storage::db::migrate(db.url(), &[my_api::MIGRATIONS]).expect("migrate");
    let profile = SocialProfile {
        uid: "4242".to_owned(),
        username: "sam".to_owned(),
        first_name: "Sam".to_owned(),
        last_name: "Social".to_owned(),
        email: "sam@social.example".to_owned(),
    };

    // On PostgreSQL, a third connection lets both logins read but holds their first insert
    // (SHARE conflicts with an insert's ROW EXCLUSIVE, not with reads) until both wait on it.
    let mut holder = db.is_postgres().then(|| {
        let mut conn = db.connect();
        conn.batch_execute("BEGIN; LOCK TABLE users IN SHARE MODE")
            .expect("hold back inserts into users");
        conn
    });
    let logins: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            let profile = profile.clone();
            std::thread::spawn(move || {
                let mut conn = db.connect();
                let attempt = || {
                    conn.write_transaction(|c| user_for_profile(c, "fake-social-site", &profile))
                };
                retry_lost_race(attempt, is_unique_violation)
            })
        })
        .collect();
    if let Some(conn) = holder.as_mut() {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let waiting = diesel::sql_query(
                "SELECT count(*) AS count FROM pg_locks \
                 WHERE NOT granted AND relation = 'users'::regclass",
            )
            .get_result::<Waiting>(conn)
            .expect("read the lock table")
            .count;
            if waiting == 2 {
                break;
            }
            assert!(Instant::now() < deadline, "the logins never met the lock");
            std::thread::sleep(Duration::from_millis(10));
        }
        conn.batch_execute("COMMIT").expect("let the inserts go");
    }

    let results: Vec<_> = logins
        .into_iter()
        .map(|t| t.join().expect("a login thread"))
        .collect();
    let ids: Vec<i64> = results
        .iter()
        .map(|(user, _)| user.as_ref().expect("each login succeeds").id)
        .collect();
    assert_eq!(ids[0], ids[1], "both logins are one user");
    let retried = results.iter().filter(|(_, retried)| *retried).count();
    let expected = usize::from(db.is_postgres());
    assert_eq!(retried, expected, "retries on {:?}", db.url());

    let mut conn = db.connect();
    let users: i64 = users::table
        .count()
        .get_result(&mut conn)
        .expect("count users");
    let links: Vec<i64> = social_links::table
        .select(social_links::user_id)
        .load(&mut conn)
        .expect("read the links");
    assert_eq!(users, 1);
    assert_eq!(links, [ids[0]]);
}
