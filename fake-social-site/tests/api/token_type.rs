//! RFC 9068 §4: an access token is a JWT whose `typ` header is `at+jwt`. A JWT of another type
//! signed with the same key (an ID token, or any token of ours minted for another purpose)
//! is not an access token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{json_body, spawn_app_with, www_authenticate};
use crate::keys::test_key;

/// The same claims as `token`, signed with the service's (configured) key under header `typ`.
fn resigned(token: &str, typ: Option<&str>) -> String {
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    let mut parts = token.split('.');
    let original = decode(parts.next().expect("a JWT"));
    let claims = decode(parts.next().expect("a JWT"));
    let mut header = Header::new(Algorithm::ES256);
    header.typ = typ.map(str::to_owned);
    header.kid = original["kid"].as_str().map(str::to_owned);
    let pem = std::fs::read(test_key("p256.pem")).expect("the test key");
    let key = EncodingKey::from_ec_pem(&pem).expect("a key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

#[actix_rt::test]
async fn a_token_signed_with_the_right_key_but_not_typed_at_jwt_is_refused() {
    let app =
        spawn_app_with(|settings| settings.signing_key_file = Some(test_key("p256.pem"))).await;
    app.create_user("alice", "pw");
    let tokens = app.login("alice", "pw").await;
    // The genuine token, and the same claims re-signed as `at+jwt`: the forging works.
    json_body(app.user_details(&tokens.access_token).await, StatusCode::OK).await;
    let same = resigned(&tokens.access_token, Some("at+jwt"));
    json_body(app.user_details(&same).await, StatusCode::OK).await;

    for typ in [Some("JWT"), Some("jwt"), Some("id_token+jwt"), None] {
        let token = resigned(&tokens.access_token, typ);
        let response = app.user_details(&token).await;
        assert!(
            www_authenticate(&response).contains(r#"error="invalid_token""#),
            "{typ:?}"
        );
        json_body(response, StatusCode::UNAUTHORIZED).await;
    }
}
