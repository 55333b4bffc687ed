//! `GET /.well-known/oauth-authorization-server` (RFC 8414): exactly what this server does.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::oauth2::provider::Provider;
use crate::security::scope;
use crate::storage::applications::GrantType;
use crate::storage::tokens::SigningAlg;

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
    /// The rest is an OpenID Connect provider's only (Fake Social Site).
    pub authorization_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub code_challenge_methods_supported: Option<Vec<String>>,
    pub response_modes_supported: Option<Vec<String>>,
    pub subject_types_supported: Option<Vec<String>>,
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    pub claims_supported: Option<Vec<String>>,
    pub prompt_values_supported: Option<Vec<String>>,
    pub authorization_response_iss_parameter_supported: Option<bool>,
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
    HttpResponse::Ok().json(document(&provider))
}

/// The metadata document, for RFC 8414 and OpenID Connect Discovery alike. A provider that
/// serves the authorization code grant is an OpenID Connect provider and says so.
pub fn document(provider: &Provider) -> serde_json::Value {
    let issuer = &provider.issuer;
    let mut document = json!({
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
    });
    if provider.extension(GrantType::AuthorizationCode).is_some()
        && let Some(fields) = document.as_object_mut()
    {
        let openid = json!({
            "authorization_endpoint": format!("{issuer}/o/authorize/"),
            "userinfo_endpoint": format!("{issuer}/o/userinfo/"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": [crate::oauth2::pkce::S256],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": SigningAlg::ALL.map(SigningAlg::as_str),
            "scopes_supported": scope::OPENID_PROVIDER,
            "claims_supported": crate::oauth2::id_token::CLAIMS_SUPPORTED,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "authorization_response_iss_parameter_supported": true,
        });
        if let serde_json::Value::Object(openid) = openid {
            fields.extend(openid);
        }
    }
    document
}
