//! `GET /.well-known/oauth-authorization-server` (RFC 8414): exactly what this server does.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::oauth2::provider::Provider;
use crate::security::scope;

/// RFC 8414 authorization server metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub jwks_uri: String,
    pub grant_types_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "metadata",
    tag = "oauth2",
    summary = "Authorization server metadata (RFC 8414)",
    responses((status = 200, description = "The metadata.", body = Metadata))
)]
pub async fn metadata(provider: web::Data<Provider>) -> HttpResponse {
    let issuer = &provider.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/o/token/"),
        "revocation_endpoint": format!("{issuer}/o/revoke_token/"),
        "introspection_endpoint": format!("{issuer}/o/introspect/"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": provider.grant_types().iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        // No authorization endpoint: no response types.
        "response_types_supported": [],
        "scopes_supported": scope::ALL,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
}
