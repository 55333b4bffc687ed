//! My API in front of a provider that misbehaves: each fault is a distinct JSON answer
//! through every front door, and nothing is written.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use reqwest::header::CACHE_CONTROL;
use serde_json::json;

use crate::fake_provider::{Behaviour, FakeProvider, good_profile, hanging_up, refused_url};
use crate::helpers::*;

const TOKEN: &str = "provider-token-5c1e";

/// Exchanges through every door at once and checks each answer is this JSON error, never
/// cached, and that no account was written.
async fn assert_fault_everywhere(app: &TestApp, status: StatusCode, code: &str) {
    let before = app.accounts();
    let answers = join_all(
        Door::ALL
            .into_iter()
            .map(|door| app.exchange(door, FSS, TOKEN, None)),
    )
    .await;
    for (door, response) in Door::ALL.into_iter().zip(answers) {
        assert_eq!(header(&response, CACHE_CONTROL), "no-store", "{door:?}");
        let body = json_body(response, status).await;
        assert_eq!(body["error"], code, "{door:?}: {body}");
        assert!(body["error_description"].is_string(), "{door:?}: {body}");
    }
    assert_eq!(app.accounts(), before);
}

/// A provider behaving so: a 502 `social_provider_bad_response` through every door.
async fn assert_bad_response_everywhere(behaviour: Behaviour) -> FakeProvider {
    let provider = FakeProvider::start(behaviour);
    let app = spawn_app_with_provider(&provider.url).await;
    let (status, code) = (StatusCode::BAD_GATEWAY, "social_provider_bad_response");
    assert_fault_everywhere(&app, status, code).await;
    provider
}

#[actix_rt::test]
async fn a_good_provider_answer_creates_the_user_so_the_fault_tests_mean_something() {
    let provider = FakeProvider::start(Behaviour::Json(good_profile()));
    let app = spawn_app_with_provider(&provider.url).await;
    let response = app.register_by_token(FSS, TOKEN, None).await;
    let token = string(&assert_token_answer(response).await, "access_token");
    let me = app.me(&token).await;
    assert_eq!(me["username"], "sam");
    assert_eq!(me["email"], "sam@social.example");
    assert_eq!(app.linked_users(FSS, 4242).len(), 1);

    let response = app
        .exchange(Door::TokenExchange, FSS_WITH_PARAMS, TOKEN, Some("sam"))
        .await;
    assert_token_answer(response).await;
    let seen = provider.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/user_details/", "/user_details_by_username/sam/"]);
    for request in &seen {
        assert_eq!(
            request.authorization.as_deref(),
            Some("Bearer provider-token-5c1e")
        );
    }
}

#[actix_rt::test]
async fn a_provider_refusing_connections_is_a_json_503() {
    let app = spawn_app_with_provider(&refused_url()).await;
    assert_fault_everywhere(
        &app,
        StatusCode::SERVICE_UNAVAILABLE,
        "social_provider_unavailable",
    )
    .await;
}

#[actix_rt::test]
async fn a_provider_hanging_past_the_timeout_is_a_json_504_after_the_timeout() {
    // The provider would answer only after an hour: an answer at all is My API's timeout.
    let provider = FakeProvider::start(Behaviour::Hang(Duration::from_secs(3600)));
    let app = spawn_app_with_provider(&provider.url).await;
    let started = Instant::now();
    actix_rt::time::timeout(
        Duration::from_secs(60),
        assert_fault_everywhere(&app, StatusCode::GATEWAY_TIMEOUT, "social_provider_timeout"),
    )
    .await
    .expect("My API gave up on the provider");
    let elapsed = started.elapsed();
    assert!(elapsed >= SOCIAL_TIMEOUT, "gave up early: {elapsed:?}");
}

#[actix_rt::test]
async fn a_provider_error_is_a_json_502() {
    let provider = assert_bad_response_everywhere(Behaviour::ServerError).await;
    assert_eq!(provider.seen().len(), Door::ALL.len());
}

#[actix_rt::test]
async fn a_provider_answering_html_is_a_json_502() {
    assert_bad_response_everywhere(Behaviour::Html).await;
}

#[actix_rt::test]
async fn a_profile_without_an_id_is_a_json_502() {
    let mut profile = good_profile();
    profile.as_object_mut().expect("a JSON object").remove("id");
    for body in [
        profile,
        json!({ "id": "4242", "username": "sam" }),
        json!([]),
    ] {
        assert_bad_response_everywhere(Behaviour::Json(body)).await;
    }
}

#[actix_rt::test]
async fn a_two_megabyte_profile_is_a_json_502() {
    assert_bad_response_everywhere(Behaviour::Huge).await;
}

#[actix_rt::test]
async fn a_provider_refusing_the_token_is_unsuccessful_on_the_register_route() {
    let provider = FakeProvider::start(Behaviour::Unauthorized);
    let app = spawn_app_with_provider(&provider.url).await;
    let before = app.accounts();
    for door in Door::REGISTER {
        assert_unsuccessful(app.exchange(door, FSS, TOKEN, None).await).await;
    }
    let response = app
        .register_by_token(FSS_WITH_PARAMS, TOKEN, Some("sam"))
        .await;
    assert_unsuccessful(response).await;
    assert_eq!(app.accounts(), before);
}

#[actix_rt::test]
async fn a_provider_refusing_the_token_is_invalid_request_on_the_token_endpoint() {
    let provider = FakeProvider::start(Behaviour::Unauthorized);
    let app = spawn_app_with_provider(&provider.url).await;
    let before = app.accounts();
    let response = app.exchange(Door::TokenExchange, FSS, TOKEN, None).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = app.exchange(Door::ConvertToken, FSS, TOKEN, None).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(app.accounts(), before);
    assert_eq!(provider.seen().len(), 2);
}

#[actix_rt::test]
async fn a_connection_closed_without_an_answer_is_tried_once_more_on_a_new_one() {
    let (url, accepted) = hanging_up(1);
    let app = spawn_app_with_provider(&url).await;
    let response = app.register_by_token(FSS, TOKEN, None).await;
    let token = string(&assert_token_answer(response).await, "access_token");
    assert_eq!(app.me(&token).await["username"], "sam");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[actix_rt::test]
async fn a_provider_that_always_hangs_up_is_a_json_502_after_one_retry() {
    let (url, accepted) = hanging_up(usize::MAX);
    let app = spawn_app_with_provider(&url).await;
    let response = app.register_by_token(FSS, TOKEN, None).await;
    let body = json_body(response, StatusCode::BAD_GATEWAY).await;
    assert_eq!(body["error"], "social_provider_bad_response");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert_eq!(app.accounts(), (1, 0));
}
