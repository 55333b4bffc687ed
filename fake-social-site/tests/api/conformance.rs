//! RFC 6749 and RFC 6750 rules not covered elsewhere, one test per rule.

use futures_util::future::join_all;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use test_support::db::create_public_client;

use crate::helpers::{
    MY_API_APP, assert_oauth2_error, header, json_body, password_form, spawn_app,
    spawn_app_with_alice, www_authenticate,
};

#[actix_rt::test]
async fn token_endpoint_refuses_credentials_in_the_query_string() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/o/token/?client_secret=s3cret"))
        .form(&password_form(MY_API_APP, "admin", "admin"))
        .send()
        .await
        .expect("POST /o/token/");
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[actix_rt::test]
async fn an_empty_parameter_is_an_invalid_request_and_unknown_ones_are_ignored() {
    let app = spawn_app_with_alice().await;
    let empty = app.password_grant_with_scope("alice", "pw", "").await;
    assert_oauth2_error(empty, StatusCode::BAD_REQUEST, "invalid_request").await;
    let unknown = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "pw"),
            ("client_id", MY_API_APP),
            ("colour", "blue"),
        ])
        .await;
    assert_eq!(unknown.status(), StatusCode::OK);
}

#[actix_rt::test]
async fn unknown_and_wrong_confidential_clients_get_identical_answers() {
    let app = spawn_app().await;
    app.create_confidential_client("backend", "right-secret");
    let attempt = |id: &'static str| {
        app.http
            .post(app.url("/o/token/"))
            .basic_auth(id, Some("wrong-secret"))
            .form(&[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", "admin"),
            ])
            .send()
    };
    let wrong = attempt("backend").await.expect("POST /o/token/");
    let unknown = attempt("nobody").await.expect("POST /o/token/");
    assert_eq!(www_authenticate(&wrong), www_authenticate(&unknown));
    assert!(www_authenticate(&wrong).starts_with("Basic"));
    let wrong = assert_oauth2_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let unknown = assert_oauth2_error(unknown, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_eq!(wrong, unknown);
}

#[actix_rt::test]
async fn client_authentication_by_basic_and_body_together_is_an_invalid_request() {
    let app = spawn_app().await;
    app.create_confidential_client("backend", "right-secret");
    let form = [
        ("grant_type", "password"),
        ("username", "admin"),
        ("password", "admin"),
        ("client_secret", "right-secret"),
    ];
    let response = app.post_token_basic("backend", "right-secret", &form).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[actix_rt::test]
async fn a_client_may_only_use_the_grants_it_is_registered_for() {
    let app = spawn_app_with_alice().await;
    create_public_client(
        &mut app.db(),
        "refresh-only",
        "refresh only",
        "refresh_token",
    );
    let response = app
        .post_token(&password_form("refresh-only", "alice", "pw"))
        .await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

#[actix_rt::test]
async fn every_token_endpoint_answer_is_no_store() {
    let app = spawn_app_with_alice().await;
    let answers = [
        app.password_grant("alice", "pw").await,
        app.password_grant("alice", "wrong").await,
        app.post_token(&[("grant_type", "nope")]).await,
        app.revoke("unknown").await,
    ];
    for answer in answers {
        assert_eq!(
            header(&answer, CACHE_CONTROL),
            "no-store",
            "{}",
            answer.status()
        );
    }
}

#[actix_rt::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app_with_alice().await;
    let token = app.login("alice", "pw").await.access_token;
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let response = app
            .http
            .get(app.url("/user_details/"))
            .header(AUTHORIZATION, format!("{scheme} {token}"))
            .send()
            .await
            .expect("GET /user_details/");
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
}

#[actix_rt::test]
async fn a_token_sent_two_ways_is_an_invalid_request() {
    let app = spawn_app_with_alice().await;
    let token = app.login("alice", "pw").await.access_token;
    let response = app
        .http
        .get(app.url(&format!("/user_details/?access_token={token}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /user_details/");
    assert!(www_authenticate(&response).contains(r#"error="invalid_request""#));
    json_body(response, StatusCode::BAD_REQUEST).await;
}

#[actix_rt::test]
async fn no_credentials_get_a_challenge_without_an_error_code() {
    let app = spawn_app().await;
    let response = app.get("/user_details/").await;
    assert_eq!(header(&response, WWW_AUTHENTICATE), r#"Bearer realm="api""#);
    json_body(response, StatusCode::UNAUTHORIZED).await;
}

#[actix_rt::test]
async fn ten_concurrent_refreshes_with_one_token_give_one_success_and_revoke_the_family() {
    let app = spawn_app_with_alice().await;
    let tokens = app.login("alice", "pw").await;
    let answers = join_all((0..10).map(|_| app.refresh(&tokens.refresh_token))).await;
    let statuses: Vec<StatusCode> = answers.iter().map(reqwest::Response::status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
    let mut winner = None;
    for answer in answers {
        if answer.status() == StatusCode::OK {
            winner = Some(json_body(answer, StatusCode::OK).await);
        } else {
            assert_oauth2_error(answer, StatusCode::BAD_REQUEST, "invalid_grant").await;
        }
    }
    // The nine others were reuses of a rotated token, whether they came after the rotation
    // or raced it (on PostgreSQL they can): the family is revoked, the winner's new refresh
    // token with it.
    let winner = winner.expect("one success");
    let renewed = winner["refresh_token"].as_str().expect("a refresh token");
    let response = app.refresh(renewed).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_rt::test]
async fn revocation_works_for_both_kinds_of_token_whatever_the_hint() {
    let app = spawn_app_with_alice().await;
    // A fresh login per token kind and hint: revoking a refresh token also revokes its
    // access token, so revoking both from one login would not show that the access token's
    // own revocation worked.
    for hint in ["access_token", "refresh_token", "something_else"] {
        for kind in ["access_token", "refresh_token"] {
            let tokens = app.login("alice", "pw").await;
            let token = match kind {
                "access_token" => &tokens.access_token,
                _ => &tokens.refresh_token,
            };
            let response = app
                .http
                .post(app.url("/o/revoke_token/"))
                .form(&[
                    ("token", token.as_str()),
                    ("token_type_hint", hint),
                    ("client_id", MY_API_APP),
                ])
                .send()
                .await
                .expect("POST /o/revoke_token/");
            assert_eq!(response.status(), StatusCode::OK, "{kind}, hint {hint}");
            assert_eq!(
                app.user_details(&tokens.access_token).await.status(),
                StatusCode::UNAUTHORIZED,
                "{kind}, hint {hint}"
            );
            if kind == "refresh_token" {
                assert_oauth2_error(
                    app.refresh(&tokens.refresh_token).await,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                )
                .await;
            }
        }
    }
}

#[actix_rt::test]
async fn an_expired_refresh_token_is_refused() {
    let app = spawn_app_with_alice().await;
    let tokens = app.login("alice", "pw").await;
    app.expire_all_tokens();
    assert_oauth2_error(
        app.refresh(&tokens.refresh_token).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}
