//! The profile endpoints, starting with the blog post's curl session.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, PRAGMA};
use serde_json::json;

use crate::helpers::{
    assert_json, header, json_body, spawn_app, spawn_app_with, spawn_app_with_alice,
    www_authenticate,
};

#[actix_rt::test]
async fn the_seed_curl_session_gets_the_answers_the_blog_post_shows() {
    let app = spawn_app().await;

    // $ curl --data "username=admin&password=admin&client_id=...&grant_type=password" /o/token/
    let response = app
        .post_token(&[
            ("username", "admin"),
            ("password", "admin"),
            ("client_id", "ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d"),
            ("grant_type", "password"),
        ])
        .await;
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    assert_eq!(header(&response, PRAGMA), "no-cache");
    let body = json_body(response, StatusCode::OK).await;
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 36000);
    assert_eq!(body["scope"], "read write");
    let token = body["access_token"].as_str().expect("an access token");
    let refresh = body["refresh_token"].as_str().expect("a refresh token");
    assert!(!token.is_empty() && !refresh.is_empty() && token != refresh);

    // $ curl --head /user_details/   (and the same as a GET)
    for response in [
        app.head("/user_details/", None).await,
        app.get("/user_details/").await,
    ] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(www_authenticate(&response), r#"Bearer realm="api""#);
        assert_json(&response);
    }

    // $ curl --header "Authorization: Bearer ..." /user_details/
    let admin = json!({
        "id": 1,
        "username": "admin",
        "first_name": "Agustin",
        "last_name": "Barto",
        "email": "abarto@rest_oauth_social_test.com"
    });
    let body = json_body(app.user_details(token).await, StatusCode::OK).await;
    assert_eq!(body, admin);

    // $ curl --header "Authorization: Bearer ..." /user_details_by_username/admin/
    let response = app.user_details_by_username(token, "admin").await;
    assert_eq!(json_body(response, StatusCode::OK).await, admin);

    // $ curl --head --header "Authorization: Bearer ..." /user_details_by_username/foobar/
    let response = app
        .head("/user_details_by_username/foobar/", Some(token))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app.user_details_by_username(token, "foobar").await;
    json_body(response, StatusCode::NOT_FOUND).await;

    // Another user who exists is just as unknown: no user enumeration.
    let response = app.user_details_by_username(token, "user1").await;
    json_body(response, StatusCode::NOT_FOUND).await;
}

#[actix_rt::test]
async fn user_details_shows_the_token_owner_and_nobody_else() {
    let app = spawn_app().await;
    let alice = app.create_user("alice", "alice-pw");
    app.create_user("bob", "bob-pw");
    let alice_token = app.login("alice", "alice-pw").await.access_token;
    let bob_token = app.login("bob", "bob-pw").await.access_token;

    let body = json_body(app.user_details(&alice_token).await, StatusCode::OK).await;
    assert_eq!(
        body,
        json!({
            "id": alice.id,
            "username": "alice",
            "first_name": "Test",
            "last_name": "alice",
            "email": "alice@example.com"
        })
    );
    let response = app.user_details_by_username(&bob_token, "alice").await;
    json_body(response, StatusCode::NOT_FOUND).await;
    let response = app.user_details_by_username(&bob_token, "bob").await;
    assert_eq!(json_body(response, StatusCode::OK).await["username"], "bob");
}

#[actix_rt::test]
async fn an_invalid_token_is_refused_with_error_invalid_token() {
    let app = spawn_app().await;
    // Signed by another instance, with another key: well formed, but not ours.
    let other = spawn_app().await;
    other.create_user("alice", "pw");
    let foreign = other.login("alice", "pw").await.access_token;

    for token in ["not-a-token", "a.b.c", foreign.as_str()] {
        for response in [
            app.user_details(token).await,
            app.user_details_by_username(token, "alice").await,
        ] {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
            let challenge = www_authenticate(&response);
            assert!(
                challenge.starts_with(r#"Bearer realm="api""#),
                "{challenge}"
            );
            assert!(
                challenge.contains(r#"error="invalid_token""#),
                "{challenge}"
            );
            assert!(json_body(response, StatusCode::UNAUTHORIZED).await["detail"].is_string());
        }
    }
}

#[actix_rt::test]
async fn an_expired_access_token_is_refused_with_error_invalid_token() {
    // The expiry is moved in the database, behind the service's back: with the in-memory
    // token cache on, that is seen only after TOKEN_CACHE_SECONDS. This test is about the
    // database check, so the cache is off.
    let app = spawn_app_with(|s| s.token_cache_seconds = 0).await;
    app.create_user("alice", "pw");
    let token = app.login("alice", "pw").await.access_token;
    assert_eq!(app.user_details(&token).await.status(), StatusCode::OK);

    app.expire_all_tokens();

    let response = app.user_details(&token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&response).contains(r#"error="invalid_token""#));
}

#[actix_rt::test]
async fn a_token_without_the_read_scope_cannot_read_profiles() {
    let app = spawn_app_with_alice().await;
    let response = app.password_grant_with_scope("alice", "pw", "write").await;
    let body = json_body(response, StatusCode::OK).await;
    assert_eq!(body["scope"], "write");
    let token = body["access_token"].as_str().expect("an access token");

    let response = app.user_details(token).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(www_authenticate(&response).contains(r#"error="insufficient_scope""#));
}

#[actix_rt::test]
async fn a_token_in_the_query_string_or_a_malformed_header_is_a_json_400() {
    let app = spawn_app().await;
    let response = app.get("/user_details/?access_token=abc").await;
    json_body(response, StatusCode::BAD_REQUEST).await;

    let response = app
        .http
        .get(app.url("/user_details/"))
        .header("Authorization", "Bearer two words")
        .send()
        .await
        .expect("GET /user_details/");
    json_body(response, StatusCode::BAD_REQUEST).await;

    // Another scheme is no attempt at Bearer: the plain challenge.
    let response = app
        .http
        .get(app.url("/user_details/"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("GET /user_details/");
    assert_eq!(www_authenticate(&response), r#"Bearer realm="api""#);
    json_body(response, StatusCode::UNAUTHORIZED).await;
}

#[actix_rt::test]
async fn a_change_made_behind_the_services_back_is_seen_within_the_token_cache_time() {
    let app = spawn_app_with(|s| s.token_cache_seconds = 1).await;
    app.create_user("alice", "pw");
    let token = app.login("alice", "pw").await.access_token;
    assert_eq!(app.user_details(&token).await.status(), StatusCode::OK);

    // An operator deactivates the account directly in the database.
    app.set_active("alice", false);
    actix_rt::time::sleep(std::time::Duration::from_millis(1_100)).await;

    app.assert_access(&token, StatusCode::UNAUTHORIZED).await;
}
