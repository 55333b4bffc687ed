//! First exchanges racing each other: one person is one user, however many requests arrive
//! at once, and through whichever front door.

use std::time::{Duration, Instant};

use base64::Engine;
use diesel::connection::SimpleConnection;
use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::fake_provider::{Behaviour, FakeProvider, good_profile};
use crate::helpers::*;

/// The `sub` claim of a My API access token: the local user it speaks for.
fn subject(access_token: &str) -> String {
    let payload = access_token.split('.').nth(1).expect("a JWT");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("a base64url payload");
    let claims: serde_json::Value = serde_json::from_slice(&json).expect("JSON claims");
    string(&claims, "sub")
}

#[actix_rt::test]
async fn fifty_concurrent_first_exchanges_of_one_person_make_one_user() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let (users, links) = app.accounts();

    let doors = (0..50).map(|i| Door::ALL[i % Door::ALL.len()]);
    let answers = join_all(doors.map(|door| app.exchange(door, FSS, &fss_token, None))).await;
    let mut tokens = Vec::new();
    for response in answers {
        let body = assert_token_answer(response).await;
        tokens.push(string(&body, "access_token"));
    }

    assert_eq!(app.accounts(), (users + 1, links + 1));
    let linked = app.linked_users(FSS, 1);
    assert_eq!(linked.len(), 1);
    // Every answer was issued for that one user.
    for token in &tokens {
        assert_eq!(subject(token), linked[0].to_string());
    }
    // Each exchange replaces the user's earlier tokens, so exactly one of them still works,
    // and it belongs to the linked user.
    let mut working = Vec::new();
    for token in &tokens {
        let response = app.get_api("/api/users/", Some(token)).await;
        if response.status() == StatusCode::OK {
            working.push(token);
        } else {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(working.len(), 1);
    let me = app.me(working[0]).await;
    assert_eq!(me["id"], linked[0]);
    assert_eq!(me["username"], "admin2");
}

#[actix_rt::test]
async fn concurrent_first_exchanges_of_different_people_make_one_user_each() {
    let app = spawn_app().await;
    let people: Vec<String> = (1..=10).map(|i| format!("person{i}")).collect();
    let mut fss_ids = Vec::new();
    for name in &people {
        fss_ids.push(app.create_fss_user(name, "secret-password").id);
    }
    let fss_tokens = join_all(
        people
            .iter()
            .map(|name| app.fss_token(name, "secret-password")),
    )
    .await;
    let (users, links) = app.accounts();

    let answers = join_all(
        fss_tokens
            .iter()
            .map(|token| app.register_by_token(FSS, token, None)),
    )
    .await;
    let mut local_ids = Vec::new();
    for ((response, name), fss_id) in answers.into_iter().zip(&people).zip(&fss_ids) {
        let body = assert_token_answer(response).await;
        let me = app.me(&string(&body, "access_token")).await;
        assert_eq!(me["username"], name.as_str());
        let id = me["id"].as_i64().expect("an id");
        assert_eq!(app.linked_users(FSS, *fss_id), [id], "{name}");
        local_ids.push(id);
    }
    local_ids.sort_unstable();
    local_ids.dedup();
    assert_eq!(local_ids.len(), people.len());
    assert_eq!(app.accounts(), (users + 10, links + 10));
}

/// SQLite's write lock, so on SQLite. The exchange's writes are one IMMEDIATE transaction: it queues for the write lock (up to
/// the pool's busy timeout) from its first statement. A deferred transaction would read
/// first, then fail at once with "database is locked" on upgrading to a write while another
/// connection holds the lock: SQLite does not wait for a lock when upgrading, as waiting
/// could deadlock.
///
/// The lock is taken before the exchange starts and released only once the provider has
/// answered it and the exchange is still unanswered well after, so the exchange reaches its
/// transaction while the lock is held, however slow the machine.
#[actix_rt::test]
async fn an_exchange_waits_for_a_write_lock_held_elsewhere_instead_of_failing_busy() {
    let provider = FakeProvider::start(Behaviour::Json(good_profile()));
    let app = spawn_sqlite_app_with_provider(&provider.url).await;
    // One exchange first, so the second is a returning user's: reads before it writes.
    let response = app.register_by_token(FSS, "provider-token", None).await;
    assert_token_answer(response).await;
    let asked = provider.seen().len();
    let accounts = app.accounts();

    let mut conn = app.db();
    conn.batch_execute("BEGIN IMMEDIATE; UPDATE items SET name = name;")
        .expect("take the write lock");
    let app = std::sync::Arc::new(app);
    let exchange = {
        let app = app.clone();
        actix_rt::spawn(async move { app.register_by_token(FSS, "provider-token", None).await })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while provider.seen().len() == asked {
        assert!(
            Instant::now() < deadline,
            "the exchange never reached the provider"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    // The provider has answered; the exchange's next step is its transaction.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !exchange.is_finished(),
        "the exchange answered while another connection held the write lock"
    );
    conn.batch_execute("COMMIT").expect("release the lock");

    let response = exchange.await.expect("the exchange task");
    let body = assert_token_answer(response).await;
    let me = app.me(&string(&body, "access_token")).await;
    assert_eq!(me["username"], "sam");
    assert_eq!(
        app.accounts(),
        accounts,
        "the returning user was not created again"
    );
}
