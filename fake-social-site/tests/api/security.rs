//! Brute-force throttling of the password grant (RFC 6749 §4.3.2) and switching the grant off.

use std::net::{IpAddr, Ipv4Addr};

use diesel::connection::SimpleConnection;
use futures_util::future::join_all;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use shared::security::password::PasswordHasher;
use shared::security::secret::Secret;
use shared::storage::throttle::ThrottleStore;

use crate::helpers::{
    MY_API_APP, assert_oauth2_error, header, json_body, password_form, spawn_app, spawn_app_with,
};
use crate::oidc_flow::{Browser, html};

#[actix_rt::test]
async fn failed_logins_are_throttled_with_429_and_retry_after() {
    let app = spawn_app().await;
    app.create_user("alice", "right");
    for _ in 0..5 {
        assert_oauth2_error(
            app.password_grant("alice", "wrong").await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
    }
    let locked = app.password_grant("alice", "right").await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = header(&locked, RETRY_AFTER)
        .parse()
        .expect("Retry-After is seconds");
    assert!((1..=900).contains(&wait), "Retry-After {wait}");
    assert_oauth2_error(
        locked,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    )
    .await;
}

/// The default free allowance per (username, address).
const FREE_FAILURES: usize = 5;

/// Counts the answers by status; every 429 must carry `Retry-After`.
fn tally(responses: &[reqwest::Response]) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for response in responses {
        match response.status() {
            StatusCode::OK => counts.0 += 1,
            StatusCode::BAD_REQUEST => counts.1 += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                header(response, RETRY_AFTER);
                counts.2 += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    counts
}

#[actix_rt::test]
async fn parallel_wrong_guesses_reach_the_hasher_no_more_than_the_free_allowance() {
    let app = spawn_app().await;
    app.create_user("alice", "right");
    let passwords: Vec<_> = (0..30).map(|i| format!("wrong{i}")).collect();
    let responses = join_all(
        passwords
            .iter()
            .map(|password| app.password_grant("alice", password)),
    )
    .await;
    let (ok, refused, throttled) = tally(&responses);
    eprintln!("30 concurrent wrong guesses: {refused} x 400, {throttled} x 429");
    assert_eq!(ok, 0);
    assert_eq!(refused, FREE_FAILURES, "guesses that were checked");
    assert_eq!(throttled, 30 - FREE_FAILURES);
}

#[actix_rt::test]
async fn a_burst_with_the_right_password_fails_once_the_allowance_is_spent() {
    let app = spawn_app().await;
    // A hash slow enough (~50 ms) for the burst to be in flight at once, as at cost 12.
    let hash = PasswordHasher::new(10, 1)
        .hash_blocking(&Secret::from("right"))
        .expect("hash the password");
    app.create_user_with_hash("alice", &hash);
    for _ in 0..FREE_FAILURES {
        app.password_grant("alice", "wrong").await;
    }
    let mut burst: Vec<_> = (0..40).map(|i| format!("wrong{i}")).collect();
    burst.push("right".to_owned());
    let responses = join_all(
        burst
            .iter()
            .map(|password| app.password_grant("alice", password)),
    )
    .await;
    let (ok, refused, throttled) = tally(&responses);
    eprintln!(
        "a burst of 40 wrong + the right one: {ok} x 200, {refused} x 400, {throttled} x 429"
    );
    assert_eq!(
        responses.last().map(reqwest::Response::status),
        Some(StatusCode::TOO_MANY_REQUESTS),
        "the right password arrives after the allowance is spent"
    );
    assert_eq!(ok, 0);
}

#[actix_rt::test]
async fn throttling_one_address_does_not_lock_the_user_out_from_another() {
    let app = spawn_app().await;
    app.create_user("alice", "right");
    for _ in 0..6 {
        app.password_grant("alice", "wrong").await;
    }
    assert_eq!(
        app.password_grant("alice", "right").await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the attacking address is locked"
    );
    // The same user from another loopback address is not.
    let elsewhere = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .expect("a client on 127.0.0.2");
    let response = elsewhere
        .post(app.url("/o/token/"))
        .form(&password_form(MY_API_APP, "alice", "right"))
        .send()
        .await
        .expect("POST /o/token/ from 127.0.0.2");
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_rt::test]
async fn the_password_grant_can_be_switched_off_and_the_metadata_says_so() {
    let app = spawn_app_with(|s| s.password_grant_enabled = false).await;
    assert_oauth2_error(
        app.password_grant("admin", "admin").await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
    let metadata = json_body(app.metadata().await, StatusCode::OK).await;
    assert_eq!(
        metadata["grant_types_supported"],
        serde_json::json!(["refresh_token", "authorization_code"])
    );
}

/// The throttle's counts kept in the database (the default on PostgreSQL), and that table
/// gone: a login can be neither counted nor admitted, so the token endpoint answers a JSON
/// 503 the client may retry and the login form an HTML 503 page; never a 500, never a guess
/// let through uncounted.
#[actix_rt::test]
async fn a_fault_in_the_throttles_table_is_a_503_in_json_and_on_the_login_page() {
    let app = spawn_app_with(|s| s.login_throttle_store = Some(ThrottleStore::Database)).await;
    app.create_user("alice", "right");
    assert_eq!(
        app.password_grant("alice", "right").await.status(),
        StatusCode::OK,
        "counted in the table"
    );
    app.db()
        .batch_execute("DROP TABLE login_throttle")
        .expect("drop the throttle's table");

    let response = app.password_grant("alice", "right").await;
    assert_eq!(header(&response, RETRY_AFTER), "1");
    assert_oauth2_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;

    let browser = Browser::new(&app);
    let login = html(browser.authorize(&[]).await, StatusCode::OK).await;
    let page = html(
        browser.submit_login(&login, "alice", "right").await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(page.contains("temporarily"), "{page}");
}
