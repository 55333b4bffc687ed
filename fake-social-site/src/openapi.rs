//! Fake Social Site's OpenAPI 3.1 document, served at `/openapi.json`: the shared `/o/`
//! endpoints plus the profile endpoints, each described beside its handler.

use std::sync::OnceLock;

use actix_web::web;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Fake Social Site",
        description = "An OAuth2 provider playing the part of a social network: password and \
                       refresh grants, revocation, introspection, and the token owner's profile."
    ),
    paths(crate::profile::user_details, crate::profile::user_details_by_username)
)]
struct ProfileApi;

pub fn routes(cfg: &mut web::ServiceConfig) {
    static JSON: OnceLock<String> = OnceLock::new();
    shared::service::openapi::routes(
        cfg,
        JSON.get_or_init(|| {
            document()
                .to_json()
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        }),
    );
}

pub fn document() -> utoipa::openapi::OpenApi {
    shared::service::openapi::with_provider(ProfileApi::openapi())
}
