//! The exchange as standard grants on `/o/token/`: RFC 8693 token exchange and
//! drf-social-oauth2's `convert_token`, against the real Fake Social Site.

use reqwest::StatusCode;
use test_support::db::create_public_client;

use crate::helpers::*;

/// A second public client of My API, allowed the given grants.
fn create_client(app: &TestApp, client_id: &str, grant_types: &str) {
    create_public_client(&mut app.db(), client_id, client_id, grant_types);
}

#[actix_rt::test]
async fn a_subject_token_the_provider_refuses_is_invalid_request() {
    let app = spawn_app().await;
    for backend in BACKENDS {
        let username = (backend == FSS_WITH_PARAMS).then_some("admin");
        let response = app
            .exchange(Door::TokenExchange, backend, "garbage", username)
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        let response = app
            .exchange(Door::ConvertToken, backend, "garbage", username)
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    // The token is good, but it is not user1's.
    let fss_token = app.fss_token("admin", "admin").await;
    let response = app
        .exchange(
            Door::TokenExchange,
            FSS_WITH_PARAMS,
            &fss_token,
            Some("user1"),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(app.accounts(), (1, 0));
}

#[actix_rt::test]
async fn rfc_8693_refuses_token_types_other_than_an_access_token() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let base = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", fss_token.as_str()),
        ("subject_issuer", FSS),
        ("client_id", MY_API_CLIENT),
    ];
    let refresh_type = "urn:ietf:params:oauth:token-type:refresh_token";
    let cases: [&[(&str, &str)]; 4] = [
        &[],
        &[("subject_token_type", refresh_type)],
        &[
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", refresh_type),
        ],
        &[
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("actor_token", fss_token.as_str()),
            ("actor_token_type", ACCESS_TOKEN_TYPE),
        ],
    ];
    for extra in cases {
        let mut form = base.to_vec();
        form.extend_from_slice(extra);
        let response = app.post_token(&form).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    assert_eq!(app.accounts(), (1, 0));
}

#[actix_rt::test]
async fn an_unknown_or_missing_backend_on_the_token_endpoint_is_invalid_request() {
    let app = spawn_app().await;
    let response = app
        .exchange(Door::TokenExchange, "facebook", "token", None)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = app
        .exchange(Door::ConvertToken, "facebook", "token", None)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = app
        .post_token(&[
            ("grant_type", "convert_token"),
            ("token", "token"),
            ("client_id", MY_API_CLIENT),
        ])
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[actix_rt::test]
async fn the_exchange_grants_need_a_known_client_registered_for_them() {
    let app = spawn_app().await;
    create_client(&app, "password-only", "password refresh_token");
    let fss_token = app.fss_token("admin", "admin").await;
    let cases = [
        (None, StatusCode::UNAUTHORIZED, "invalid_client"),
        (
            Some("no-such-client"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some("password-only"),
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
    ];
    for door in [Door::TokenExchange, Door::ConvertToken] {
        for (client, status, code) in cases {
            let mut form = exchange_form(door, FSS, &fss_token, client.unwrap_or_default());
            // Without a client, no `client_id` at all.
            form.retain(|&(key, value)| key != "client_id" || !value.is_empty());
            let response = app.post_token(&form).await;
            assert_error(response, status, code).await;
        }
    }
    assert_eq!(app.accounts(), (1, 0));
}

#[actix_rt::test]
async fn an_exchange_for_another_client_leaves_the_first_clients_tokens_alone() {
    let app = spawn_app().await;
    create_client(&app, "second-app", "convert_token");
    let fss_token = app.fss_token("admin", "admin").await;
    let first = app.exchange_token(&fss_token).await;
    let form = exchange_form(Door::ConvertToken, FSS, &fss_token, "second-app");
    let response = app.post_token(&form).await;
    let second = string(&assert_token_answer(response).await, "access_token");
    assert_eq!(app.me(&first).await["id"], app.me(&second).await["id"]);
}

#[actix_rt::test]
async fn the_refresh_token_of_an_exchange_is_rotated_like_any_other() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let response = app
        .exchange(Door::TokenExchange, FSS, &fss_token, None)
        .await;
    let exchanged = assert_token_answer(response).await;
    let response = app.refresh(&string(&exchanged, "refresh_token")).await;
    let refreshed = assert_token_answer(response).await;
    let token = string(&refreshed, "access_token");
    assert_eq!(app.me(&token).await["username"], "admin2");
}

#[actix_rt::test]
async fn the_metadata_lists_both_exchange_grants() {
    let app = spawn_app().await;
    let response = app
        .get_api("/.well-known/oauth-authorization-server", None)
        .await;
    let metadata = json_body(response, StatusCode::OK).await;
    let grants = array(&metadata["grant_types_supported"]);
    for grant in ["password", "refresh_token", TOKEN_EXCHANGE, "convert_token"] {
        assert!(grants.iter().any(|g| g == grant), "{grant}: {metadata}");
    }
}

#[actix_rt::test]
async fn a_token_exchange_may_ask_for_less_scope_but_not_more() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let base = exchange_form(Door::TokenExchange, FSS, &fss_token, MY_API_CLIENT);
    let mut form = base.to_vec();
    form.push(("scope", "admin"));
    let response = app.post_token(&form).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;

    let mut form = base.to_vec();
    form.push(("scope", "read"));
    let body = json_body(app.post_token(&form).await, StatusCode::OK).await;
    assert_eq!(body["scope"], "read");
    let token = string(&body, "access_token");
    assert_eq!(app.me(&token).await["username"], "admin2");
    let response = app.post_item(Some(&token), "Not with a read token").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
