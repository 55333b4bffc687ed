//! `spawn_app()`: the service on port 0 over a fresh SQLite file holding the demo fixture,
//! and a typed method per endpoint.

use std::path::PathBuf;

use diesel::prelude::*;
use fake_social_site::{Application, Settings};
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use shared::oauth2::settings::ProviderSettings;
use shared::security::secret::Secret;
use shared::storage::applications::{self, NewApplication};
use shared::storage::db::AnyConnection;
use shared::storage::db::DbConfig;
use shared::storage::schema::{
    access_tokens, applications as applications_table, refresh_tokens, users,
};
use tempfile::TempDir;
pub use test_support::db::{TEST_COST, connect};
use test_support::http::post_form;
pub use test_support::http::{assert_json, assert_oauth2_error, header, json_body, password_form};
use test_support::testdb::TestDb;

/// The demo's public password-grant client `my-api-app`.
pub const MY_API_APP: &str = "ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d";

pub struct TestApp {
    /// `http://127.0.0.1:<port>`, also the tokens' issuer.
    pub address: String,
    /// A fresh database on the run's backend (see `test_support::testdb`).
    pub db: TestDb,
    pub http: reqwest::Client,
    /// Holds the SQLite database and the test's files; deleted when the test ends.
    dir: TempDir,
}

/// A successful `/o/token/` answer.
#[derive(Debug, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// The demo fixture this suite loads.
pub fn fixture_path() -> PathBuf {
    test_support::db::fixture_path(FIXTURE)
}

const FIXTURE: &str = "fake-social-site.json";

/// An app with the user `alice`, password `pw`.
pub async fn spawn_app_with_alice() -> TestApp {
    let app = spawn_app().await;
    app.create_user("alice", "pw");
    app
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with provider settings adjusted by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ProviderSettings)) -> TestApp {
    spawn(TestDb::create, configure)
}

/// Like [`spawn_app`], always on a SQLite file, for the tests about SQLite itself (its write
/// lock, its file).
pub async fn spawn_sqlite_app() -> TestApp {
    spawn(TestDb::sqlite, |_| {})
}

