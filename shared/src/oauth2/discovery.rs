//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4): the same
//! document as the RFC 8414 metadata, built by one function ([`super::metadata::document`]),
//! so the two can never disagree.

use actix_web::{HttpResponse, web};

use super::metadata::{Metadata, document};
use crate::oauth2::provider::Provider;

#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "openid_configuration",
    tag = "openid-connect",
    summary = "OpenID Provider metadata (OpenID Connect Discovery 1.0)",
    responses((status = 200, description = "The metadata.", body = Metadata))
)]
pub async fn openid_configuration(provider: web::Data<Provider>) -> HttpResponse {
    HttpResponse::Ok().json(document(&provider))
}
