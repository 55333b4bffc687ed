//! Login sessions at the provider's own pages: the browser holds a random id in a cookie,
//! the database only its SHA-256, with the user and the time of login (`auth_time`).

use diesel::prelude::*;

use crate::clock::now;
use crate::security::secret::{Secret, random_token, sha256_hex};
use crate::storage::db::Connection;
use crate::storage::schema::{login_sessions, users};
use crate::storage::users::User;

/// A live session: who, and since when.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub auth_time: i64,
}

/// Starts a session for `user_id` lasting `ttl` seconds; returns the cookie value.
pub fn create(conn: &mut Connection, user_id: i64, ttl: i64) -> QueryResult<Secret> {
    let id = random_token(32);
    let now = now();
    diesel::insert_into(login_sessions::table)
        .values((
            login_sessions::id_hash.eq(sha256_hex(&id)),
            login_sessions::user_id.eq(user_id),
            login_sessions::auth_time.eq(now),
            login_sessions::expires.eq(now + ttl),
        ))
        .execute(conn)?;
    Ok(Secret::new(id))
}

/// The unexpired session of an active user behind a cookie value.
pub fn find(conn: &mut Connection, id: &Secret) -> QueryResult<Option<Session>> {
    let row: Option<(User, i64)> = login_sessions::table
        .inner_join(users::table)
        .filter(login_sessions::id_hash.eq(sha256_hex(id.expose())))
        .filter(login_sessions::expires.gt(now()))
        .filter(users::is_active.eq(true))
        .select((User::as_select(), login_sessions::auth_time))
        .get_result(conn)
        .optional()?;
    Ok(row.map(|(user, auth_time)| Session { user, auth_time }))
}

/// Ends a session (logout); unknown ids are fine.
pub fn delete(conn: &mut Connection, id: &Secret) -> QueryResult<()> {
    diesel::delete(login_sessions::table.find(sha256_hex(id.expose()))).execute(conn)?;
    Ok(())
}

/// Deletes expired sessions.
pub fn clear_expired(conn: &mut Connection) -> QueryResult<usize> {
    diesel::delete(login_sessions::table.filter(login_sessions::expires.le(now()))).execute(conn)
}
