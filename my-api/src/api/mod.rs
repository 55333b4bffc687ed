//! The resource API of the original demo: `/api/` with users, items and concepts,
//! DRF-like JSON with trailing slashes; every object carries its `url`.

pub mod concepts;
pub mod error;
pub mod items;
pub mod pagination;
pub mod users;

use actix_web::dev::ConnectionInfo;
use actix_web::{HttpResponse, web};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .app_data(error::json_config())
            // Resources, not bare routes: another method gets 405 with `Allow`, not 404.
            .service(web::resource("/").route(web::get().to(root)))
            .configure(users::routes)
            .configure(items::routes)
            .configure(concepts::routes),
    );
}

/// `scheme://host` of the request, for the `url` of each object (as DRF builds them).
pub fn base_url(info: &ConnectionInfo) -> String {
    format!("{}://{}", info.scheme(), info.host())
}

async fn root(info: ConnectionInfo) -> HttpResponse {
    let base = base_url(&info);
    HttpResponse::Ok().json(json!({
        "users": format!("{base}/api/users/"),
        "items": format!("{base}/api/items/"),
        "concepts": format!("{base}/api/concepts/"),
    }))
}
