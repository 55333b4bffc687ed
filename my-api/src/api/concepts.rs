//! `/api/concepts/`: authenticated read (`read`) and write (`write`); a concept may have a
//! parent, and no concept may become its own ancestor.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use shared::bearer::BearerUser;
use shared::db::Connection;
use shared::provider::Provider;
use shared::scope;

use super::error::{ApiError, Object, valid_name};
use super::{PublicUrl, base_url};
use crate::schema::concepts;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/concepts/")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/concepts/{id}/")
            .route(web::get().to(retrieve))
            .route(web::put().to(update))
            .route(web::patch().to(update))
            .route(web::delete().to(destroy)),
    );
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConceptInput {
    /// Trimmed; 1 to 200 characters. Required on create; absent on update: unchanged.
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"\S")]
    name: Option<String>,
    /// Absent: unchanged (or none, on create); `null`: no parent. Must be an existing concept
    /// that does not descend from this one.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    parent: Option<Option<i64>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConceptOut {
    id: i64,
    url: String,
    name: String,
    parent: Option<i64>,
}

type Row = (i64, String, Option<i64>);

fn render((id, name, parent): Row, base: &str) -> ConceptOut {
    ConceptOut {
        id,
        url: format!("{base}/api/concepts/{id}/"),
        name,
        parent,
    }
}

fn load_one(conn: &mut Connection, id: i64) -> Result<Row, ApiError> {
    Ok(concepts::table
        .find(id)
        .select((concepts::id, concepts::name, concepts::parent_id))
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

async fn list(
    caller: BearerUser,
    info: PublicUrl,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(scope::READ)?;
    let all: Vec<Row> = provider
        .db
        .run(|conn| {
            concepts::table
                .order(concepts::id)
                .select((concepts::id, concepts::name, concepts::parent_id))
                .load(conn)
                .map_err(ApiError::from)
        })
        .await?;
    let base = base_url(&info);
    let out: Vec<ConceptOut> = all.into_iter().map(|r| render(r, &base)).collect();
    Ok(HttpResponse::Ok().json(out))
}

async fn retrieve(
    caller: BearerUser,
    id: web::Path<i64>,
    info: PublicUrl,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(scope::READ)?;
    let id = id.into_inner();
    let row = provider.db.run(move |conn| load_one(conn, id)).await?;
    Ok(HttpResponse::Ok().json(render(row, &base_url(&info))))
}

async fn create(
    caller: BearerUser,
    input: web::Json<Object<ConceptInput>>,
    info: PublicUrl,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(scope::WRITE)?;
    let name = valid_name(input.0.0.name.as_deref())?;
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
    let out = render(row, &base_url(&info));
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, out.url.clone()))
        .json(out))
}

async fn update(
    caller: BearerUser,
    id: web::Path<i64>,
    input: web::Json<Object<ConceptInput>>,
    info: PublicUrl,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(scope::WRITE)?;
    let id = id.into_inner();
    let input = input.into_inner().0;
    let name = match input.name.as_deref() {
        Some(name) => Some(valid_name(Some(name))?),
        None => None,
    };
    let row = provider
        .db
        .write(move |conn| {
            let (_, old_name, old_parent) = load_one(conn, id)?;
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
    Ok(HttpResponse::Ok().json(render(row, &base_url(&info))))
}

async fn destroy(
    caller: BearerUser,
    id: web::Path<i64>,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(scope::WRITE)?;
    let id = id.into_inner();
    let deleted = provider
        .db
        .write(move |conn| {
            Ok::<_, ApiError>(diesel::delete(concepts::table.find(id)).execute(conn)?)
        })
        .await?;
    if deleted == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}
