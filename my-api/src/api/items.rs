//! `/api/items/`: anyone reads; an authenticated caller with `write` creates; only the owner
//! updates or deletes (others get 403).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use shared::bearer::{BearerUser, MaybeBearerUser};
use shared::provider::Provider;
use shared::scope;

use super::error::{ApiError, Object, valid_name};
use super::{PublicUrl, base_url};
use crate::schema::{items, users};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/items/")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/items/{id}/")
            .route(web::get().to(retrieve))
            .route(web::put().to(update))
            .route(web::patch().to(update))
            .route(web::delete().to(destroy)),
    );
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ItemInput {
    /// Trimmed; 1 to 200 characters.
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"\S")]
    name: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemOut {
    id: i64,
    url: String,
    name: String,
    owner: String,
}

type Row = (i64, String, i64, String);

fn render((id, name, _, owner): Row, base: &str) -> ItemOut {
    ItemOut {
        id,
        url: format!("{base}/api/items/{id}/"),
        name,
        owner,
    }
}

fn load_one(conn: &mut shared::db::Connection, id: i64) -> Result<Row, ApiError> {
    Ok(items::table
        .inner_join(users::table)
        .filter(items::id.eq(id))
        .select((items::id, items::name, items::owner_id, users::username))
        .get_result(conn)?)
}

fn check_reader(caller: &MaybeBearerUser) -> Result<(), ApiError> {
    match &caller.0 {
        Some(user) => Ok(user.require_scope(scope::READ)?),
        None => Ok(()),
    }
}

async fn list(
    caller: MaybeBearerUser,
    info: PublicUrl,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    check_reader(&caller)?;
    let all: Vec<Row> = provider
        .db
        .run(|conn| {
            items::table
                .inner_join(users::table)
                .order(items::id)
                .select((items::id, items::name, items::owner_id, users::username))
                .load(conn)
                .map_err(ApiError::from)
        })
        .await?;
    let base = base_url(&info);
    let out: Vec<ItemOut> = all.into_iter().map(|r| render(r, &base)).collect();
    Ok(HttpResponse::Ok().json(out))
}

async fn retrieve(
    caller: MaybeBearerUser,
    id: web::Path<i64>,
    info: PublicUrl,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    check_reader(&caller)?;
    let id = id.into_inner();
    let row = provider.db.run(move |conn| load_one(conn, id)).await?;
    Ok(HttpResponse::Ok().json(render(row, &base_url(&info))))
}

async fn create(
    caller: BearerUser,
    input: web::Json<Object<ItemInput>>,
    info: PublicUrl,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(scope::WRITE)?;
    let name = valid_name(input.0.0.name.as_deref())?;
    let owner = caller.user.id;
    let row = provider
        .db
        .write(move |conn| {
            let id: i64 = diesel::insert_into(items::table)
                .values((
                    items::name.eq(&name),
                    items::owner_id.eq(owner),
                    items::created.eq(shared::clock::now()),
                ))
                .returning(items::id)
                .get_result(conn)?;
            load_one(conn, id)
        })
        .await?;
    let out = render(row, &base_url(&info));
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, out.url.clone()))
        .json(out))
}

/// Loads the item and refuses anyone but its owner.
fn owned(conn: &mut shared::db::Connection, id: i64, caller: i64) -> Result<Row, ApiError> {
    let row = load_one(conn, id)?;
    if row.2 != caller {
        return Err(ApiError::Forbidden);
    }
    Ok(row)
}

async fn update(
    caller: BearerUser,
    id: web::Path<i64>,
    input: web::Json<Object<ItemInput>>,
    info: PublicUrl,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(scope::WRITE)?;
    let name = valid_name(input.0.0.name.as_deref())?;
    let (id, owner) = (id.into_inner(), caller.user.id);
    let row = provider
        .db
        .write(move |conn| {
            owned(conn, id, owner)?;
            diesel::update(items::table.find(id))
                .set(items::name.eq(&name))
                .execute(conn)?;
            load_one(conn, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(render(row, &base_url(&info))))
}

async fn destroy(
    caller: BearerUser,
    id: web::Path<i64>,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(scope::WRITE)?;
    let (id, owner) = (id.into_inner(), caller.user.id);
    provider
        .db
        .write(move |conn| {
            owned(conn, id, owner)?;
            diesel::delete(items::table.find(id)).execute(conn)?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
