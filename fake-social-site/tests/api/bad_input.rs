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

// --- the OpenID Connect endpoints: HTML for the pages people see, JSON for the rest --------

async fn html_client_error(response: Response, status: StatusCode) {
    assert_eq!(response.status(), status, "{}", response.url());
    let content_type = crate::helpers::header(&response, CONTENT_TYPE);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = response.text().await.expect("a page");
    assert!(page.contains("cannot be completed"), "{page}");
}

async fn post_to(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> Response {
    app.http
        .post(app.url(path))
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("POST")
}

#[actix_rt::test]
async fn the_authorization_endpoint_answers_malformed_requests_with_an_html_400() {
    let app = spawn_app().await;
    for query in [
        "client_id=%ff%fe&redirect_uri=x",
        &format!(
            "client_id={MY_API_APP}&client_id=other&redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2F"
        ),
        "",
        &format!("client_id={}&redirect_uri=x", "c".repeat(4000)),
        "client_id=%00&redirect_uri=%00",
    ] {
        let response = app.get(&format!("/o/authorize/?{query}")).await;
        html_client_error(response, StatusCode::BAD_REQUEST).await;
    }
}

#[actix_rt::test]
async fn the_login_consent_and_logout_forms_refuse_garbage_with_an_html_4xx() {
    let app = spawn_app().await;
    let garbage: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    for path in ["/o/login/", "/o/consent/", "/o/logout/"] {
        let json = post_to(
            &app,
            path,
            "application/json",
            b"{\"request\":\"x\"}".to_vec(),
        )
        .await;
        html_client_error(json, StatusCode::BAD_REQUEST).await;
        let binary = post_to(&app, path, FORM, garbage.clone()).await;
        html_client_error(binary, StatusCode::BAD_REQUEST).await;
        // Well-formed but without the CSRF cookie.
        let forged = post_to(&app, path, FORM, b"csrf_token=x&request=y".to_vec()).await;
        html_client_error(forged, StatusCode::FORBIDDEN).await;
        let oversized = post_to(&app, path, FORM, vec![b'a'; 100 * 1024]).await;
        json_body(oversized, StatusCode::PAYLOAD_TOO_LARGE).await;
    }
    assert_eq!(app.count_tokens(), (0, 0));
    app.assert_healthy().await;
}

#[actix_rt::test]
async fn userinfo_refuses_a_token_in_the_query_or_a_malformed_header_with_json() {
    let app = spawn_app().await;
    json_body(
        app.get("/o/userinfo/?access_token=abc").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let response = app
        .http
        .get(app.url("/o/userinfo/"))
        .header(reqwest::header::AUTHORIZATION, "Bearer !!!")
        .send()
        .await
        .expect("GET /o/userinfo/");
    json_body(response, StatusCode::BAD_REQUEST).await;
    let garbage = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", "\u{0}\u{1}"),
            ("redirect_uri", "%%%"),
            ("code_verifier", &"v".repeat(5000)),
            ("client_id", MY_API_APP),
        ])
        .await;
    assert_oauth2_error(garbage, StatusCode::BAD_REQUEST, "invalid_grant").await;
    app.assert_healthy().await;
}
