//! The resource API of the original demo: `/api/` with users, items and concepts,
//! DRF-like JSON with trailing slashes; every object carries its `url`. `/api/me/` is the
//! caller's own account with its linked identities.

pub mod concepts;
mod docs;
pub mod error;
pub mod items;
pub mod me;
pub mod pagination;
pub mod users;

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Serialize;
use shared::oauth2::provider::Provider;

/// The routes of a collection whose module `$module` has a handler for every operation:
/// `/<module>/` (list, create) and `/<module>/{id}/` (retrieve, update, partial update,
/// destroy).
macro_rules! collection {
    ($module:ident) => {
        |cfg: &mut web::ServiceConfig| {
            cfg.service(
                web::resource(concat!("/", stringify!($module), "/"))
                    .route(web::get().to($module::list))
                    .route(web::post().to($module::create)),
            )
            .service(
                web::resource(concat!("/", stringify!($module), "/{id}/"))
                    .route(web::get().to($module::retrieve))
                    .route(web::put().to($module::update))
                    .route(web::patch().to($module::partial_update))
                    .route(web::delete().to($module::destroy)),
            );
        }
    };
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .app_data(error::json_config())
            // Resources, not bare routes: another method gets 405 with `Allow`, not 404.
            .service(web::resource("/").route(web::get().to(root)))
            .configure(users::routes)
            .configure(me::routes)
            .configure(collection!(items))
            .configure(collection!(concepts)),
    );
}

/// The service's public URL (`PUBLIC_URL`, else the bound address), the base of every `url`
/// and `Location`. DRF builds them from the request's host, which the client chooses
/// (`Host`, `X-Forwarded-Host`, `Forwarded`): links handed to others would point wherever the
/// client liked.
#[derive(Debug, Clone)]
pub struct PublicUrl(String);

impl FromRequest for PublicUrl {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.app_data::<web::Data<Provider>>()
                .map(|provider| PublicUrl(provider.issuer.clone()))
                .ok_or_else(|| {
                    actix_web::error::ErrorInternalServerError("the provider is not configured")
                }),
        )
    }
}

/// `scheme://host[:port]` for the `url` of each object (as DRF builds them), from the
/// configured public URL only.
pub fn base_url(url: &PublicUrl) -> &str {
    &url.0
}

/// `201 Created` with `out`, the new object, whose `url` is the `Location`.
pub fn created(url: String, out: impl Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((actix_web::http::header::LOCATION, url))
        .json(out)
}

// The links of `GET /api/`.
#[derive(Serialize, utoipa::ToSchema)]
struct Links {
    users: String,
    items: String,
    concepts: String,
    /// The caller's own account and linked identities.
    me: String,
}

#[utoipa::path(
    get,
    path = "/api/",
    operation_id = "api_root",
    tag = "api",
    summary = "Links to the collections",
    responses((status = 200, description = "The links.", body = inline(Links)))
)]
pub(crate) async fn root(info: PublicUrl) -> HttpResponse {
    let base = base_url(&info);
    HttpResponse::Ok().json(Links {
        users: format!("{base}/api/users/"),
        items: format!("{base}/api/items/"),
        concepts: format!("{base}/api/concepts/"),
        me: format!("{base}/api/me/"),
    })
}
