//! My API signs its own tokens with keys of its own and publishes them, as Fake Social Site
//! does: a third service verifies either provider's tokens offline with that provider's JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{json_body, spawn_app};

async fn jwks(app: &crate::helpers::TestApp, base: &str) -> JwkSet {
    let response = app
        .http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("GET the JWK Set");
    serde_json::from_value(json_body(response, StatusCode::OK).await).expect("a JWK Set")
}

fn kid_of(token: &str) -> String {
    let part = token.split('.').next().expect("a JWT");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON");
    assert_eq!(header["alg"], "ES256");
    header["kid"].as_str().expect("a kid").to_owned()
}

fn verifies(token: &str, jwks: &JwkSet, issuer: &str) -> bool {
    let Some(jwk) = jwks.find(&kid_of(token)) else {
        return false;
    };
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[issuer]);
    let key = DecodingKey::from_jwk(jwk).expect("a usable JWK");
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

#[actix_rt::test]
async fn my_apis_tokens_verify_with_its_own_jwks_and_not_with_the_providers() {
    let app = spawn_app().await;
    let ours = jwks(&app, &app.address).await;
    let theirs = jwks(&app, &app.fss().address).await;
    assert_eq!(ours.keys.len(), 1);
    assert_ne!(ours.keys[0].common.key_id, theirs.keys[0].common.key_id);

    let local = app.local_token("admin", "admin").await;
    let exchanged = app
        .exchange_token(&app.fss_token("admin", "admin").await)
        .await;
    for token in [&local, &exchanged] {
        assert!(verifies(token, &ours, &app.address));
        assert!(!verifies(token, &theirs, &app.address));
    }
    let fss = app.fss_token("admin", "admin").await;
    assert!(verifies(&fss, &theirs, &app.fss().address));

    let metadata = app
        .get_api("/.well-known/oauth-authorization-server", None)
        .await;
    let metadata = json_body(metadata, StatusCode::OK).await;
    assert_eq!(
        metadata["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.address)
    );
}