fn spawn(
    database: fn(&std::path::Path, &str) -> TestDb,
    configure: impl FnOnce(&mut ProviderSettings),
) -> TestApp {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let db = database(dir.path(), "fake-social-site");
    test_support::db::load_fixture(&db, FIXTURE, &[], &[]);
    let mut provider = ProviderSettings {
        bcrypt_cost: TEST_COST,
        workers: Some(1),
        ..ProviderSettings::default()
    };
    configure(&mut provider);
    let app = Application::build(Settings {
        bind: "127.0.0.1:0".to_owned(),
        db: db.config(),
        provider,
        oidc: Default::default(),
    })
    .expect("build the application");
    let address = app.url().to_owned();
    actix_rt::spawn(app.run_until_stopped());
    let http = test_support::http::client();
    TestApp {
        address,
        db,
        http,
        dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    // --- HTTP -------------------------------------------------------------------------

    pub async fn post_token(&self, form: &[(&str, &str)]) -> Response {
        post_form(&self.http, &self.url("/o/token/"), form).await
    }

    /// The password grant for the public client `my-api-app`.
    pub async fn password_grant(&self, username: &str, password: &str) -> Response {
        self.post_token(&password_form(MY_API_APP, username, password))
            .await
    }

    /// The password grant for `my-api-app`, asking for `scope`.
    pub async fn password_grant_with_scope(
        &self,
        username: &str,
        password: &str,
        scope: &str,
    ) -> Response {
        let mut form = password_form(MY_API_APP, username, password);
        form.push(("scope", scope));
        self.post_token(&form).await
    }

    /// `/o/token/` as a confidential client authenticating with HTTP Basic.
    pub async fn post_token_basic(
        &self,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> Response {
        self.http
            .post(self.url("/o/token/"))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("POST /o/token/")
    }

    /// A password grant that must succeed.
    pub async fn login(&self, username: &str, password: &str) -> Tokens {
        let response = self.password_grant(username, password).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "logging in as {username}"
        );
        response.json().await.expect("a token response")
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", MY_API_APP),
        ])
        .await
    }

    /// Revokes a token as `my-api-app`.
    pub async fn revoke(&self, token: &str) -> Response {
        let form = [("token", token), ("client_id", MY_API_APP)];
        post_form(&self.http, &self.url("/o/revoke_token/"), &form).await
    }

    /// Introspects `token` as `client_id`, with HTTP Basic when a secret is given.
    pub async fn introspect(&self, client_id: &str, secret: Option<&str>, token: &str) -> Response {
        let request = self.http.post(self.url("/o/introspect/"));
        let request = match secret {
            Some(secret) => request
                .basic_auth(client_id, Some(secret))
                .form(&[("token", token)]),
            None => request.form(&[("token", token), ("client_id", client_id)]),
        };
        request.send().await.expect("POST /o/introspect/")
    }

    /// Asserts that `user_details/` answers `token` with `expected`: 200 while it is a live
    /// access token, 401 once it is not.
    pub async fn assert_access(&self, token: &str, expected: StatusCode) {
        let status = self.user_details(token).await.status();
        assert_eq!(status, expected, "user_details/ with the token");
    }

    pub async fn user_details(&self, token: &str) -> Response {
        self.http
            .get(self.url("/user_details/"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /user_details/")
    }

    /// `username` goes into the path as it is: percent-encode it first if it needs to be.
    pub async fn user_details_by_username(&self, token: &str, username: &str) -> Response {
        self.http
            .get(self.url(&format!("/user_details_by_username/{username}/")))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /user_details_by_username/")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    pub async fn head(&self, path: &str, token: Option<&str>) -> Response {
        let request = self.http.head(self.url(path));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        request.send().await.expect("HEAD request")
    }

    /// RFC 8414 metadata.
    pub async fn metadata(&self) -> Response {
        self.get("/.well-known/oauth-authorization-server").await
    }

    pub async fn healthz(&self) -> Response {
        self.get("/healthz").await
    }

    pub async fn assert_healthy(&self) {
        let response = self.healthz().await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_json(&response);
    }

    // --- the database -----------------------------------------------------------------

    pub fn db(&self) -> AnyConnection {
        self.db.connect()
    }

    pub fn db_config(&self) -> DbConfig {
        self.db.config()
    }

    /// The SQLite file, for the tests about SQLite itself ([`spawn_sqlite_app`]).
    pub fn sqlite_path(&self) -> PathBuf {
        self.db.sqlite_path().expect("a SQLite test app")
    }

    /// The test's own directory, for files it writes (fixtures).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// An active user whose password is hashed at the cheapest cost.
    pub fn create_user(&self, username: &str, password: &str) -> shared::storage::users::User {
        test_support::db::create_user(&mut self.db(), username, password)
    }

    /// An active user with this stored password hash (any format the service reads).
    pub fn create_user_with_hash(
        &self,
        username: &str,
        hash: &str,
    ) -> shared::storage::users::User {
        test_support::db::create_user_with_hash(&mut self.db(), username, hash)
    }

    pub fn set_active(&self, username: &str, active: bool) {
        let updated = diesel::update(users::table.filter(users::username.eq(username)))
            .set(users::is_active.eq(active))
            .execute(&mut self.db())
            .expect("update the user");
        assert_eq!(updated, 1, "no user {username}");
    }

    pub fn stored_password_hash(&self, username: &str) -> String {
        users::table
            .filter(users::username.eq(username))
            .select(users::password)
            .get_result(&mut self.db())
            .expect("read the user's password hash")
    }

    /// A confidential client allowed the password and refresh grants.
    pub fn create_confidential_client(&self, client_id: &str, secret: &str) {
        let hash = applications::hash_secret(&Secret::from(secret));
        self.create_confidential_client_with_hash(client_id, &hash);
    }

    /// A confidential client whose stored secret is `hash` (e.g. Django's PBKDF2 format).
    pub fn create_confidential_client_with_hash(&self, client_id: &str, hash: &str) {
        applications::create(
            &mut self.db(),
            &NewApplication {
                id: None,
                client_id: client_id.to_owned(),
                name: format!("{client_id} (confidential)"),
                client_type: applications::ClientType::Confidential,
                client_secret_hash: Some(hash.to_owned()),
                grant_types: applications::GrantTypes::from_django("password")
                    .expect("a known grant"),
                user_id: None,
                created: shared::clock::now(),
            },
        )
        .expect("create the confidential client");
    }

    pub fn stored_client_secret_hash(&self, client_id: &str) -> Option<String> {
        applications_table::table
            .filter(applications_table::client_id.eq(client_id))
            .select(applications_table::client_secret_hash)
            .get_result(&mut self.db())
            .expect("read the client's secret hash")
    }

    /// A confidential client (as [`TestApp::create_confidential_client`]) allowed to
    /// introspect tokens.
    pub fn create_introspection_client(&self, client_id: &str, secret: &str) {
        self.create_confidential_client(client_id, secret);
        let granted = applications::allow_introspection(&mut self.db(), client_id, true)
            .expect("allow the client to introspect");
        assert!(granted, "no client {client_id}");
    }

    /// Moves every token's expiry into the past.
    pub fn expire_all_tokens(&self) {
        let mut conn = self.db();
        let past = shared::clock::now() - 10;
        diesel::update(access_tokens::table)
            .set(access_tokens::expires.eq(past))
            .execute(&mut conn)
            .expect("expire the access tokens");
        diesel::update(refresh_tokens::table)
            .set(refresh_tokens::expires.eq(past))
            .execute(&mut conn)
            .expect("expire the refresh tokens");
    }

    /// Rows in (users, applications).
    pub fn count_accounts(&self) -> (i64, i64) {
        let mut conn = self.db();
        let users = users::table
            .count()
            .get_result(&mut conn)
            .expect("count users");
        let apps = applications_table::table
            .count()
            .get_result(&mut conn)
            .expect("count applications");
        (users, apps)
    }

    /// Rows in (access_tokens, refresh_tokens).
    pub fn count_tokens(&self) -> (i64, i64) {
        test_support::db::count_tokens(&mut self.db())
    }
}

// --- assertions ---------------------------------------------------------------------------

pub fn www_authenticate(response: &Response) -> String {
    header(response, WWW_AUTHENTICATE)
}
