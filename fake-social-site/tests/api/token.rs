//! `POST /o/token/` with the password grant: credentials, clients, parameters, users.
//!
//! That a wrong password costs as much as an unknown user (no timing oracle) is shown by
//! counting hashes, not by timing answers: `shared`'s
//! `password::tests::every_failed_check_costs_at_least_one_hash_at_the_configured_cost`.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, PRAGMA};

use crate::helpers::{
    MY_API_APP, TestApp, assert_oauth2_error, header, json_body, password_form, spawn_app,
    spawn_app_with_alice, www_authenticate,
};

#[actix_rt::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_invalid_grant_answer() {
    let app = spawn_app().await;
    app.create_user("alice", "right");

    let wrong_password = app.password_grant("alice", "wrong").await;
    assert_eq!(header(&wrong_password, CACHE_CONTROL), "no-store");
    assert_eq!(header(&wrong_password, PRAGMA), "no-cache");
    let wrong_password =
        assert_oauth2_error(wrong_password, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let unknown_user = app.password_grant("nobody", "wrong").await;
    let unknown_user =
        assert_oauth2_error(unknown_user, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(wrong_password, unknown_user);
}

#[actix_rt::test]
async fn an_unknown_client_is_refused_with_invalid_client_and_a_challenge() {
    let app = spawn_app_with_alice().await;
    let response = app
        .post_token(&password_form("no-such-client", "alice", "pw"))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!www_authenticate(&response).is_empty());
    assert_oauth2_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // No client at all is the same failure.
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "pw"),
        ])
        .await;
    assert_oauth2_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[actix_rt::test]
async fn a_missing_parameter_is_an_invalid_request() {
    let app = spawn_app_with_alice().await;
    let all = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "pw"),
        ("client_id", MY_API_APP),
    ];
    for missing in ["grant_type", "username", "password"] {
        let form: Vec<_> = all.iter().copied().filter(|(k, _)| *k != missing).collect();
        let body = assert_oauth2_error(
            app.post_token(&form).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert!(body.to_string().contains(missing), "{body}");
    }
    let response = app.post_token(&[]).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[actix_rt::test]
async fn an_unknown_grant_type_is_unsupported_grant_type() {
    let app = spawn_app().await;
    // authorization_code is Fake Social Site's (see code_grant.rs).
    for grant_type in ["client_credentials", "convert_token", "nonsense"] {
        let response = app
            .post_token(&[("grant_type", grant_type), ("client_id", MY_API_APP)])
            .await;
        assert_oauth2_error(response, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    }
}

#[actix_rt::test]
async fn an_unknown_scope_is_invalid_scope() {
    let app = spawn_app_with_alice().await;
    let response = app
        .password_grant_with_scope("alice", "pw", "read admin")
        .await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

#[actix_rt::test]
async fn an_inactive_user_gets_no_token() {
    let app = spawn_app_with_alice().await;
    app.set_active("alice", false);

    let response = app.password_grant("alice", "pw").await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_rt::test]
async fn a_deactivated_users_tokens_stop_working_and_cannot_be_refreshed() {
    let app = spawn_app_with_alice().await;
    let tokens = app.login("alice", "pw").await;

    app.set_active("alice", false);

    let response = app.user_details(&tokens.access_token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app.refresh(&tokens.refresh_token).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

/// Alice's password grant, without a client.
const ALICE_PASSWORD_FORM: [(&str, &str); 3] = [
    ("grant_type", "password"),
    ("username", "alice"),
    ("password", "pw"),
];

/// An app with the user `alice` (password `pw`) and the confidential client `backend`
/// (secret `backend-secret`).
async fn spawn_app_with_backend_client() -> TestApp {
    let app = spawn_app_with_alice().await;
    app.create_confidential_client("backend", "backend-secret");
    app
}

#[actix_rt::test]
async fn a_confidential_client_authenticates_with_http_basic_or_in_the_body() {
    let app = spawn_app_with_backend_client().await;
    let form = ALICE_PASSWORD_FORM;

    let response = app
        .post_token_basic("backend", "backend-secret", &form)
        .await;
    assert_eq!(
        json_body(response, StatusCode::OK).await["token_type"],
        "Bearer"
    );

    let mut in_body = form.to_vec();
    in_body.extend([
        ("client_id", "backend"),
        ("client_secret", "backend-secret"),
    ]);
    let response = app.post_token(&in_body).await;
    assert_eq!(
        json_body(response, StatusCode::OK).await["token_type"],
        "Bearer"
    );
}

#[actix_rt::test]
async fn a_confidential_client_without_its_secret_is_invalid_client() {
    let app = spawn_app_with_backend_client().await;
    let form = ALICE_PASSWORD_FORM;

    let response = app
        .post_token_basic("backend", "not-the-secret", &form)
        .await;
    assert!(!www_authenticate(&response).is_empty());
    assert_oauth2_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;

    let mut no_secret = form.to_vec();
    no_secret.push(("client_id", "backend"));
    let response = app.post_token(&no_secret).await;
    assert_oauth2_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}
