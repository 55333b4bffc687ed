//! `GET /.well-known/openid-configuration` (issue 13, point 4): OpenID Connect Discovery,
//! in agreement with the RFC 8414 document.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{json_body, spawn_app};

#[actix_rt::test]
async fn discovery_describes_the_provider_and_agrees_with_the_rfc_8414_metadata() {
    let app = spawn_app().await;
    let discovery = json_body(
        app.get("/.well-known/openid-configuration").await,
        StatusCode::OK,
    )
    .await;
    let metadata = json_body(app.metadata().await, StatusCode::OK).await;
    assert_eq!(discovery, metadata, "one document");
    assert_eq!(discovery["issuer"], app.address);
    assert_eq!(
        discovery["authorization_endpoint"],
        app.url("/o/authorize/")
    );
    assert_eq!(discovery["token_endpoint"], app.url("/o/token/"));
    assert_eq!(discovery["userinfo_endpoint"], app.url("/o/userinfo/"));
    assert_eq!(discovery["response_types_supported"], json!(["code"]));
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(discovery["subject_types_supported"], json!(["public"]));
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["ES256", "RS256"])
    );
    assert_eq!(
        discovery["grant_types_supported"],
        json!(["password", "refresh_token", "authorization_code"])
    );
    let scopes = discovery["scopes_supported"].to_string();
    for scope in ["openid", "profile", "email", "read", "write"] {
        assert!(scopes.contains(scope), "{scope}");
    }
    let claims = discovery["claims_supported"].to_string();
    for claim in [
        "sub",
        "name",
        "email",
        "email_verified",
        "preferred_username",
    ] {
        assert!(claims.contains(claim), "{claim}");
    }
}
