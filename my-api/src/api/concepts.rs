//! `/api/concepts/`: authenticated read (`read`) and write (`write`); a concept may have a
//! parent, and no concept may become its own ancestor.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use shared::oauth2::bearer::BearerUser;
use shared::oauth2::provider::Provider;
use shared::security::scope;
use shared::storage::db::Connection;

use super::docs::documented;
use super::error::{ApiError, Name, Object, present};
use super::pagination::Listing;
use super::{PublicUrl, base_url, created};
use crate::openapi::{ConceptInputPatch, PaginatedConceptOutList};
use crate::schema::concepts;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConceptInput {
    // Described by its type; absent only in a PATCH.
    #[schema(inline, required = true)]
    #[serde(default)]
    name: Name,
    /// Absent: unchanged (or none, on create); `null`: no parent. Must be an existing concept
    /// that does not descend from this one.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    parent: Option<Option<i64>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConceptOut {
    id: i64,
    url: String,
    name: String,
    parent: Option<i64>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = concepts)]
struct Row {
    id: i64,
    name: String,
    parent_id: Option<i64>,
}

fn render(row: Row, base: &str) -> ConceptOut {
    ConceptOut {
        url: format!("{base}/api/concepts/{}/", row.id),
        id: row.id,
        name: row.name,
        parent: row.parent_id,
    }
}

fn load_one(conn: &mut Connection, id: i64) -> Result<Row, ApiError> {
    Ok(concepts::table
        .find(id)
        .select(Row::as_select())
        .get_result(conn)?)
}

/// Checks that `parent` exists and that `id` (when updating) is not among its ancestors.
fn check_parent(
    conn: &mut Connection,
    id: Option<i64>,
    parent: Option<i64>,
) -> Result<(), ApiError> {
    let mut cursor = parent;
    let mut steps = 0;
    while let Some(current) = cursor {
        if Some(current) == id {
            return Err(ApiError::field(
                "parent",
                "A concept cannot be its own ancestor.",
            ));
        }
        let next: Option<Option<i64>> = concepts::table
            .find(current)
            .select(concepts::parent_id)
            .get_result(conn)
            .optional()?;
        cursor = match next {
            Some(next) => next,
            None if current == parent.unwrap_or_default() => {
                return Err(ApiError::field("parent", "No such concept."));
            }
            None => None,
        };
        steps += 1;
        if steps > 10_000 {
            return Err(ApiError::field("parent", "The concept tree is too deep."));
        }
    }
    Ok(())
}

documented! {
    list "concepts" of PaginatedConceptOutList, "List concepts", security(("bearer" = []));
    pub(crate) async fn list(
        caller: BearerUser,
        listing: Listing,
    ) -> Result<HttpResponse, ApiError> {
        caller.require_scope(scope::READ)?;
        listing
            .answer(
                "concepts",
                |conn| concepts::table.count().get_result(conn),
                |conn, limit, offset| {
                    concepts::table
                        .order(concepts::id)
                        .select(Row::as_select())
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
    retrieve "concepts" -> ConceptOut, security(("bearer" = []));
    pub(crate) async fn retrieve(
        caller: BearerUser,
        id: web::Path<i64>,
        info: PublicUrl,
        provider: web::Data<Provider>,
    ) -> Result<HttpResponse, ApiError> {
        caller.require_scope(scope::READ)?;
        let id = id.into_inner();
        let row = provider.db.run(move |conn| load_one(conn, id)).await?;
        Ok(HttpResponse::Ok().json(render(row, base_url(&info))))
    }
}

documented! {
    create "concepts", ConceptInput -> ConceptOut;
    pub(crate) async fn create(
        caller: BearerUser,
        input: web::Json<Object<ConceptInput>>,
        info: PublicUrl,
        provider: web::Data<Provider>,
    ) -> Result<HttpResponse, ApiError> {
        caller.require_scope(scope::WRITE)?;
        let name = input.0.0.name.required()?;
        let parent = input.0.0.parent.flatten();
        let row = provider
            .db
            .write(move |conn| {
                check_parent(conn, None, parent)?;
                let id: i64 = diesel::insert_into(concepts::table)
                    .values((
                        concepts::name.eq(&name),
                        concepts::parent_id.eq(parent),
                        concepts::created.eq(shared::clock::now()),
                    ))
                    .returning(concepts::id)
                    .get_result(conn)?;
                load_one(conn, id)
            })
            .await?;
        let out = render(row, base_url(&info));
        Ok(created(out.url.clone(), out))
    }
}

documented! {
    update "concepts", ConceptInput or ConceptInputPatch -> ConceptOut;
    pub(crate) async fn update(
        caller: BearerUser,
        method: Method,
        id: web::Path<i64>,
        input: web::Json<Object<ConceptInput>>,
        info: PublicUrl,
        provider: web::Data<Provider>,
    ) -> Result<HttpResponse, ApiError> {
        caller.require_scope(scope::WRITE)?;
        let id = id.into_inner();
        let input = input.into_inner().0;
        // PUT replaces, so the name is required; a PATCH without one keeps it.
        let partial = method == Method::PATCH;
        let name = input.name.field(partial)?;
        let row = provider
            .db
            .write(move |conn| {
                let Row {
                    name: old_name,
                    parent_id: old_parent,
                    ..
                } = load_one(conn, id)?;
                let parent = input.parent.unwrap_or(old_parent);
                check_parent(conn, Some(id), parent)?;
                diesel::update(concepts::table.find(id))
                    .set((
                        concepts::name.eq(name.unwrap_or(old_name)),
                        concepts::parent_id.eq(parent),
                    ))
                    .execute(conn)?;
                load_one(conn, id)
            })
            .await?;
        Ok(HttpResponse::Ok().json(render(row, base_url(&info))))
    }
}

documented! { destroy "concepts" with delete }

/// Deletes the concept `id`; anyone with `write` may.
fn delete(conn: &mut Connection, id: i64, _caller: i64) -> Result<(), ApiError> {
    if diesel::delete(concepts::table.find(id)).execute(conn)? == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}
