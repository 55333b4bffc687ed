//! Fake Social Site's OpenAPI 3.1 document, served at `/openapi.json`: the shared `/o/`
//! endpoints plus the profile endpoints.

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use shared::service::openapi::{
    self as doc, bearer, detail_error, json_response, operation, path_param, provider_paths,
};
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::{OpenApi, PathItem, PathsBuilder};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").route(web::get().to(serve)));
}

async fn serve() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    doc::serve(JSON.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }))
}

fn profile(id: &str, summary: &str, by_username: bool) -> Operation {
    let mut op = operation(id, "profile", summary)
        .security(bearer())
        .response(
            "200",
            json_response("The token owner's profile.", "Profile"),
        )
        .response(
            "400",
            detail_error("A malformed Authorization header, or a token in the query string."),
        )
        .response(
            "401",
            detail_error("No token, or one that is invalid, expired or revoked."),
        )
        .response("403", detail_error("The token lacks the `read` scope."))
        .response("503", detail_error("The database is unavailable."));
    if by_username {
        op = op.parameter(path_param("username", false)).response(
            "404",
            detail_error("Not the token's owner (or no such user)."),
        );
    }
    op.build()
}

pub fn document() -> OpenApi {
    let mut paths = provider_paths(false);
    paths.merge(
        PathsBuilder::new()
            .path(
                "/user_details/",
                PathItem::from_http_methods(
                    [HttpMethod::Get, HttpMethod::Head],
                    profile("user_details", "The token owner's profile", false),
                ),
            )
            .path(
                "/user_details_by_username/{username}/",
                PathItem::from_http_methods(
                    [HttpMethod::Get, HttpMethod::Head],
                    profile(
                        "user_details_by_username",
                        "The profile, if `username` owns the token",
                        true,
                    ),
                ),
            )
            .build(),
    );
    doc::document(
        "Fake Social Site",
        "An OAuth2 provider playing the part of a social network: password and refresh grants, \
         revocation, introspection, and the token owner's profile.",
        paths,
        doc::components(&["password", "refresh_token"], &[]),
    )
}
