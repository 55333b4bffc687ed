//! ID tokens from the code exchange (issue 13, point 4): the claims, by scope.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{MY_API_APP, TestApp, json_body, spawn_app};
use crate::oidc_flow::{Browser, NONCE, VERIFIER, exchange};

/// The token answer for a code got by admin with `scope`.
async fn tokens_for(app: &TestApp, scope: &str) -> Value {
    let code = Browser::new(app)
        .log_in_and_allow_with(&[("scope", scope)], "admin", "admin")
        .await["code"]
        .clone();
    json_body(exchange(app, &code, VERIFIER).await, StatusCode::OK).await
}

/// A JWT's header and claims, unverified (the interop test verifies signatures).
pub fn parts(jwt: &str) -> (Value, Value) {
    let decode = |part: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let mut segments = jwt.split('.');
    let header = decode(segments.next().expect("a header"));
    let claims = decode(segments.next().expect("claims"));
    (header, claims)
}

#[actix_rt::test]
async fn an_id_token_names_issuer_user_client_login_time_nonce_and_access_token_hash() {
    let app = spawn_app().await;
    let before = shared::clock::now();
    let body = tokens_for(&app, "openid").await;
    let (header, claims) = parts(body["id_token"].as_str().expect("an ID token"));
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "ES256", "the demo client's default");
    assert!(
        header["kid"].as_str().is_some_and(|kid| !kid.is_empty()),
        "{header}"
    );
    assert_eq!(claims["iss"], app.address);
    assert_eq!(claims["sub"], "1", "the user id as a string");
    assert_eq!(claims["aud"], MY_API_APP);
    assert_eq!(claims["azp"], MY_API_APP);
    assert_eq!(claims["nonce"], NONCE);
    let iat = claims["iat"].as_i64().expect("iat");
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!(before <= auth_time && auth_time <= iat, "{claims}");
    assert!(claims["exp"].as_i64().expect("exp") > iat);
    let access = body["access_token"].as_str().expect("an access token");
    assert_eq!(claims["at_hash"], shared::oauth2::id_token::at_hash(access));
    for absent in ["name", "preferred_username", "email", "email_verified"] {
        assert!(
            claims.get(absent).is_none(),
            "{absent} without its scope: {claims}"
        );
    }
}

#[actix_rt::test]
async fn profile_and_email_add_their_claims() {
    let app = spawn_app().await;
    let body = tokens_for(&app, "openid profile email").await;
    let (_, claims) = parts(body["id_token"].as_str().expect("an ID token"));
    assert_eq!(claims["name"], "Agustin Barto");
    assert_eq!(claims["given_name"], "Agustin");
    assert_eq!(claims["family_name"], "Barto");
    assert_eq!(claims["preferred_username"], "admin");
    assert_eq!(claims["email"], "abarto@rest_oauth_social_test.com");
    assert_eq!(claims["email_verified"], false);
}

#[actix_rt::test]
async fn a_request_without_a_nonce_gets_an_id_token_without_one() {
    let app = spawn_app().await;
    let code = Browser::new(&app)
        .log_in_and_allow_with(&[("nonce", "")], "admin", "admin")
        .await["code"]
        .clone();
    let body = json_body(exchange(&app, &code, VERIFIER).await, StatusCode::OK).await;
    let (_, claims) = parts(body["id_token"].as_str().expect("an ID token"));
    assert!(claims.get("nonce").is_none(), "{claims}");
}
