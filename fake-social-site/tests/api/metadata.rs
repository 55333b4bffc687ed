//! Discovery (RFC 8414) and the health check.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{json_body, spawn_app};

#[actix_rt::test]
async fn metadata_lists_the_endpoints_and_the_grant_types() {
    let app = spawn_app().await;
    let body = json_body(app.metadata().await, StatusCode::OK).await;

    assert_eq!(body["issuer"], app.address);
    assert_eq!(body["token_endpoint"], app.url("/o/token/"));
    assert_eq!(body["revocation_endpoint"], app.url("/o/revoke_token/"));
    assert_eq!(body["introspection_endpoint"], app.url("/o/introspect/"));
    assert_eq!(
        body["grant_types_supported"],
        json!(["password", "refresh_token", "authorization_code"])
    );
    assert_eq!(
        body["scopes_supported"],
        json!(["openid", "profile", "email", "read", "write"])
    );
}

#[actix_rt::test]
async fn healthz_answers_200_when_the_database_answers() {
    let app = spawn_app().await;
    let body = json_body(app.healthz().await, StatusCode::OK).await;
    assert_eq!(body["status"], "ok");
}
