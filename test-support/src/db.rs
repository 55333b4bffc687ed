//! Test databases: a fresh database (see [`crate::testdb`]) migrated and holding one of the
//! workspace's fixtures,
//! our own connection to it beside a service's pool, and users whose passwords are hashed at
//! the cheapest bcrypt cost so that logins stay quick in a debug build.

use std::path::{Path, PathBuf};

use diesel::prelude::*;
use shared::security::password::PasswordHasher;
use shared::security::secret::Secret;
use shared::storage::applications::{self, ClientType, GrantTypes, NewApplication};
use shared::storage::db::{AnyConnection, DatabaseUrl, Migrations};
use shared::storage::fixtures::ModelLoader;
use shared::storage::schema::users;
use shared::storage::users::{NewUser, User};

/// bcrypt cost of the services under test and of every password the tests store: the
/// lowest, so logins are cheap.
pub const TEST_COST: u32 = 4;

/// A fixture of the workspace's `fixtures/` folder, by file name.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

/// Migrates a fresh database (a SQLite path, a [`DatabaseUrl`] or a [`TestDb`]'s URL; the
/// shared migrations, then `migrations`) and loads the fixture `fixture` into it, as
/// `loaddata` does.
///
/// # Panics
/// When the database cannot be migrated or the fixture loaded.
pub fn load_fixture(
    db: impl Into<DatabaseUrl>,
    fixture: &str,
    migrations: &[Migrations],
    loaders: &[&dyn ModelLoader],
) {
    let url = db.into();
    shared::storage::db::migrate(&url, migrations).expect("migrate the test database");
    shared::storage::fixtures::load_file(&mut connect_url(&url), &fixture_path(fixture), loaders)
        .unwrap_or_else(|e| panic!("load {fixture}: {e}"));
}

/// A connection of our own to a test database on either backend.
///
/// # Panics
/// When the database cannot be opened.
pub fn connect_url(url: &DatabaseUrl) -> AnyConnection {
    match url {
        DatabaseUrl::Sqlite(path) => connect(path),
        DatabaseUrl::Postgres(url) => {
            AnyConnection::Postgres(PgConnection::establish(url).expect("open the test database"))
        }
    }
}

/// A connection of our own to a SQLite test database, beside the service's pool.
///
/// # Panics
/// When the database cannot be opened.
pub fn connect(path: &Path) -> AnyConnection {
    crate::testdb::connect(&DatabaseUrl::from(path))
}

/// `password` hashed at [`TEST_COST`].
///
/// # Panics
/// When hashing fails.
pub fn hash(password: &str) -> String {
    PasswordHasher::new(TEST_COST, 1)
        .hash_blocking(&Secret::from(password))
        .expect("hash the password")
}

/// Stores each `(username, password)` again, hashed at [`TEST_COST`]: the fixtures' hashes
/// cost 0.3 s per login in a debug build.
///
/// # Panics
/// When a user is missing.
pub fn cheapen_passwords(db: impl Into<DatabaseUrl>, accounts: &[(&str, &str)]) {
    let mut conn = connect_url(&db.into());
    for (username, password) in accounts {
        let updated = diesel::update(users::table.filter(users::username.eq(username)))
            .set(users::password.eq(hash(password)))
            .execute(&mut conn)
            .expect("store the cheaper hash");
        assert_eq!(updated, 1, "no fixture user {username}");
    }
}

/// An active user whose password is hashed at [`TEST_COST`].
pub fn create_user(conn: &mut AnyConnection, username: &str, password: &str) -> User {
    create_user_with_hash(conn, username, &hash(password))
}

/// An active user "Test <username>" with this stored password hash (any format the services
/// read).
///
/// # Panics
/// When the user cannot be stored.
pub fn create_user_with_hash(conn: &mut AnyConnection, username: &str, hash: &str) -> User {
    let mut user = NewUser::new(username, hash.to_owned());
    user.first_name = "Test".to_owned();
    user.last_name = username.to_owned();
    user.email = format!("{username}@example.com");
    shared::storage::users::create(conn, &user).expect("create the user")
}

/// The tables of the SQLite database at `path`, by name (read from SQLite's catalogue).
pub fn tables(path: &Path) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .load::<Name>(&mut connect(path))
        .expect("list the tables")
        .into_iter()
        .map(|n| n.name)
        .collect()
}

/// Rows in (access_tokens, refresh_tokens).
pub fn count_tokens(conn: &mut AnyConnection) -> (i64, i64) {
    use shared::storage::schema::{access_tokens, refresh_tokens};
    let access = access_tokens::table
        .count()
        .get_result(conn)
        .expect("count access tokens");
    let refresh = refresh_tokens::table
        .count()
        .get_result(conn)
        .expect("count refresh tokens");
    (access, refresh)
}

/// A public client `client_id` named `name`, allowed the space-separated `grant_types`.
pub fn create_public_client(
    conn: &mut AnyConnection,
    client_id: &str,
    name: &str,
    grant_types: &str,
) {
    let new = NewApplication {
        id: None,
        client_id: client_id.to_owned(),
        name: name.to_owned(),
        client_type: ClientType::Public,
        client_secret_hash: None,
        grant_types: GrantTypes::parse(grant_types).expect("known grants"),
        user_id: None,
        created: shared::clock::now(),
    };
    applications::create(conn, &new).expect("create the client");
}
