//! Moving a running deployment from SQLite to another database (PostgreSQL in CI's PostgreSQL
//! stage): the real `dumpdata` on a SQLite file, the real `loaddata` into the run's database,
//! and My API started on it keeps what the source promised: old access tokens accepted,
//! refresh tokens rotating, revoked ones refused (reuse detection included), social users
//! logging in as themselves, and new rows getting fresh ids. Also what `dumpdata --output`
//! promises about its file.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use actix_web::dev::ServerHandle;
use diesel::prelude::*;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use shared::security::secret::Secret;
use shared::storage::schema::users;
use test_support::db::{cheapen_passwords, create_user, load_fixture};
use test_support::http::{json_body, password_form, post_form, string};
use test_support::testdb::TestDb;

use crate::helpers::{
    FSS, INTROSPECTION_CLIENT, MY_API_CLIENT, TEST_COST, assert_error, spawn_app,
};

const BINARY: &str = env!("CARGO_BIN_EXE_my-api");

/// The public URL both sides serve under: a moved deployment keeps it, and the tokens it
/// handed out name it as their issuer.
const PUBLIC_URL: &str = "https://api.example.test";

/// Runs `my-api --database <db> <args>`; its stdout, which must succeed.
fn manage(db: &TestDb, args: &[&str]) -> String {
    test_support::process::manage_ok(Path::new(BINARY), &db.url_arg(), args, &[])
}

/// Runs `my-api --database <db> <args>` with an empty environment; (success, stdout, stderr).
fn try_manage(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    test_support::process::manage(Path::new(BINARY), &db.url_arg(), args, &[])
}

/// One My API over `db`, pointed at the real Fake Social Site at `fss_url`.
struct MyApi {
    address: String,
    http: reqwest::Client,
    handle: ServerHandle,
}

impl Drop for MyApi {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl MyApi {
    fn start(db: &TestDb, fss_url: &str, introspection_secret: &str) -> MyApi {
        let mut settings = my_api::Settings::new(db.url(), "127.0.0.1:0");
        settings.provider.bcrypt_cost = TEST_COST;
        settings.provider.workers = Some(1);
        settings.provider.public_url = Some(PUBLIC_URL.to_owned());
        // Each answer from the database, so a token rotated here is refused at once.
        settings.provider.token_cache_seconds = 0;
        settings.social.fake_social_site_url = fss_url.to_owned();
        settings.social.fake_social_site_client_id = Some(INTROSPECTION_CLIENT.to_owned());
        settings.social.fake_social_site_client_secret = Some(Secret::from(introspection_secret));
        let app = my_api::Application::build(settings).expect("build My API");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        actix_rt::spawn(app.run_until_stopped());
        MyApi {
            address,
            http: test_support::http::client(),
            handle,
        }
    }

    async fn token(&self, form: &[(&str, &str)]) -> Response {
        post_form(&self.http, &format!("{}/o/token/", self.address), form).await
    }

    /// A token pair from the password grant: (access, refresh).
    async fn login(&self, username: &str, password: &str) -> (String, String) {
        let response = self
            .token(&password_form(MY_API_CLIENT, username, password))
            .await;
        pair(json_body(response, StatusCode::OK).await)
    }

    async fn refresh(&self, refresh_token: &str) -> Response {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", MY_API_CLIENT),
        ];
        self.token(&form).await
    }

