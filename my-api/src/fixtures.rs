//! My API's own models in fixtures, loaded and dumped: `social_django.usersocialauth`,
//! `items.item`, `concepts.concept` (the shared module handles users, applications, tokens
//! and keys).

use diesel::prelude::*;
use serde_json::{Value, json};
use shared::storage::db::Connection;
use shared::storage::fixtures::datetime;
use shared::storage::fixtures::{Fields, ModelLoader, Pk, Record};

use crate::schema::{concepts, items, social_links};

/// In the order they load: each after those it refers to.
pub const LOADERS: &[&dyn ModelLoader] = &[&SocialLinkLoader, &ItemLoader, &ConceptLoader];

#[derive(Debug)]
struct SocialLinkLoader;

impl ModelLoader for SocialLinkLoader {
    fn model(&self) -> &'static str {
        "social_django.usersocialauth"
    }

    fn load(&self, conn: &mut Connection, pk: Pk<'_>, f: &Fields<'_>) -> Result<(), String> {
        let pk = pk.id()?;
        let user = f.user(conn, "user")?.ok_or("field user is required")?;
        // Django's `extra_data` is a JSON field: an object in its fixtures, stored as text.
        let extra = match f.value("extra_data") {
            None => "{}".to_owned(),
            Some(Value::String(text)) => text.clone(),
            Some(value) => value.to_string(),
        };
        let now = shared::clock::now();
        let created = f.time("created")?.unwrap_or(now);
        let values = (
            social_links::user_id.eq(user),
            social_links::provider.eq(f.required_str("provider")?),
            social_links::uid.eq(f.required_str("uid")?),
            social_links::extra_data.eq(extra),
            social_links::modified.eq(f.time("modified")?.unwrap_or(now)),
        );
        let result = match pk {
            Some(pk) => shared::per_backend!(conn, |conn| diesel::insert_into(social_links::table)
                .values((
                    social_links::id.eq(pk),
                    social_links::created.eq(created),
                    values.clone(),
                ))
                .on_conflict(social_links::id)
                .do_update()
                .set(values)
                .execute(conn)),
            None => diesel::insert_into(social_links::table)
                .values((social_links::created.eq(created), values))
                .execute(conn),
        };
        result.map(|_| ()).map_err(|e| e.to_string())
    }

    fn dump(&self, conn: &mut Connection) -> QueryResult<Vec<Record>> {
        let rows: Vec<(i64, i64, String, String, String, i64, i64)> = social_links::table
            .select((
                social_links::id,
                social_links::user_id,
                social_links::provider,
                social_links::uid,
                social_links::extra_data,
                social_links::created,
                social_links::modified,
            ))
            .order(social_links::id)
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(id, user, provider, uid, extra, created, modified)| {
                // As Django writes a JSON field; text that is not JSON stays text.
                let extra = serde_json::from_str(&extra).unwrap_or(Value::String(extra));
                let fields = json!({
                    "user": user,
                    "provider": provider,
                    "uid": uid,
                    "extra_data": extra,
                    "created": datetime::format(created),
                    "modified": datetime::format(modified),
                });
                Record::new(self.model(), id, fields)
            })
            .collect())
    }
}

#[derive(Debug)]
struct ItemLoader;

impl ModelLoader for ItemLoader {
    fn model(&self) -> &'static str {
        "items.item"
    }

    fn load(&self, conn: &mut Connection, pk: Pk<'_>, f: &Fields<'_>) -> Result<(), String> {
        let pk = pk.id()?;
        let owner = f.user(conn, "owner")?.ok_or("field owner is required")?;
        let values = (
            items::name.eq(f.required_str("name")?),
            items::owner_id.eq(owner),
        );
        let created = f.time("created")?.unwrap_or_else(shared::clock::now);
        let result = match pk {
            Some(pk) => shared::per_backend!(conn, |conn| diesel::insert_into(items::table)
                .values((items::id.eq(pk), items::created.eq(created), values))
                .on_conflict(items::id)
                .do_update()
                .set(values)
                .execute(conn)),
            None => diesel::insert_into(items::table)
                .values((items::created.eq(created), values))
                .execute(conn),
        };
        result.map(|_| ()).map_err(|e| e.to_string())
    }

    fn dump(&self, conn: &mut Connection) -> QueryResult<Vec<Record>> {
        let rows: Vec<(i64, String, i64, i64)> = items::table
            .select((items::id, items::name, items::owner_id, items::created))
            .order(items::id)
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, owner, created)| {
                let fields = json!({
                    "name": name,
                    "owner": owner,
                    "created": datetime::format(created),
                });
                Record::new(self.model(), id, fields)
            })
            .collect())
    }
}

#[derive(Debug)]
struct ConceptLoader;

impl ModelLoader for ConceptLoader {
    fn model(&self) -> &'static str {
        "concepts.concept"
    }

    fn load(&self, conn: &mut Connection, pk: Pk<'_>, f: &Fields<'_>) -> Result<(), String> {
        let pk = pk.id()?;
        let values = (
            concepts::name.eq(f.required_str("name")?),
            concepts::parent_id.eq(f.i64("parent")?),
        );
        let created = f.time("created")?.unwrap_or_else(shared::clock::now);
        let result = match pk {
            Some(pk) => shared::per_backend!(conn, |conn| diesel::insert_into(concepts::table)
                .values((concepts::id.eq(pk), concepts::created.eq(created), values))
                .on_conflict(concepts::id)
                .do_update()
                .set(values)
                .execute(conn)),
            None => diesel::insert_into(concepts::table)
                .values((concepts::created.eq(created), values))
                .execute(conn),
        };
        result.map(|_| ()).map_err(|e| e.to_string())
    }

    fn dump(&self, conn: &mut Connection) -> QueryResult<Vec<Record>> {
        let rows: Vec<(i64, String, Option<i64>, i64)> = concepts::table
            .select((
                concepts::id,
                concepts::name,
                concepts::parent_id,
                concepts::created,
            ))
            .order(concepts::id)
            .load(conn)?;
        Ok(parents_first(rows)
            .into_iter()
            .map(|(id, name, parent, created)| {
                let fields = json!({
                    "name": name,
                    "parent": parent,
                    "created": datetime::format(created),
                });
                Record::new(self.model(), id, fields)
            })
            .collect())
    }
}

/// Concepts ordered so that each comes after its parent (a parent may have been given a
/// higher id than its child by a later edit), else by id.
fn parents_first<T>(
    mut rows: Vec<(i64, String, Option<i64>, T)>,
) -> Vec<(i64, String, Option<i64>, T)> {
    let mut placed = std::collections::HashSet::new();
    let mut ordered = Vec::with_capacity(rows.len());
    while !rows.is_empty() {
        let before = rows.len();
        let (ready, waiting): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|row| row.2.is_none_or(|parent| placed.contains(&parent)));
        placed.extend(ready.iter().map(|row| row.0));
        ordered.extend(ready);
        rows = waiting;
        if rows.len() == before {
            // A cycle, which the API cannot make: keep the rest by id.
            ordered.append(&mut rows);
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::parents_first;

    #[test]
    fn a_concept_is_dumped_after_its_parent_whatever_their_ids() {
        let rows = vec![
            (1, "child of 3".to_owned(), Some(3), ()),
            (2, "root".to_owned(), None, ()),
            (3, "child of 2".to_owned(), Some(2), ()),
            (4, "child of 1".to_owned(), Some(1), ()),
        ];
        let ids: Vec<i64> = parents_first(rows).iter().map(|row| row.0).collect();
        assert_eq!(ids, [2, 3, 1, 4]);
    }
}
