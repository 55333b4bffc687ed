//! The authorization code grant at `/o/token/` (issue 13, point 3).

use clap::Parser;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;
use shared::storage::applications;
use shared::storage::schema::authorization_codes;

use crate::helpers::{MY_API_APP, TestApp, assert_oauth2_error, json_body, spawn_app};
use crate::oidc_flow::{Browser, REDIRECT_URI, VERIFIER, exchange};

async fn code_for(app: &TestApp, scope: &str) -> String {
    Browser::new(app)
        .log_in_and_allow_with(&[("scope", scope)], "admin", "admin")
        .await["code"]
        .clone()
}

#[actix_rt::test]
async fn a_code_is_exchanged_once_for_tokens_with_an_id_token_under_openid() {
    let app = spawn_app().await;
    let code = code_for(&app, "openid profile read").await;
    let response = exchange(&app, &code, VERIFIER).await;
    assert_eq!(
        crate::helpers::header(&response, reqwest::header::CACHE_CONTROL),
        "no-store"
    );
    let body = json_body(response, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile read");
    assert!(body["id_token"].is_string(), "{body}");
    let access = body["access_token"].as_str().expect("an access token");
    let profile = json_body(app.user_details(access).await, StatusCode::OK).await;
    assert_eq!(profile["username"], "admin");
    // Without openid: tokens, no ID token.
    let code = code_for(&app, "read").await;
    let body = json_body(exchange(&app, &code, VERIFIER).await, StatusCode::OK).await;
    assert!(body.get("id_token").is_none(), "{body}");
}

#[actix_rt::test]
async fn a_second_use_of_a_code_is_invalid_grant_and_revokes_every_token_issued_from_it() {
    let app = spawn_app().await;
    let code = code_for(&app, "openid read").await;
    let first: Value = json_body(exchange(&app, &code, VERIFIER).await, StatusCode::OK).await;
    let refresh = first["refresh_token"].as_str().expect("a refresh token");
    // Tokens descended from the code by refresh are revoked too.
    let rotated = json_body(app.refresh(refresh).await, StatusCode::OK).await;
    let rotated_access = rotated["access_token"].as_str().expect("an access token");
    json_body(app.user_details(rotated_access).await, StatusCode::OK).await;
    let replay = exchange(&app, &code, VERIFIER).await;
    let body = assert_oauth2_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(
        body["error_description"]
            .to_string()
            .contains("already used"),
        "{body}"
    );
    assert_eq!(
        app.user_details(rotated_access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let rotated_refresh = rotated["refresh_token"].as_str().expect("a refresh token");
    assert_oauth2_error(
        app.refresh(rotated_refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // Tokens of other logins stay valid.
    let other = app.login("admin", "admin").await;
    json_body(app.user_details(&other.access_token).await, StatusCode::OK).await;
}

/// Concurrent redemptions of one code: one wins, the others are replays whether they came
/// after it or (on PostgreSQL, whose writers run side by side) raced it, and what the winner
/// got is revoked.
#[actix_rt::test]
async fn ten_concurrent_redemptions_of_one_code_give_one_success_and_revoke_what_it_issued() {
    let app = spawn_app().await;
    let code = code_for(&app, "read").await;
    let answers =
        futures_util::future::join_all((0..10).map(|_| exchange(&app, &code, VERIFIER))).await;
    let mut winners = Vec::new();
    for answer in answers {
        if answer.status() == StatusCode::OK {
            winners.push(json_body(answer, StatusCode::OK).await);
        } else {
            assert_oauth2_error(answer, StatusCode::BAD_REQUEST, "invalid_grant").await;
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let access = winners[0]["access_token"]
        .as_str()
        .expect("an access token");
    assert_eq!(
        app.user_details(access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_rt::test]
async fn a_code_is_bound_to_its_verifier_redirect_uri_client_and_lifetime() {
    let app = spawn_app().await;
    // A wrong verifier, and a missing one.
    let code = code_for(&app, "openid").await;
    let wrong = "x".repeat(43);
    assert_oauth2_error(
        exchange(&app, &code, &wrong).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let missing = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", MY_API_APP),
        ])
        .await;
    assert_oauth2_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    // The other registered redirect URI is not the one the code was issued for.
    let other_uri = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:8000/"),
            ("code_verifier", VERIFIER),
            ("client_id", MY_API_APP),
        ])
        .await;
    assert_oauth2_error(other_uri, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // Another client, allowed the grant, cannot redeem it.
    test_support::db::create_public_client(
        &mut app.db(),
        "other",
        "other",
        "authorization_code refresh_token",
    );
    let stolen = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", "other"),
        ])
        .await;
    assert_oauth2_error(stolen, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // None of that used the code up: the right request still works once.
    json_body(exchange(&app, &code, VERIFIER).await, StatusCode::OK).await;
    // An expired code.
    let code = code_for(&app, "openid").await;
    diesel::update(authorization_codes::table)
        .set(authorization_codes::expires.eq(shared::clock::now() - 1))
        .execute(&mut app.db())
        .expect("expire the codes");
    assert_oauth2_error(
        exchange(&app, &code, VERIFIER).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_oauth2_error(
        exchange(&app, "no-such-code", VERIFIER).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[actix_rt::test]
async fn codes_are_stored_hashed_with_what_they_are_bound_to_and_live_60_seconds() {
    let app = spawn_app().await;
    let code = code_for(&app, "openid email").await;
    let rows: Vec<(String, String, String, Option<String>, i64, i64)> = authorization_codes::table
        .select((
            authorization_codes::code_hash,
            authorization_codes::redirect_uri,
            authorization_codes::scope,
            authorization_codes::nonce,
            authorization_codes::created,
            authorization_codes::expires,
        ))
        .load(&mut app.db())
        .expect("read the codes");
    let [(hash, uri, scope, nonce, created, expires)] = rows.as_slice() else {
        panic!("one code: {rows:?}");
    };
    assert_eq!(*hash, shared::security::secret::sha256_hex(&code));
    assert_eq!(uri, REDIRECT_URI);
    assert_eq!(scope, "email openid");
    assert_eq!(nonce.as_deref(), Some(crate::oidc_flow::NONCE));
    assert_eq!(expires - created, 60);
}

#[test]
fn the_code_lifetime_is_configurable_up_to_ten_minutes() {
    use fake_social_site::cli::{Cli, Command};
    let parse = |seconds: &str| {
        Cli::try_parse_from([
            "fake-social-site",
            "serve",
            "--authorization-code-expire-seconds",
            seconds,
        ])
    };
    for refused in ["0", "601", "86400"] {
        assert!(parse(refused).is_err(), "{refused}");
    }
    let Ok(Cli {
        command: Command::Serve(args),
        ..
    }) = parse("600")
    else {
        panic!("600 seconds is allowed");
    };
    assert_eq!(args.oidc.authorization_code_expire_seconds, 600);
}

#[actix_rt::test]
async fn a_confidential_client_authenticates_to_redeem_its_code() {
    let app = spawn_app().await;
    app.create_confidential_client("web", "web-secret");
    let mut conn = app.db();
    diesel::update(
        shared::storage::schema::applications::table
            .filter(shared::storage::schema::applications::client_id.eq("web")),
    )
    .set(shared::storage::schema::applications::grant_types.eq("authorization_code refresh_token"))
    .execute(&mut conn)
    .expect("allow the code grant");
    applications::set_openid_client(&mut conn, "web", &[REDIRECT_URI.to_owned()], "RS256")
        .expect("register the redirect URI");
    let code = Browser::new(&app)
        .log_in_and_allow_with(&[("client_id", "web")], "admin", "admin")
        .await["code"]
        .clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    let mut unauthenticated = form.to_vec();
    unauthenticated.push(("client_id", "web"));
    assert_oauth2_error(
        app.post_token(&unauthenticated).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    let response = app.post_token_basic("web", "web-secret", &form).await;
    json_body(response, StatusCode::OK).await;
}
