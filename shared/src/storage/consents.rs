//! Remembered consents: what a user allowed a client, per (user, client, scopes). A request
//! is covered when some remembered consent of that user and client includes all its scopes.

use diesel::prelude::*;

use crate::clock::now;
use crate::security::scope::Scope;
use crate::storage::db::Connection;
use crate::storage::schema::consents;

/// Whether `user_id` already allowed `application_id` every scope of `scope`.
pub fn covers(
    conn: &mut Connection,
    user_id: i64,
    application_id: i64,
    scope: &Scope,
) -> QueryResult<bool> {
    let given: Vec<String> = consents::table
        .filter(consents::user_id.eq(user_id))
        .filter(consents::application_id.eq(application_id))
        .select(consents::scope)
        .load(conn)?;
    Ok(given
        .iter()
        .filter_map(|s| Scope::parse(s))
        .any(|given| scope.is_subset(&given)))
}

/// Remembers that `user_id` allowed `application_id` `scope` (idempotent).
pub fn remember(
    conn: &mut Connection,
    user_id: i64,
    application_id: i64,
    scope: &Scope,
) -> QueryResult<()> {
    let row = (
        consents::user_id.eq(user_id),
        consents::application_id.eq(application_id),
        consents::scope.eq(scope.to_string()),
        consents::created.eq(now()),
    );
    crate::per_backend!(conn, |conn| diesel::insert_into(consents::table)
        .values(row.clone())
        .on_conflict_do_nothing()
        .execute(conn))?;
    Ok(())
}
