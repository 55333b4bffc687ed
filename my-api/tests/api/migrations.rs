//! My API's own migrations undo cleanly: reverting them leaves exactly the shared schema, and
//! applying them again gives back exactly the schema a fresh database gets. Read from SQLite's
//! own catalogue, so SQLite only.

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
