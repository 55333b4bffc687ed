//! `/api/items/`: anyone reads (a page at a time); an authenticated caller with `write`
//! creates, up to `MAX_ITEMS_PER_USER` items each; only the owner updates or deletes (others
//! get 403).

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use shared::oauth2::bearer::{BearerUser, MaybeBearerUser};
use shared::oauth2::provider::Provider;
use shared::security::scope;
use shared::storage::db::Connection;

use super::docs::documented;
use super::error::{ApiError, Name, Object};
use super::pagination::Listing;
use super::{PublicUrl, base_url, created};
use crate::openapi::{ItemInputPatch, PaginatedItemOutList};
use crate::schema::{items, users};
use crate::settings::ApiSettings;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ItemInput {
    // Described by its type; absent only in a PATCH.
    #[schema(inline, required = true)]
    #[serde(default)]
    name: Name,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemOut {
    id: i64,
    url: String,
    name: String,
    owner: String,
}

/// An item with its owner's id (for the permission check) and username (for the answer).
#[derive(Debug, Queryable)]
struct Row {
    id: i64,
    name: String,
    owner_id: i64,
    owner: String,
}

/// The columns of a [`Row`], in its order.
type RowColumns = (items::id, items::name, items::owner_id, users::username);
const ROW: RowColumns = (items::id, items::name, items::owner_id, users::username);

fn render(row: Row, base: &str) -> ItemOut {
    ItemOut {
        url: format!("{base}/api/items/{}/", row.id),
        id: row.id,
        name: row.name,
        owner: row.owner,
    }
}

fn load_one(conn: &mut Connection, id: i64) -> Result<Row, ApiError> {
    Ok(items::table
        .inner_join(users::table)
        .filter(items::id.eq(id))
        .select(ROW)
        .get_result(conn)?)
}

fn check_reader(caller: &MaybeBearerUser) -> Result<(), ApiError> {
    match &caller.0 {
        Some(user) => Ok(user.require_scope(scope::READ)?),
        None => Ok(()),
    }
}

documented! {
    list "items" of PaginatedItemOutList, "List items", security((), ("bearer" = []));
    pub(crate) async fn list(
        caller: MaybeBearerUser,
        listing: Listing,
    ) -> Result<HttpResponse, ApiError> {
        check_reader(&caller)?;
        listing
            .answer(
                "items",
                |conn| items::table.count().get_result(conn),
                |conn, limit, offset| {
                    items::table
                        .inner_join(users::table)
                        .order(items::id)
                        .select(ROW)
                        .limit(limit)
                        .offset(offset)
                        .load(conn)
                },
                render,
            )
            .await
    }
}

documented! {
    retrieve "items" -> ItemOut, security((), ("bearer" = []));
    pub(crate) async fn retrieve(
        caller: MaybeBearerUser,
        id: web::Path<i64>,
        info: PublicUrl,
        provider: web::Data<Provider>,
    ) -> Result<HttpResponse, ApiError> {
        check_reader(&caller)?;
        let id = id.into_inner();
        let row = provider.db.run(move |conn| load_one(conn, id)).await?;
        Ok(HttpResponse::Ok().json(render(row, base_url(&info))))
    }
}

documented! {
    create "items", ItemInput -> ItemOut;
    pub(crate) async fn create(
        caller: BearerUser,
        input: web::Json<Object<ItemInput>>,
        info: PublicUrl,
        provider: web::Data<Provider>,
        api: web::Data<ApiSettings>,
    ) -> Result<HttpResponse, ApiError> {
        caller.require_scope(scope::WRITE)?;
        let name = input.0.0.name.required()?;
        let owner = caller.user.id;
        let max = api.max_items_per_user;
        let row = provider
            .db
            .write(move |conn| {
                // Counted in the inserting transaction (an immediate one: one writer at a time),
                // so concurrent creations cannot pass the cap together.
                if max > 0 {
                    let owned: i64 = items::table
                        .filter(items::owner_id.eq(owner))
                        .count()
                        .get_result(conn)?;
                    if owned >= i64::from(max) {
                        return Err(ApiError::TooManyItems(max));
                    }
                }
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
        let out = render(row, base_url(&info));
        Ok(created(out.url.clone(), out))
    }
}

/// Loads the item and refuses anyone but its owner.
fn owned(conn: &mut Connection, id: i64, caller: i64) -> Result<Row, ApiError> {
    let row = load_one(conn, id)?;
    if row.owner_id != caller {
        return Err(ApiError::Forbidden);
    }
    Ok(row)
}

documented! {
    update "items", ItemInput or ItemInputPatch -> ItemOut;
    pub(crate) async fn update(
        caller: BearerUser,
        method: Method,
        id: web::Path<i64>,
        input: web::Json<Object<ItemInput>>,
        info: PublicUrl,
        provider: web::Data<Provider>,
    ) -> Result<HttpResponse, ApiError> {
        caller.require_scope(scope::WRITE)?;
        // PUT replaces, so the name is required; a PATCH without one changes nothing.
        let partial = method == Method::PATCH;
        let name = input.0.0.name.field(partial)?;
        let (id, owner) = (id.into_inner(), caller.user.id);
        let row = provider
            .db
            .write(move |conn| {
                owned(conn, id, owner)?;
                if let Some(name) = &name {
                    diesel::update(items::table.find(id))
                        .set(items::name.eq(name))
                        .execute(conn)?;
                }
                load_one(conn, id)
            })
            .await?;
        Ok(HttpResponse::Ok().json(render(row, base_url(&info))))
    }
}

documented! { destroy "items" with delete }

/// Deletes the item `id` if `caller` owns it.
fn delete(conn: &mut Connection, id: i64, caller: i64) -> Result<(), ApiError> {
    owned(conn, id, caller)?;
    diesel::delete(items::table.find(id)).execute(conn)?;
    Ok(())
}
