//! `GET /.well-known/jwks.json`: the public keys that verify this service's tokens (RFC 7517
//! JWK Set), named in the metadata as `jwks_uri`. A relying party verifies tokens offline with
//! them, picking the key by the token's `kid`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::oauth2::provider::Provider;
use crate::storage::db::StorageError;
use crate::storage::tokens::keys::RELOAD_MARGIN;

/// How long a client may keep the set: a key made by `rotatekeys` signs within the reload
/// interval, and clients refetch on an unknown `kid` anyway; the retired key stays published
/// far longer than this.
const MAX_AGE_SECONDS: i64 = RELOAD_MARGIN;

/// RFC 7517 §5 JWK Set.
#[derive(Debug, Serialize, ToSchema)]
pub struct JwkSetBody {
    pub keys: Vec<JwkBody>,
}

/// One public key (RFC 7517 §4, RFC 7518 §6): EC P-256 (`crv`, `x`, `y`) or RSA (`n`, `e`).
#[derive(Debug, Serialize, ToSchema)]
pub struct JwkBody {
    #[schema(example = "EC")]
    pub kty: String,
    pub kid: String,
    #[schema(example = "ES256")]
    pub alg: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: String,
    pub crv: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
    pub n: Option<String>,
    pub e: Option<String>,
}

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "oauth2",
    summary = "The public keys that verify this service's tokens (RFC 7517 JWK Set)",
    responses((status = 200, description = "Active keys, and retired ones whose tokens may \
        still be alive.", body = JwkSetBody, headers(("Cache-Control" = String))))
)]
pub async fn jwks(provider: web::Data<Provider>) -> HttpResponse {
    let keys = provider.tokens.keys().clone();
    let refreshed = provider
        .db
        .run(move |conn| keys.refresh(conn).map_err(StorageError::from))
        .await;
    // The set in memory is still right for everything signed before the fault: serve it.
    if let Err(e) = refreshed {
        log::warn!("serving the signing keys without a reload: {e}");
    }
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={MAX_AGE_SECONDS}"),
        ))
        .json(provider.tokens.keys().jwks())
}
