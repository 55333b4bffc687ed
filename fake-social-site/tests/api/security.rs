//! Brute-force throttling of the password grant (RFC 6749 §4.3.2) and switching the grant off.

use std::net::{IpAddr, Ipv4Addr};

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use crate::helpers::{
    MY_API_APP, assert_oauth2_error, header, json_body, spawn_app, spawn_app_with,
};

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
    let throttled = app.password_grant("alice", "wrong").await;
    assert_eq!(
        throttled.status(),
        StatusCode::BAD_REQUEST,
        "the sixth failure is still checked"
    );
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
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "right"),
            ("client_id", MY_API_APP),
        ])
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
        serde_json::json!(["refresh_token"])
    );
}
