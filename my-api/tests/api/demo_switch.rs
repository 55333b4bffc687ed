//! The browser test page, with its pre-filled demo accounts, is served only when the demo
//! switch is on; and a service listening on a non-loopback address refuses to start without
//! a public URL (its tokens' issuer would be `http://0.0.0.0:8000`).

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

use crate::helpers::*;

#[actix_rt::test]
async fn without_the_demo_switch_there_is_no_test_page() {
    let app = spawn_app().await;
    for path in ["/", "/static/app.js", "/static/style.css"] {
        let response = app.get_api(path, None).await;
        let body = json_body(response, StatusCode::NOT_FOUND).await;
        assert!(!body.to_string().contains("admin"), "{path}: {body}");
    }
}

#[actix_rt::test]
async fn with_the_demo_switch_the_test_page_is_served() {
    let app = spawn_app_configured(|s| s.demo = true).await;
    for path in ["/", "/static/app.js", "/static/style.css"] {
        let response = app.get_api(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(!header(&response, CONTENT_TYPE).starts_with("application/json"));
    }
}

/// 192.0.2.1 (TEST-NET-1) is no address of this machine: if the check let it through, the
/// bind would fail anyway, so no test ever listens beyond loopback.
#[test]
fn a_non_loopback_bind_without_a_public_url_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let settings = my_api::Settings::new(dir.path().join("my-api.sqlite3"), "192.0.2.1:8000");
    let error = my_api::Application::build(settings)
        .expect_err("no public URL for a non-loopback address")
        .to_string();
    assert!(error.contains("PUBLIC_URL"), "{error}");
    assert!(error.contains("192.0.2.1:8000"), "{error}");
    assert!(error.contains("loopback"), "{error}");
}
