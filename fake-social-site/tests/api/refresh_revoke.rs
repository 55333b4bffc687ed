//! Refresh token rotation and reuse detection, revocation (RFC 7009) and introspection
//! (RFC 7662).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    MY_API_APP, TestApp, Tokens, assert_oauth2_error, json_body, spawn_app, spawn_app_with_alice,
};

/// Alice logged in, and the client `resource-server` (secret `rs-secret`) that may introspect.
async fn alice_and_a_resource_server() -> (TestApp, Tokens) {
    let app = spawn_app_with_alice().await;
    app.create_introspection_client("resource-server", "rs-secret");
    let tokens = app.login("alice", "pw").await;
    (app, tokens)
}

/// What `resource-server` learns of `token`.
async fn introspected(app: &TestApp, token: &str) -> Value {
    let response = app
        .introspect("resource-server", Some("rs-secret"), token)
        .await;
    json_body(response, StatusCode::OK).await
}

#[actix_rt::test]
async fn a_refreshed_access_token_works_and_the_old_one_stops_working() {
    let app = spawn_app_with_alice().await;
    let old = app.login("alice", "pw").await;

    let body = json_body(app.refresh(&old.refresh_token).await, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read write");
    let new_access = body["access_token"].as_str().expect("an access token");
    let new_refresh = body["refresh_token"].as_str().expect("a refresh token");
    assert_ne!(new_access, old.access_token);
    assert_ne!(new_refresh, old.refresh_token);

    let profile = json_body(app.user_details(new_access).await, StatusCode::OK).await;
    assert_eq!(profile["username"], "alice");
    app.assert_access(&old.access_token, StatusCode::UNAUTHORIZED)
        .await;
}

#[actix_rt::test]
async fn a_used_refresh_token_is_refused_and_its_reuse_revokes_the_whole_family() {
    let app = spawn_app_with_alice().await;
    let first = app.login("alice", "pw").await;
    let second: serde_json::Value =
        json_body(app.refresh(&first.refresh_token).await, StatusCode::OK).await;
    let second_access = second["access_token"].as_str().expect("an access token");
    let second_refresh = second["refresh_token"].as_str().expect("a refresh token");
    // An unrelated grant of the same user must survive.
    let unrelated = app.login("alice", "pw").await;

    let response = app.refresh(&first.refresh_token).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;

    app.assert_access(second_access, StatusCode::UNAUTHORIZED)
        .await;
    let response = app.refresh(second_refresh).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    app.assert_access(&unrelated.access_token, StatusCode::OK)
        .await;
}

#[actix_rt::test]
async fn a_refresh_token_works_only_for_the_client_it_was_issued_to() {
    let app = spawn_app_with_alice().await;
    let tokens = app.login("alice", "pw").await;
    let response = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh_token),
            // The demo's other public client.
            ("client_id", "aNARymvEsn21XPdpR9wJ8tPcUyto7rCu1ywo6H1T"),
        ])
        .await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    json_body(app.refresh(&tokens.refresh_token).await, StatusCode::OK).await;
}

#[actix_rt::test]
async fn a_revoked_access_token_is_refused_at_once() {
    let app = spawn_app_with_alice().await;
    let tokens = app.login("alice", "pw").await;
    app.assert_access(&tokens.access_token, StatusCode::OK)
        .await;

    let response = app.revoke(&tokens.access_token).await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app.user_details(&tokens.access_token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The refresh token issued with it goes too.
    let response = app.refresh(&tokens.refresh_token).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_rt::test]
async fn revoking_a_refresh_token_also_revokes_its_access_token() {
    let app = spawn_app_with_alice().await;
    let tokens = app.login("alice", "pw").await;

    assert_eq!(
        app.revoke(&tokens.refresh_token).await.status(),
        StatusCode::OK
    );

    app.assert_access(&tokens.access_token, StatusCode::UNAUTHORIZED)
        .await;
    let response = app.refresh(&tokens.refresh_token).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_rt::test]
async fn revoking_an_unknown_token_answers_200() {
    let app = spawn_app().await;
    assert_eq!(app.revoke("no-such-token").await.status(), StatusCode::OK);
    assert_eq!(app.revoke("a.b.c").await.status(), StatusCode::OK);
}

#[actix_rt::test]
async fn another_client_cannot_revoke_a_token() {
    let app = spawn_app_with_alice().await;
    let tokens = app.login("alice", "pw").await;
    let response = app
        .http
        .post(app.url("/o/revoke_token/"))
        .form(&[
            ("token", tokens.access_token.as_str()),
            ("client_id", "aNARymvEsn21XPdpR9wJ8tPcUyto7rCu1ywo6H1T"),
        ])
        .send()
        .await
        .expect("POST /o/revoke_token/");
    // RFC 7009 §2.1: the token was not issued to the client asking.
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    app.assert_access(&tokens.access_token, StatusCode::OK)
        .await;
}

#[actix_rt::test]
async fn introspection_requires_a_confidential_client() {
    let (app, tokens) = alice_and_a_resource_server().await;

    let response = app.introspect(MY_API_APP, None, &tokens.access_token).await;
    assert_oauth2_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let response = app
        .introspect("resource-server", Some("wrong"), &tokens.access_token)
        .await;
    assert_oauth2_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[actix_rt::test]
async fn introspection_is_refused_with_403_to_a_confidential_client_not_allowed_to_introspect() {
    let app = spawn_app_with_alice().await;
    // A confidential client of the password grant: it authenticates, but may not introspect.
    app.create_confidential_client("password-client", "pc-secret");
    let tokens = app.login("alice", "pw").await;

    let response = app
        .introspect("password-client", Some("pc-secret"), &tokens.access_token)
        .await;
    let body = json_body(response, StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    // Wrong credentials stay a 401, whoever the client is.
    let response = app
        .introspect("password-client", Some("wrong"), &tokens.access_token)
        .await;
    assert_oauth2_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // Once allowed, the same client gets its answer.
    let granted =
        shared::storage::applications::allow_introspection(&mut app.db(), "password-client", true)
            .expect("allow the client to introspect");
    assert!(granted);
    let response = app
        .introspect("password-client", Some("pc-secret"), &tokens.access_token)
        .await;
    let body = json_body(response, StatusCode::OK).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["username"], "alice", "{body}");
}

#[actix_rt::test]
async fn introspection_says_only_active_false_for_unknown_and_revoked_tokens() {
    let (app, tokens) = alice_and_a_resource_server().await;
    app.revoke(&tokens.access_token).await;

    for token in ["no-such-token", &tokens.access_token, &tokens.refresh_token] {
        assert_eq!(introspected(&app, token).await, json!({ "active": false }));
    }
}

#[actix_rt::test]
async fn introspection_describes_a_live_token() {
    let (app, tokens) = alice_and_a_resource_server().await;

    let body = introspected(&app, &tokens.access_token).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], "alice");
    assert_eq!(body["client_id"], MY_API_APP);
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["iss"], app.address);

    // client_secret_post works too, and refresh tokens can be introspected.
    let response = app
        .http
        .post(app.url("/o/introspect/"))
        .form(&[
            ("token", tokens.refresh_token.as_str()),
            ("client_id", "resource-server"),
            ("client_secret", "rs-secret"),
        ])
        .send()
        .await
        .expect("POST /o/introspect/");
    let body = json_body(response, StatusCode::OK).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], "alice");
    assert_eq!(body["client_id"], MY_API_APP);
}
