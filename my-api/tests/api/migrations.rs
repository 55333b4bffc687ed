//! My API's own migrations undo cleanly: reverting them leaves exactly the shared schema, and
//! applying them again gives back exactly the schema a fresh database gets (read from SQLite's
//! own catalogue, so on SQLite); and both migration sets undo and redo on the run's backend.

use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use diesel_migrations::MigrationHarness;

#[derive(QueryableByName, Debug, PartialEq)]
struct Object {
    #[diesel(sql_type = Text)]
    sql: String,
}

/// Every table, index and trigger, as the SQL that made it (migration bookkeeping aside).
fn schema(conn: &mut SqliteConnection) -> Vec<String> {
    diesel::sql_query(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL \
         AND name NOT LIKE 'sqlite_%' AND name != '__diesel_schema_migrations' \
         ORDER BY type, name",
    )
    .load::<Object>(conn)
    .expect("read the schema")
    .into_iter()
    .map(|o| o.sql)
    .collect()
}

fn migrated(dir: &tempfile::TempDir, name: &str, own: bool) -> SqliteConnection {
    let path = dir.path().join(name);
    let extra = if own {
        vec![my_api::MIGRATIONS]
    } else {
        vec![]
    };
    shared::storage::db::migrate(&path.as_path().into(), &extra).expect("migrate");
    SqliteConnection::establish(path.to_str().expect("a UTF-8 path")).expect("open")
}

#[test]
fn my_apis_down_migrations_undo_exactly_what_its_up_migrations_do() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let shared_only = schema(&mut migrated(&dir, "shared.sqlite3", false));
    let mut conn = migrated(&dir, "my-api.sqlite3", true);
    let full = schema(&mut conn);
    assert!(full.len() > shared_only.len(), "{full:#?}");

    let mut own = MigrationSource::<Sqlite>::migrations(&my_api::MIGRATIONS.sqlite).expect("list");
    own.sort_by_key(|m| m.name().version().as_owned());
    for migration in own.iter().rev() {
        conn.revert_migration(migration.as_ref())
            .expect("revert a migration");
    }
    assert_eq!(schema(&mut conn), shared_only);

    conn.run_pending_migrations(my_api::MIGRATIONS.sqlite)
        .expect("migrate again");
    assert_eq!(schema(&mut conn), full);
}

/// Two migration sets as one source.
struct Both<'a>(
    &'a diesel_migrations::EmbeddedMigrations,
    &'a diesel_migrations::EmbeddedMigrations,
);

impl<DB: diesel::backend::Backend> MigrationSource<DB> for Both<'_> {
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<DB>>>> {
        let mut all = MigrationSource::<DB>::migrations(self.0)?;
        all.extend(MigrationSource::<DB>::migrations(self.1)?);
        Ok(all)
    }
}

/// The tables of a database on either backend, by name (Diesel's bookkeeping aside).
fn tables(conn: &mut shared::storage::db::AnyConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let query = if conn.is_sqlite() {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name != '__diesel_schema_migrations' ORDER BY name"
    } else {
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name != '__diesel_schema_migrations' \
         ORDER BY name"
    };
    diesel::sql_query(query)
        .load::<Name>(conn)
        .expect("list the tables")
        .into_iter()
        .map(|n| n.name)
        .collect()
}

/// Both migration sets, the shared one and My API's, revert to nothing and apply again on
/// the run's backend: PostgreSQL's set is checked whenever the run names a server.
#[test]
fn every_migration_reverts_and_applies_again_on_the_runs_backend() {
    use shared::storage::db::{AnyConnection, MIGRATIONS};

    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = test_support::testdb::TestDb::create(dir.path(), "migrations");
    shared::storage::db::migrate(db.url(), &[my_api::MIGRATIONS]).expect("migrate");
    let mut conn = db.connect();
    let full = tables(&mut conn);
    assert!(full.contains(&"social_links".to_owned()), "{full:?}");

    // The two sets interleave by version, so they are reverted as one.
    match &mut conn {
        AnyConnection::Sqlite(c) => c
            .revert_all_migrations(Both(&MIGRATIONS.sqlite, &my_api::MIGRATIONS.sqlite))
            .expect("revert"),
        AnyConnection::Postgres(c) => c
            .revert_all_migrations(Both(&MIGRATIONS.postgres, &my_api::MIGRATIONS.postgres))
            .expect("revert"),
    };
    assert_eq!(tables(&mut conn), Vec::<String>::new());

    for set in [&MIGRATIONS, &my_api::MIGRATIONS] {
        shared::storage::db::run_pending(&mut conn, set).expect("migrate again");
    }
    assert_eq!(tables(&mut conn), full);
}
