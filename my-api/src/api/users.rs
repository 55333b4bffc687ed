//! `/api/users/`: read-only, for authenticated callers, a page at a time; an email is shown
//! to its owner only.

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::Serialize;
use shared::oauth2::bearer::BearerUser;
use shared::oauth2::provider::Provider;
use shared::security::scope;
use shared::service::openapi::Detail;
use shared::storage::schema::users;
use shared::storage::users::User;

use super::docs::documented;
use super::error::ApiError;
use super::pagination::Listing;
use super::{PublicUrl, base_url};
use crate::openapi::{ApiErrors, PaginatedUserOutList};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users/").route(web::get().to(list)))
        .service(web::resource("/users/{id}/").route(web::get().to(retrieve)));
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserOut {
    id: i64,
    url: String,
    username: String,
    first_name: String,
    last_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

fn render(user: User, caller: &BearerUser, base: &str) -> UserOut {
    let own = user.id == caller.user.id;
    UserOut {
        id: user.id,
        url: format!("{base}/api/users/{}/", user.id),
        username: user.username,
        first_name: user.first_name,
        last_name: user.last_name,
        email: own.then_some(user.email),
    }
}

documented! {
    list "users" of PaginatedUserOutList, "List active users", security(("bearer" = []));
    pub(crate) async fn list(
        caller: BearerUser,
        listing: Listing,
    ) -> Result<HttpResponse, ApiError> {
        caller.require_scope(scope::READ)?;
        let active = users::is_active.eq(true);
        listing
            .answer(
                "users",
                move |conn| users::table.filter(active).count().get_result(conn),
                move |conn, limit, offset| {
                    users::table
                        .filter(active)
                        .order(users::id)
                        .select(User::as_select())
                        .limit(limit)
                        .offset(offset)
                        .load(conn)
                },
                |user, base| render(user, &caller, base),
            )
            .await
    }
}

documented! {
    one "users" get "_retrieve", "One active user", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user.", body = UserOut),
        (status = 404, description = "No such active user.", body = Detail),
        ApiErrors
    );
    pub(crate) async fn retrieve(
        caller: BearerUser,
        id: web::Path<i64>,
        info: PublicUrl,
        provider: web::Data<Provider>,
    ) -> Result<HttpResponse, ApiError> {
        caller.require_scope(scope::READ)?;
        let id = id.into_inner();
        let user = provider
            .db
            .run(move |conn| shared::storage::users::find(conn, id).map_err(ApiError::from))
            .await?
            .filter(|u| u.is_active)
            .ok_or(ApiError::NotFound)?;
        Ok(HttpResponse::Ok().json(render(user, &caller, base_url(&info))))
    }
}