    async fn revoke(&self, token: &str) {
        let form = [("token", token), ("client_id", MY_API_CLIENT)];
        let url = format!("{}/o/revoke_token/", self.address);
        let response = post_form(&self.http, &url, &form).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// The social sign-in: a Fake Social Site token exchanged for a pair of My API's.
    async fn exchange(&self, fss_token: &str) -> (String, String) {
        let response = self
            .http
            .post(format!("{}/users/register-by-token/{FSS}/", self.address))
            .form(&[("access_token", fss_token)])
            .send()
            .await
            .expect("the exchange");
        pair(json_body(response, StatusCode::OK).await)
    }

    /// `GET /api/me/`, a protected resource.
    async fn me(&self, access_token: &str) -> Response {
        self.http
            .get(format!("{}/api/me/", self.address))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("GET /api/me/")
    }

    async fn me_id(&self, access_token: &str) -> i64 {
        let body = json_body(self.me(access_token).await, StatusCode::OK).await;
        body["id"].as_i64().expect("an id")
    }
}

fn pair(body: Value) -> (String, String) {
    (
        string(&body, "access_token"),
        string(&body, "refresh_token"),
    )
}

fn user_ids(db: &TestDb) -> Vec<i64> {
    users::table
        .select(users::id)
        .order(users::id)
        .load(&mut db.connect())
        .expect("read the users")
}

fn links(db: &TestDb) -> Vec<(i64, String)> {
    use my_api::schema::social_links;
    social_links::table
        .select((social_links::user_id, social_links::uid))
        .order(social_links::id)
        .load(&mut db.connect())
        .expect("read the social links")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[actix_rt::test]
async fn a_sqlite_deployment_moved_with_dumpdata_and_loaddata_keeps_its_users_links_and_tokens() {
    // The real Fake Social Site (the My API beside it is not used).
    let provider = spawn_app().await;
    let fss = provider.fss();
    let fss_token = |username: &'static str, password: &'static str| {
        let http = provider.http.clone();
        let url = format!("{}/o/token/", fss.address);
        async move {
            let form = password_form(crate::helpers::FSS_CLIENT, username, password);
            string(
                &json_body(post_form(&http, &url, &form).await, StatusCode::OK).await,
                "access_token",
            )
        }
    };

    // The source: a SQLite deployment with a local user, a social user and tokens.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let source_db = TestDb::sqlite(dir.path(), "source");
    load_fixture(
        &source_db,
        "my-api.json",
        &[my_api::MIGRATIONS],
        my_api::fixtures::LOADERS,
    );
    cheapen_passwords(&source_db, &[("admin", "admin")]);
    create_user(&mut source_db.connect(), "carol", "carol-pw");
    let source = MyApi::start(&source_db, &fss.address, &provider.introspection_secret);
    let (social_access, social_refresh) = source.exchange(&fss_token("user1", "user1").await).await;
    let social_user = source.me_id(&social_access).await;
    let (live_access, live_refresh) = source.login("carol", "carol-pw").await;
    let carol = source.me_id(&live_access).await;
    let (revoked_access, revoked_refresh) = source.login("carol", "carol-pw").await;
    source.revoke(&revoked_access).await;
    // A rotated refresh token: its family lives on in the new one.
    let (_, rotated) = source.login("carol", "carol-pw").await;
    let rotation = json_body(source.refresh(&rotated).await, StatusCode::OK).await;
    let (_, rotated_successor) = pair(rotation);
    let users_before = user_ids(&source_db);
    let links_before = links(&source_db);
    assert_eq!(links_before, [(social_user, "2".to_owned())]);

    // The move, as the README gives it: dump, migrate the destination, load.
    let dump = dir.path().join("dump.json");
    let said = manage(
        &source_db,
        &["dumpdata", "--output", &dump.to_string_lossy()],
    );
    assert!(said.starts_with("Dumped "), "{said}");
    assert_eq!(mode(&dump), 0o600);
    drop(source);
    let destination_db = TestDb::create(dir.path(), "destination");
    manage(&destination_db, &["migrate"]);
    let loaded = manage(&destination_db, &["loaddata", &dump.to_string_lossy()]);
    assert!(loaded.starts_with("Installed "), "{loaded}");
    assert_eq!(user_ids(&destination_db), users_before);
    let destination = MyApi::start(
        &destination_db,
        &fss.address,
        &provider.introspection_secret,
    );

    // Tokens handed out before the move: live ones work, the refresh token rotates.
    assert_eq!(destination.me_id(&live_access).await, carol);
    assert_eq!(destination.me_id(&social_access).await, social_user);
    let rotated_here = json_body(destination.refresh(&live_refresh).await, StatusCode::OK).await;
    let (new_access, _) = pair(rotated_here);
    assert_eq!(destination.me_id(&new_access).await, carol);
    assert_eq!(
        destination.me(&live_access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The revoked pair stays refused.
    assert_eq!(
        destination.me(&revoked_access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_error(
        destination.refresh(&revoked_refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // A refresh token rotated at the source is a reuse here too: it revokes its family.
    assert_error(
        destination.refresh(&rotated).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_error(
        destination.refresh(&rotated_successor).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // The social user's refresh token still rotates.
    json_body(destination.refresh(&social_refresh).await, StatusCode::OK).await;

    // The social user signs in again as the same user; no user or link is added.
    let (again, _) = destination
        .exchange(&fss_token("user1", "user1").await)
        .await;
    assert_eq!(destination.me_id(&again).await, social_user);
    assert_eq!(user_ids(&destination_db), users_before);
    assert_eq!(links(&destination_db), links_before);

    // New rows get ids after the loaded ones: a user by command, a social user by exchange.
    let created = manage(
        &destination_db,
        &[
            "createuser",
            "--username",
            "dave",
            "--password",
            "dave-pw",
            "--bcrypt-cost",
            "4",
        ],
    );
    assert!(created.contains("dave"), "{created}");
    create_user(&mut provider.fss_db(), "erin", "erin-pw");
    let (erin, _) = destination
        .exchange(&fss_token("erin", "erin-pw").await)
        .await;
    let erin_id = destination.me_id(&erin).await;
    let ids = user_ids(&destination_db);
    assert_eq!(ids.len(), users_before.len() + 2, "{ids:?}");
    assert!(
        ids.iter()
            .rev()
            .take(2)
            .all(|id| id > users_before.last().expect("users")),
        "{ids:?}"
    );
    assert!(ids.contains(&erin_id));
    assert_eq!(links(&destination_db).len(), 2);
    destination.login("dave", "dave-pw").await;
}

#[actix_rt::test]
async fn dumpdata_output_is_a_new_private_file_and_an_existing_one_is_kept() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = TestDb::create(dir.path(), "dump");
    load_fixture(
        &db,
        "my-api.json",
        &[my_api::MIGRATIONS],
        my_api::fixtures::LOADERS,
    );
    let existing = dir.path().join("existing.json");
    std::fs::write(&existing, "keep me").expect("write a file");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644))
        .expect("make it readable by all");

    let (success, stdout, stderr) =
        try_manage(&db, &["dumpdata", "--output", &existing.to_string_lossy()]);
    assert!(!success, "{stdout}");
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&existing).expect("read"), "keep me");

    let fresh = dir.path().join("fresh.json");
    manage(&db, &["dumpdata", "--output", &fresh.to_string_lossy()]);
    assert_eq!(mode(&fresh), 0o600);
    manage(
        &db,
        &[
            "dumpdata",
            "--output",
            &existing.to_string_lossy(),
            "--force",
        ],
    );
    assert_eq!(mode(&existing), 0o600, "a replaced file is private too");
    let dumped: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&existing).expect("read"))
            .expect("a JSON array");
    assert_eq!(
        std::fs::read_to_string(&fresh).expect("read"),
        std::fs::read_to_string(&existing).expect("read")
    );
    // The fixture's records, and the stdout dump is the same fixture.
    assert!(
        dumped
            .iter()
            .any(|r| r["model"] == "items.item" && r["fields"]["name"] == "Item D"),
        "{dumped:?}"
    );
    assert_eq!(
        manage(&db, &["dumpdata"]),
        std::fs::read_to_string(&fresh).expect("read")
    );
    // Nothing but the dump is left in the directory.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".json") || n.ends_with(".partial"))
        .collect();
    names.sort();
    assert_eq!(names, ["existing.json", "fresh.json"]);
}

#[test]
fn dumpdata_from_a_sqlite_file_that_is_not_there_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = TestDb::sqlite(dir.path(), "mistyped");

    let (success, stdout, stderr) = try_manage(&missing, &["dumpdata"]);

    assert!(!success, "{stdout}");
    assert!(stderr.contains("there is no database at"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}
