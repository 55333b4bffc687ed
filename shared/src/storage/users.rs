//! Users: the accounts a provider authenticates (Django's `auth.user`).

use diesel::prelude::*;

use crate::storage::schema::users;

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    /// A password hash (never a password); see `password`.
    pub password: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

/// A row to insert, or to upsert by `id` when loading fixtures.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub id: Option<i64>,
    pub username: String,
    pub password: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: i64,
}

impl NewUser {
    pub fn new(username: impl Into<String>, password_hash: impl Into<String>) -> Self {
        NewUser {
            id: None,
            username: username.into(),
            password: password_hash.into(),
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: crate::clock::now(),
        }
    }
}

pub fn find(conn: &mut crate::storage::db::Connection, id: i64) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_by_username(
    conn: &mut crate::storage::db::Connection,
    username: &str,
) -> QueryResult<Option<User>> {
    if !crate::storage::db::storable(username) {
        return Ok(None);
    }
    // `get_result` rather than `first`: a unique key needs no LIMIT, and a bound LIMIT makes
    // SQLite re-prepare the statement on every call.
    users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .get_result(conn)
        .optional()
}

pub fn create(conn: &mut crate::storage::db::Connection, new: &NewUser) -> QueryResult<User> {
    // `RETURNING` a `Selectable` is built per backend.
    crate::per_backend!(conn, |conn| diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(conn))
}

/// Inserts, or updates the row with the same `id` (fixtures are idempotent by primary key).
pub fn upsert(conn: &mut crate::storage::db::Connection, new: &NewUser) -> QueryResult<()> {
    crate::per_backend!(conn, |conn| diesel::insert_into(users::table)
        .values(new)
        .on_conflict(users::id)
        .do_update()
        .set(new)
        .execute(conn))?;
    Ok(())
}

pub fn set_password(
    conn: &mut crate::storage::db::Connection,
    id: i64,
    password_hash: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::password.eq(password_hash))
        .execute(conn)?;
    Ok(())
}

/// Refreshes the names a social provider reports.
pub fn set_names(
    conn: &mut crate::storage::db::Connection,
    id: i64,
    first_name: &str,
    last_name: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::first_name.eq(first_name),
            users::last_name.eq(last_name),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every user, by id (for the `users list` command).
pub fn list(conn: &mut crate::storage::db::Connection) -> QueryResult<Vec<User>> {
    users::table
        .order(users::id)
        .select(User::as_select())
        .load(conn)
}

/// The user an operator names: a username, or else a numeric id.
pub fn find_by_name_or_id(
    conn: &mut crate::storage::db::Connection,
    name: &str,
) -> QueryResult<Option<User>> {
    if let Some(user) = find_by_username(conn, name)? {
        return Ok(Some(user));
    }
    match name.parse::<i64>() {
        Ok(id) => find(conn, id),
        Err(_) => Ok(None),
    }
}

/// Activates or deactivates a user. An inactive user's tokens no longer authenticate (see
/// `tokens::Tokens::authenticate`), and no grant issues new ones.
pub fn set_active(
    conn: &mut crate::storage::db::Connection,
    id: i64,
    active: bool,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::is_active.eq(active))
        .execute(conn)?;
    Ok(())
}
