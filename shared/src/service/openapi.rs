//! The OpenAPI 3.1 parts both services share. Each operation is described beside its handler
//! (`#[utoipa::path]`); [`ProviderApi`] gathers the `/o/` endpoints, the metadata, `/healthz`
//! and `/openapi.json`, with the security schemes; [`with_provider`] merges them into a
//! service's document.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::oauth2::{introspect, metadata, revoke, token};
use crate::profile::Profile;
use crate::service::http;

/// DRF-style error body of the resource endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct Detail {
    pub detail: String,
}

/// The operations both services serve.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        token::token,
        revoke::revoke,
        introspect::introspect,
        metadata::metadata,
        http::healthz,
        openapi_json
    ),
    components(schemas(Detail, Profile)),
    modifiers(&SecuritySchemes)
)]
pub struct ProviderApi;

/// `service`'s own document with the shared operations merged in.
pub fn with_provider(mut service: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    service.merge(ProviderApi::openapi());
    service
}

/// How a request authenticates: a Bearer JWT, got through the password grant at `/o/token/`.
#[derive(Debug)]
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/o/token/",
                Scopes::from_iter([("read", "Read"), ("write", "Write")]),
            ))])),
        );
    }
}

/// The document as served, rendered once by the service.
#[derive(Debug, Clone, Copy)]
struct Document(&'static str);

/// Registers `GET /openapi.json`, answering `document` as JSON, rendered once into `json`
/// (each service has its own: both may run in one process).
pub fn routes(
    cfg: &mut web::ServiceConfig,
    json: &'static OnceLock<String>,
    document: fn() -> utoipa::openapi::OpenApi,
) {
    let json = json.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    });
    cfg.service(
        web::resource("/openapi.json")
            .app_data(web::Data::new(Document(json)))
            .route(web::get().to(openapi_json)),
    );
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object))
)]
async fn openapi_json(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(document.0)
}
