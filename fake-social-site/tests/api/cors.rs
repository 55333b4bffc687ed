//! CORS for browser clients (My API's test page): allowed origins keep their headers, even
//! on errors; a foreign origin's preflight is refused with JSON like any other bad input.

use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use reqwest::{Method, Response, StatusCode};

use crate::helpers::{TestApp, json_body, spawn_app};

async fn preflight(app: &TestApp, origin: &str) -> Response {
    app.http
        .request(Method::OPTIONS, app.url("/o/token/"))
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .send()
        .await
        .expect("OPTIONS /o/token/")
}

fn allowed_origin(response: &Response) -> Option<&str> {
    let value = response.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN)?;
    Some(value.to_str().expect("an ASCII header value"))
}

#[actix_rt::test]
async fn a_preflight_from_the_test_pages_origin_is_allowed() {
    let app = spawn_app().await;
    let response = preflight(&app, "http://127.0.0.1:8000").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(allowed_origin(&response), Some("http://127.0.0.1:8000"));
}

#[actix_rt::test]
async fn a_preflight_from_a_foreign_origin_is_refused_with_json() {
    let app = spawn_app().await;
    let response = preflight(&app, "http://evil.example").await;
    let status = response.status();
    assert!(status.is_client_error(), "{status}");
    assert_eq!(allowed_origin(&response), None);
    json_body(response, status).await;
}

#[actix_rt::test]
async fn error_answers_to_an_allowed_origin_keep_their_cors_headers() {
    let app = spawn_app().await;
    // A 405 (rebuilt as JSON) and a 401 (JSON from the start): the test page reads both.
    for path in ["/o/token/", "/user_details/"] {
        let response = app
            .http
            .get(app.url(path))
            .header(ORIGIN, "http://localhost:8000")
            .send()
            .await
            .expect("a request from the test page's origin");
        let status = response.status();
        assert!(status.is_client_error(), "{path}: {status}");
        assert_eq!(
            allowed_origin(&response),
            Some("http://localhost:8000"),
            "{path}"
        );
        json_body(response, status).await;
    }
}
