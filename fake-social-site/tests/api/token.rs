//! `POST /o/token/` with the password grant: credentials, clients, parameters, users.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, PRAGMA};

use crate::helpers::{
    MY_API_APP, TestApp, assert_oauth2_error, header, json_body, spawn_app, spawn_app_with,
    www_authenticate,
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

async fn failed_login_time(app: &TestApp, username: &str) -> Duration {
    let started = Instant::now();
    let response = app.password_grant(username, "wrong").await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    elapsed
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

#[actix_rt::test]
async fn a_wrong_password_takes_about_as_long_as_an_unknown_user() {
    // Cost 8 (milliseconds a hash, well above the HTTP round trip): skipping the hash for
    // unknown users would make them many times faster.
    const COST: u32 = 8;
    let app = spawn_app_with(|s| {
        s.bcrypt_cost = COST;
        // Nineteen failures from one address would be throttled: this test is about timing.
        s.login_failures_before_throttle = 0;
    })
    .await;
    let hash = shared::password::PasswordHasher::new(COST, 1)
        .hash_blocking(&shared::secret::Secret::from("right"))
        .expect("hash the password");
    shared::users::create(&mut app.db(), &shared::users::NewUser::new("alice", hash))
        .expect("create the user");
    // Warm up: the connection, and the dummy hash made on first use.
    failed_login_time(&app, "nobody").await;

    // Interleaved, so both see the same load from the tests running beside this one.
    let (mut wrong_password, mut unknown_user) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        wrong_password.push(failed_login_time(&app, "alice").await);
        unknown_user.push(failed_login_time(&app, "nobody").await);
    }
    let (wrong_password, unknown_user) = (median(wrong_password), median(unknown_user));

    assert!(
        unknown_user * 3 > wrong_password && wrong_password * 3 > unknown_user,
        "wrong password {wrong_password:?}, unknown user {unknown_user:?}"
    );
}

#[actix_rt::test]
async fn an_unknown_client_is_refused_with_invalid_client_and_a_challenge() {
    let app = spawn_app().await;
    app.create_user("alice", "pw");
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "pw"),
            ("client_id", "no-such-client"),
        ])
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
    let app = spawn_app().await;
    app.create_user("alice", "pw");
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
    for grant_type in [
        "authorization_code",
        "client_credentials",
        "convert_token",
        "nonsense",
    ] {
        let response = app
            .post_token(&[("grant_type", grant_type), ("client_id", MY_API_APP)])
            .await;
        assert_oauth2_error(response, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    }
}

#[actix_rt::test]
async fn an_unknown_scope_is_invalid_scope() {
    let app = spawn_app().await;
    app.create_user("alice", "pw");
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "pw"),
            ("client_id", MY_API_APP),
            ("scope", "read admin"),
        ])
        .await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

#[actix_rt::test]
async fn an_inactive_user_gets_no_token() {
    let app = spawn_app().await;
    app.create_user("alice", "pw");
    app.set_active("alice", false);

    let response = app.password_grant("alice", "pw").await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_rt::test]
async fn a_deactivated_users_tokens_stop_working_and_cannot_be_refreshed() {
    let app = spawn_app().await;
    app.create_user("alice", "pw");
    let tokens = app.login("alice", "pw").await;

    app.set_active("alice", false);

    let response = app.user_details(&tokens.access_token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app.refresh(&tokens.refresh_token).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_rt::test]
async fn a_confidential_client_authenticates_with_http_basic_or_in_the_body() {
    let app = spawn_app().await;
    app.create_user("alice", "pw");
    app.create_confidential_client("backend", "backend-secret");
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "pw"),
    ];

    let response = app
        .http
        .post(app.url("/o/token/"))
        .basic_auth("backend", Some("backend-secret"))
        .form(&form)
        .send()
        .await
        .expect("POST /o/token/");
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
    let app = spawn_app().await;
    app.create_user("alice", "pw");
    app.create_confidential_client("backend", "backend-secret");
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "pw"),
    ];

    let response = app
        .http
        .post(app.url("/o/token/"))
        .basic_auth("backend", Some("not-the-secret"))
        .form(&form)
        .send()
        .await
        .expect("POST /o/token/");
    assert!(!www_authenticate(&response).is_empty());
    assert_oauth2_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;

    let mut no_secret = form.to_vec();
    no_secret.push(("client_id", "backend"));
    let response = app.post_token(&no_secret).await;
    assert_oauth2_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}
