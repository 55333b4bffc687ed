//! `GET /.well-known/oauth-authorization-server` (RFC 8414): exactly what this server does.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::oauth2::provider::Provider;
use crate::security::scope;

pub async fn metadata(provider: web::Data<Provider>) -> HttpResponse {
    let issuer = &provider.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/o/token/"),
        "revocation_endpoint": format!("{issuer}/o/revoke_token/"),
        "introspection_endpoint": format!("{issuer}/o/introspect/"),
        "grant_types_supported": provider.grant_types().iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        // No authorization endpoint: no response types.
        "response_types_supported": [],
        "scopes_supported": scope::ALL,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
}
