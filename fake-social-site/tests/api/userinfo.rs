//! `GET|POST /o/userinfo/` (issue 13, point 4): the token owner's claims, by scope.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, json_body, spawn_app, www_authenticate};
use crate::oidc_flow::{Browser, VERIFIER, exchange};

async fn access_token(app: &TestApp, scope: &str) -> String {
    let code = Browser::new(app)
        .log_in_and_allow_with(&[("scope", scope)], "admin", "admin")
        .await["code"]
        .clone();
    let body = json_body(exchange(app, &code, VERIFIER).await, StatusCode::OK).await;
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// `GET /o/userinfo/` with `token`.
async fn userinfo(app: &TestApp, token: &str) -> reqwest::Response {
    let request = app.http.get(app.url("/o/userinfo/")).bearer_auth(token);
    request.send().await.expect("userinfo")
}

#[actix_rt::test]
async fn userinfo_answers_the_claims_the_scope_grants_by_get_and_post() {
    let app = spawn_app().await;
    let token = access_token(&app, "openid profile email").await;
    let expected = json!({
        "sub": "1",
        "name": "Agustin Barto",
        "given_name": "Agustin",
        "family_name": "Barto",
        "preferred_username": "admin",
        "email": "abarto@rest_oauth_social_test.com",
        "email_verified": false,
    });
    let get = app.http.get(app.url("/o/userinfo/")).bearer_auth(&token);
    let post = app.http.post(app.url("/o/userinfo/")).bearer_auth(&token);
    for request in [get, post] {
        let response = request.send().await.expect("userinfo");
        assert_eq!(
            crate::helpers::header(&response, reqwest::header::CACHE_CONTROL),
            "no-store"
        );
        assert_eq!(json_body(response, StatusCode::OK).await, expected);
    }
    let token = access_token(&app, "openid").await;
    let response = userinfo(&app, &token).await;
    assert_eq!(
        json_body(response, StatusCode::OK).await,
        json!({ "sub": "1" })
    );
}

#[actix_rt::test]
async fn userinfo_needs_a_valid_token_with_the_openid_scope() {
    let app = spawn_app().await;
    let response = app.get("/o/userinfo/").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&response).starts_with("Bearer"));
    // A password-grant token has read and write, not openid.
    let password = app.login("admin", "admin").await.access_token;
    let response = userinfo(&app, &password).await;
    json_body(response, StatusCode::FORBIDDEN).await;
    // A revoked token.
    let token = access_token(&app, "openid").await;
    assert_eq!(app.revoke(&token).await.status(), StatusCode::OK);
    let response = userinfo(&app, &token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
