//! Local accounts for social identities: the link table and first-login user creation.
//!
//! An identity is (backend, provider user id). A username or email that already belongs to
//! a local account never links to it: a taken username gets a numeric suffix instead.

use diesel::prelude::*;
use shared::clock::now;
use shared::security::password::UNUSABLE;
use shared::storage::db::Connection;
use shared::storage::schema::users as users_table;
use shared::storage::users::{self, NewUser, User};

use crate::schema::social_links;
use crate::social::SocialProfile;

/// Django's username limit.
const MAX_USERNAME: usize = 150;

/// The local user for a provider's profile, created with its link on first use; on later
/// uses the names are refreshed. Call inside a write transaction: the user's row comes back
/// locked until it ends (read `FOR UPDATE` on PostgreSQL, in the same round trip as the
/// link; a new row is its creator's alone), so the caller's writes for that user run one
/// transaction at a time.
pub fn user_for_profile(
    conn: &mut Connection,
    backend: &str,
    profile: &SocialProfile,
) -> QueryResult<User> {
    let uid = &profile.uid;
    let linked = linked_user(conn, backend, uid)?;
    if let Some(mut user) = linked {
        let user_id = user.id;
        // Writes only what changed: a returning user usually changes nothing.
        if user.first_name != profile.first_name || user.last_name != profile.last_name {
            users::set_names(conn, user_id, &profile.first_name, &profile.last_name)?;
            diesel::update(
                social_links::table
                    .filter(social_links::provider.eq(backend))
                    .filter(social_links::uid.eq(uid)),
            )
            .set(social_links::modified.eq(now()))
            .execute(conn)?;
            user.first_name.clone_from(&profile.first_name);
            user.last_name.clone_from(&profile.last_name);
        }
        return Ok(user);
    }
    let mut new = NewUser::new(free_username(conn, &profile.username)?, UNUSABLE);
    new.email = profile.email.clone();
    new.first_name = profile.first_name.clone();
    new.last_name = profile.last_name.clone();
    let user = users::create(conn, &new)?;
    crate::social::identities::link(conn, user.id, backend, profile)?;
    log::info!("created local user {} for a {backend} identity", user.id);
    Ok(user)
}

/// The user linked to (backend, uid), read with its link in one query and, on PostgreSQL,
/// locked (`FOR UPDATE` locks the user's row only: the link is read in a subquery).
fn linked_user(conn: &mut Connection, backend: &str, uid: &str) -> QueryResult<Option<User>> {
    // Written once, built per backend (the selection is typed by its backend).
    macro_rules! query {
        () => {
            users_table::table
                .filter(
                    users_table::id.eq_any(
                        social_links::table
                            .filter(social_links::provider.eq(backend))
                            .filter(social_links::uid.eq(uid))
                            .select(social_links::user_id),
                    ),
                )
                .select(User::as_select())
        };
    }
    match conn {
        Connection::Postgres(pg) => query!().for_update().get_result(pg).optional(),
        Connection::Sqlite(sqlite) => query!().get_result(sqlite).optional(),
    }
}

/// The provider's username made valid here (Django's `[\w.@+-]`), with a suffix if taken.
fn free_username(conn: &mut Connection, wanted: &str) -> QueryResult<String> {
    let mut base: String = wanted
        .chars()
        .filter(|c| c.is_alphanumeric() || "_.@+-".contains(*c))
        .take(MAX_USERNAME - 8)
        .collect();
    if base.is_empty() {
        base = "user".to_owned();
    }
    if users::find_by_username(conn, &base)?.is_none() {
        return Ok(base);
    }
    for n in 2..1000 {
        let candidate = format!("{base}{n}");
        if users::find_by_username(conn, &candidate)?.is_none() {
            return Ok(candidate);
        }
    }
    Ok(format!(
        "{base}-{}",
        shared::security::secret::random_alphanumeric(6)
    ))
}
