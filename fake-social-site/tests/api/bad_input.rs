//! Bad input gets a JSON 4xx, never a 500 or an HTML page, and leaves the service up.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Response, StatusCode};

use crate::helpers::{MY_API_APP, TestApp, assert_oauth2_error, json_body, spawn_app};

const FORM: &str = "application/x-www-form-urlencoded";

async fn post_raw(app: &TestApp, content_type: &str, body: Vec<u8>) -> Response {
    app.http
        .post(app.url("/o/token/"))
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("POST /o/token/")
}

async fn oversized_body(app: &TestApp) -> Response {
    let body = format!("grant_type=password&username={}", "a".repeat(100 * 1024));
    post_raw(app, FORM, body.into_bytes()).await
}

async fn json_instead_of_a_form(app: &TestApp) -> Response {
    let body = format!(
        r#"{{"grant_type":"password","username":"admin","password":"admin","client_id":"{MY_API_APP}"}}"#
    );
    post_raw(app, "application/json", body.into_bytes()).await
}

async fn binary_garbage(app: &TestApp) -> Response {
    // Every byte value, `&`, `=` and `%` included; the high half is not UTF-8.
    let body: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    post_raw(app, FORM, body).await
}

async fn invalid_utf8(app: &TestApp) -> Response {
    let body = format!("grant_type=password&username=%ff%fe&password=x&client_id={MY_API_APP}");
    post_raw(app, FORM, body.into_bytes()).await
}

async fn absurdly_long_username(app: &TestApp) -> Response {
    app.password_grant(&"u".repeat(10 * 1024), "pw").await
}

async fn repeated_parameter(app: &TestApp) -> Response {
    let body = format!(
        "grant_type=password&username=admin&username=user1&password=x&client_id={MY_API_APP}"
    );
    post_raw(app, FORM, body.into_bytes()).await
}

async fn get_on_the_token_endpoint(app: &TestApp) -> Response {
    app.get("/o/token/").await
}

async fn unknown_path(app: &TestApp) -> Response {
    app.get("/wp-admin/install.php").await
}

#[actix_rt::test]
async fn an_oversized_body_is_a_json_413() {
    let app = spawn_app().await;
    json_body(oversized_body(&app).await, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[actix_rt::test]
async fn a_json_body_on_the_token_endpoint_is_an_invalid_request() {
    let app = spawn_app().await;
    let response = json_instead_of_a_form(&app).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[actix_rt::test]
async fn binary_garbage_and_invalid_utf8_are_invalid_requests() {
    let app = spawn_app().await;
    for response in [
        binary_garbage(&app).await,
        invalid_utf8(&app).await,
        post_raw(&app, "application/octet-stream", vec![0xff, 0x00, 0xfe]).await,
    ] {
        assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

#[actix_rt::test]
async fn an_absurdly_long_username_is_a_json_client_error() {
    let app = spawn_app().await;
    let response = absurdly_long_username(&app).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_rt::test]
async fn a_repeated_parameter_is_an_invalid_request() {
    let app = spawn_app().await;
    let response = repeated_parameter(&app).await;
    let body = assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        body["error_description"].to_string().contains("username"),
        "{body}"
    );
}

#[actix_rt::test]
async fn get_on_the_token_endpoint_is_a_json_405() {
    let app = spawn_app().await;
    json_body(
        get_on_the_token_endpoint(&app).await,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

#[actix_rt::test]
async fn an_unknown_path_is_a_json_404() {
    let app = spawn_app().await;
    let body = json_body(unknown_path(&app).await, StatusCode::NOT_FOUND).await;
    assert!(body["detail"].is_string(), "{body}");
}

#[actix_rt::test]
async fn a_username_that_is_not_utf8_in_the_path_is_a_json_404() {
    let app = spawn_app().await;
    app.create_user("alice", "pw");
    let token = app.login("alice", "pw").await.access_token;
    let response = app.user_details_by_username(&token, "%ff%fe").await;
    json_body(response, StatusCode::NOT_FOUND).await;
}

#[actix_rt::test]
async fn the_service_still_answers_after_a_barrage_of_bad_input() {
    let app = spawn_app().await;
    for response in [
        oversized_body(&app).await,
        json_instead_of_a_form(&app).await,
        binary_garbage(&app).await,
        invalid_utf8(&app).await,
        absurdly_long_username(&app).await,
        repeated_parameter(&app).await,
        get_on_the_token_endpoint(&app).await,
        unknown_path(&app).await,
    ] {
        let status = response.status();
        assert!(status.is_client_error(), "{status}");
        json_body(response, status).await;
    }
    app.assert_healthy().await;
}
