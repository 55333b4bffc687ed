//! Fixture loaders for My API's own models: `social_django.usersocialauth`, `items.item`,
//! `concepts.concept` (the shared loader handles users and applications).

use diesel::prelude::*;
use shared::storage::db::Connection;
use shared::storage::fixtures::{Fields, ModelLoader};

use crate::schema::{concepts, items, social_links};

pub const LOADERS: &[&dyn ModelLoader] = &[&SocialLinkLoader, &ItemLoader, &ConceptLoader];

#[derive(Debug)]
struct SocialLinkLoader;

impl ModelLoader for SocialLinkLoader {
    fn model(&self) -> &'static str {
        "social_django.usersocialauth"
    }

    fn load(&self, conn: &mut Connection, pk: Option<i64>, f: &Fields<'_>) -> Result<(), String> {
        let user = f.user(conn, "user")?.ok_or("field user is required")?;
        let extra = match f.str("extra_data") {
            Ok(Some(text)) => text.to_owned(),
            _ => "{}".to_owned(),
        };
        let now = shared::clock::now();
        let values = (
            social_links::user_id.eq(user),
            social_links::provider.eq(f.required_str("provider")?),
            social_links::uid.eq(f.required_str("uid")?),
            social_links::extra_data.eq(extra),
            social_links::modified.eq(now),
        );
        let result = match pk {
            Some(pk) => shared::per_backend!(conn, |conn| diesel::insert_into(social_links::table)
                .values((
                    social_links::id.eq(pk),
                    social_links::created.eq(now),
                    values.clone(),
                ))
                .on_conflict(social_links::id)
                .do_update()
                .set(values)
                .execute(conn)),
            None => diesel::insert_into(social_links::table)
                .values((social_links::created.eq(now), values))
                .execute(conn),
        };
        result.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[derive(Debug)]
struct ItemLoader;

impl ModelLoader for ItemLoader {
    fn model(&self) -> &'static str {
        "items.item"
    }

    fn load(&self, conn: &mut Connection, pk: Option<i64>, f: &Fields<'_>) -> Result<(), String> {
        let owner = f.user(conn, "owner")?.ok_or("field owner is required")?;
        let values = (
            items::name.eq(f.required_str("name")?),
            items::owner_id.eq(owner),
        );
        let now = shared::clock::now();
        let result = match pk {
            Some(pk) => shared::per_backend!(conn, |conn| diesel::insert_into(items::table)
                .values((items::id.eq(pk), items::created.eq(now), values))
                .on_conflict(items::id)
                .do_update()
                .set(values)
                .execute(conn)),
            None => diesel::insert_into(items::table)
                .values((items::created.eq(now), values))
                .execute(conn),
        };
        result.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[derive(Debug)]
struct ConceptLoader;

impl ModelLoader for ConceptLoader {
    fn model(&self) -> &'static str {
        "concepts.concept"
    }

    fn load(&self, conn: &mut Connection, pk: Option<i64>, f: &Fields<'_>) -> Result<(), String> {
        let values = (
            concepts::name.eq(f.required_str("name")?),
            concepts::parent_id.eq(f.i64("parent")?),
        );
        let now = shared::clock::now();
        let result = match pk {
            Some(pk) => shared::per_backend!(conn, |conn| diesel::insert_into(concepts::table)
                .values((concepts::id.eq(pk), concepts::created.eq(now), values))
                .on_conflict(concepts::id)
                .do_update()
                .set(values)
                .execute(conn)),
            None => diesel::insert_into(concepts::table)
                .values((concepts::created.eq(now), values))
                .execute(conn),
        };
        result.map(|_| ()).map_err(|e| e.to_string())
    }
}
