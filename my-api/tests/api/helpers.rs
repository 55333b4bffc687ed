//! `spawn_app()`: the real Fake Social Site and the real My API, each on port 0 over its own
//! SQLite file holding its demo fixture, My API pointed at that FSS. `spawn_app_with_provider`
//! starts My API alone, pointed at a provider the test controls (see `fake_provider`).
//! `TestApp` has a typed method per endpoint and reads the databases directly.

use std::time::Duration;

use actix_web::dev::ServerHandle;
use diesel::prelude::*;
use reqwest::header::{CACHE_CONTROL, PRAGMA};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use shared::security::secret::Secret;
use shared::storage::db::AnyConnection;
use shared::storage::db::Db;
use shared::storage::schema::users;
use tempfile::TempDir;
pub use test_support::db::TEST_COST;
use test_support::db::{cheapen_passwords, create_user, load_fixture};
pub use test_support::http::{
    array, assert_json, assert_oauth2_error as assert_error, header, json_body, string,
};
use test_support::http::{password_form, post_form};
use test_support::testdb::TestDb;

/// My API's public client `my-api-app` (password, refresh, token exchange, convert_token).
pub const MY_API_CLIENT: &str = "UvIhfUE25cCw0dOWNzvST2ciOm30uO3IqsdZRgj1";
/// Fake Social Site's public password-grant client `my-api-app`.
pub const FSS_CLIENT: &str = "ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d";

pub const FSS: &str = "fake_social_site";
pub const FSS_WITH_PARAMS: &str = "fake_social_site_with_params";
pub const BACKENDS: [&str; 2] = [FSS, FSS_WITH_PARAMS];

pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The original's answer when the provider refuses the token, word for word.
pub const UNSUCCESSFUL: &str = "Unable to complete token exchange with social backend.";

/// How long My API waits for a provider the test controls: short, so that the timeout test
/// is quick.
pub const SOCIAL_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
pub const SOCIAL_TIMEOUT: Duration = Duration::from_millis(2_000);
/// How long My API waits for the real FSS: no test expects it to be slow, so a generous
/// limit keeps a busy machine from turning a slow answer into a failed test.
const REAL_FSS_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the real Fake Social Site of a test listens and keeps its data.
pub struct Fss {
    pub address: String,
    /// A fresh database on the run's backend (see `test_support::testdb`).
    pub db: TestDb,
    handle: ServerHandle,
}

pub struct TestApp {
    /// My API's `http://127.0.0.1:<port>`.
    pub address: String,
    /// A fresh database on the run's backend (see `test_support::testdb`).
    pub db: TestDb,
    /// The real FSS; `None` for an app pointed at a fake provider.
    pub fss: Option<Fss>,
    pub http: reqwest::Client,
    /// My API's client secret at the provider (for checking it never reaches a log).
    pub introspection_secret: String,
    handle: ServerHandle,
    /// Holds both databases; deleted when the test ends.
    _dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends its command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
        if let Some(fss) = &self.fss {
            drop(fss.handle.stop(false));
        }
    }
}

/// One way into the exchange: the original's route (form body or query string), or a grant
/// on `/o/token/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    RegisterPost,
    RegisterGet,
    TokenExchange,
    ConvertToken,
}

impl Door {
    pub const ALL: [Door; 4] = [
        Door::RegisterPost,
        Door::RegisterGet,
        Door::TokenExchange,
        Door::ConvertToken,
    ];

    /// The register route's two forms: the token in a form body or in the query string.
    pub const REGISTER: [Door; 2] = [Door::RegisterPost, Door::RegisterGet];
}

/// The `/o/token/` form of an exchange grant for `client`: RFC 8693 token exchange (with
/// `door` [`Door::TokenExchange`]) or `convert_token`.
pub fn exchange_form<'a>(
    door: Door,
    backend: &'a str,
    token: &'a str,
    client: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut form = if door == Door::TokenExchange {
        vec![
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", token),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("subject_issuer", backend),
        ]
    } else {
        vec![
            ("grant_type", "convert_token"),
            ("backend", backend),
            ("token", token),
        ]
    };
    form.push(("client_id", client));
    form
}

/// `form` with the `username` field the backends with parameters need.
pub fn with_username<'a>(
    mut form: Vec<(&'a str, &'a str)>,
    username: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    form.extend(username.map(|u| ("username", u)));
    form
}

/// Both real services, FSS first so that My API can be pointed at it. The demo accounts'
/// fixture hashes cost 0.3 s per login in a debug build, so their passwords (the same ones)
/// are stored again at the test cost.
pub async fn spawn_app() -> TestApp {
    spawn(Hashes::Cheap, |_| {})
}

/// Like [`spawn_app`], with My API's settings adjusted by `configure` before it starts.
pub async fn spawn_app_configured(configure: impl FnOnce(&mut my_api::Settings)) -> TestApp {
    spawn(Hashes::Cheap, configure)
}

/// Like [`spawn_app`], with the demo accounts' password hashes as the fixtures ship them.
pub async fn spawn_app_with_fixture_hashes() -> TestApp {
    spawn(Hashes::AsShipped, |_| {})
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hashes {
    Cheap,
    AsShipped,
}

fn spawn(hashes: Hashes, configure: impl FnOnce(&mut my_api::Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let fss_db = TestDb::create(dir.path(), "fss");
    load_fixture(&fss_db, "fake-social-site.json", &[], &[]);
    if hashes == Hashes::Cheap {
        cheapen_passwords(&fss_db, &[("admin", "admin"), ("user1", "user1")]);
    }
    let mut settings = fake_social_site::Settings::new(fss_db.url(), "127.0.0.1:0");
    settings.provider.bcrypt_cost = TEST_COST;
    settings.provider.workers = Some(1);
    // Tests edit FSS's database directly (a renamed user), which its token cache would only
    // notice after TOKEN_CACHE_SECONDS.
    settings.provider.token_cache_seconds = 0;
    let fss = fake_social_site::Application::build(settings).expect("build Fake Social Site");
    let fss_address = fss.url().to_owned();
    let fss_handle = fss.handle();
    actix_rt::spawn(fss.run_until_stopped());
    let secret = {
        let db = Db::open(&fss_db.config(), &[]).expect("open FSS's database");
        let mut conn = db.get().expect("a connection to FSS's database");
        // Allowed to introspect: the exchange asks FSS about every token it is handed.
        shared::storage::applications::provision_confidential(
            &mut conn,
            INTROSPECTION_CLIENT,
            "My API",
            true,
        )
        .expect("provision My API's introspection client")
    };
    let mut app = start_my_api(
        dir,
        TestDb::create,
        &fss_address,
        REAL_FSS_TIMEOUT,
        hashes,
        (INTROSPECTION_CLIENT, secret),
        configure,
    );
    app.fss = Some(Fss {
        address: fss_address,
        db: fss_db,
        handle: fss_handle,
    });
    app
}

/// My API alone, taking profiles from `provider_url` with the short test timeouts.
pub async fn spawn_app_with_provider(provider_url: &str) -> TestApp {
    spawn_app_with_provider_timeout(provider_url, SOCIAL_TIMEOUT).await
}

/// My API alone, taking profiles from `provider_url` and waiting up to `timeout` for them.
pub async fn spawn_app_with_provider_timeout(provider_url: &str, timeout: Duration) -> TestApp {
    alone(TestDb::create, provider_url, timeout)
}

/// Like [`spawn_app_with_provider`], always on a SQLite file, for the tests about SQLite
/// itself (its write lock).
pub async fn spawn_sqlite_app_with_provider(provider_url: &str) -> TestApp {
    alone(TestDb::sqlite, provider_url, SOCIAL_TIMEOUT)
}

fn alone(database: Database, provider_url: &str, timeout: Duration) -> TestApp {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    // The fake provider answers introspection without checking the credentials.
    let credentials = (INTROSPECTION_CLIENT, Secret::from("unchecked"));
    start_my_api(
        dir,
        database,
        provider_url,
        timeout,
        Hashes::Cheap,
        credentials,
        |_| {},
    )
}

/// My API's confidential client at the provider, for introspection.
pub const INTROSPECTION_CLIENT: &str = "my-api-introspection";

/// Where a test's database is made: [`TestDb::create`] (the run's backend) or
/// [`TestDb::sqlite`].
type Database = fn(&std::path::Path, &str) -> TestDb;

fn start_my_api(
    dir: TempDir,
    database: Database,
    provider_url: &str,
    timeout: Duration,
    hashes: Hashes,
    (client_id, secret): (&str, Secret),
    configure: impl FnOnce(&mut my_api::Settings),
) -> TestApp {
    let db = database(dir.path(), "my_api");
    load_fixture(
        &db,
        "my-api.json",
        &[my_api::MIGRATIONS],
        my_api::fixtures::LOADERS,
    );
    if hashes == Hashes::Cheap {
        cheapen_passwords(&db, &[("admin", "admin")]);
    }
    let mut settings = my_api::Settings::new(db.url(), "127.0.0.1:0");
    settings.provider.bcrypt_cost = TEST_COST;
    settings.provider.workers = Some(1);
    settings.social.fake_social_site_url = provider_url.to_owned();
    settings.social.fake_social_site_client_id = Some(client_id.to_owned());
    let introspection_secret = secret.expose().to_owned();
    settings.social.fake_social_site_client_secret = Some(secret);
    settings.social.social_connect_timeout_ms = millis(SOCIAL_CONNECT_TIMEOUT);
    settings.social.social_timeout_ms = millis(timeout);
    configure(&mut settings);
    let app = my_api::Application::build(settings).expect("build My API");
    // Where it listens, which is not its public URL when a test configures one.
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    actix_rt::spawn(app.run_until_stopped());
    let http = test_support::http::client();
    TestApp {
        address,
        db,
        fss: None,
        http,
        introspection_secret,
        handle,
        _dir: dir,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).expect("a short duration")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn fss(&self) -> &Fss {
        self.fss
            .as_ref()
            .expect("this test runs with the real Fake Social Site")
    }

    /// Stops Fake Social Site; My API stays up.
    pub async fn stop_fss(&self) {
        self.fss().handle.stop(false).await;
    }

    // --- Fake Social Site -----------------------------------------------------------------

    /// The password grant on FSS for its client `my-api-app`.
    pub async fn fss_password_grant(&self, username: &str, password: &str) -> Response {
        self.fss_password_grant_for(FSS_CLIENT, username, password)
            .await
    }

    /// The password grant on FSS for any of its clients.
    pub async fn fss_password_grant_for(
        &self,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> Response {
        let form = password_form(client_id, username, password);
        let url = format!("{}/o/token/", self.fss().address);
        post_form(&self.http, &url, &form).await
    }

    /// An FSS access token for `username`.
    pub async fn fss_token(&self, username: &str, password: &str) -> String {
        let response = self.fss_password_grant(username, password).await;
        let body = json_body(response, StatusCode::OK).await;
        string(&body, "access_token")
    }

    // --- My API's token endpoint and the exchange -----------------------------------------

    pub async fn post_token(&self, form: &[(&str, &str)]) -> Response {
        post_form(&self.http, &self.url("/o/token/"), form).await
    }

    /// My API's password grant for its own users.
    pub async fn local_password_grant(&self, username: &str, password: &str) -> Response {
        self.post_token(&password_form(MY_API_CLIENT, username, password))
            .await
    }

    pub async fn local_password_grant_with_scope(
        &self,
        username: &str,
        password: &str,
        scope: &str,
    ) -> Response {
        let mut form = password_form(MY_API_CLIENT, username, password);
        form.push(("scope", scope));
        self.post_token(&form).await
    }

    /// The refresh grant on My API's `/o/token/`, for its client.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", MY_API_CLIENT),
        ];
        self.post_token(&form).await
    }

    /// A My API access token for a local user.
    pub async fn local_token(&self, username: &str, password: &str) -> String {
        let response = self.local_password_grant(username, password).await;
        let body = assert_token_answer(response).await;
        string(&body, "access_token")
    }

    /// `POST /users/register-by-token/<backend>/` with a form body.
    pub async fn register_by_token(
        &self,
        backend: &str,
        token: &str,
        username: Option<&str>,
    ) -> Response {
        self.exchange(Door::RegisterPost, backend, token, username)
            .await
    }

    /// PUT and PATCH (with `rename`) and DELETE of item 1 with `token`, not its owner's:
    /// each a 403 with a `detail`, and the item as it was.
    pub async fn assert_item_1_is_not_changed_by(&self, token: &str, rename: &Value) {
        for (method, body) in [
            (Method::PUT, Some(rename)),
            (Method::PATCH, Some(rename)),
            (Method::DELETE, None),
        ] {
            let response = self
                .request(method.clone(), "/api/items/1/", Some(token), body)
                .await;
            let refused = json_body(response, StatusCode::FORBIDDEN).await;
            assert!(refused["detail"].is_string(), "{method}: {refused}");
        }
        self.assert_item_1_is_as_loaded().await;
    }

    /// Item 1 as the fixture loads it: "Item A", the administrator's.
    pub async fn assert_item_1_is_as_loaded(&self) {
        let item = json_body(self.get_api("/api/items/1/", None).await, StatusCode::OK).await;
        assert_eq!(
            (&item["name"], &item["owner"]),
            (&"Item A".into(), &"admin".into())
        );
    }

    /// The exchange through `door`, as My API's client: the register route with the token
    /// (and `username`) in a form body (POST) or the query string (GET, the original's form),
    /// or one of the `/o/token/` grants.
    pub async fn exchange(
        &self,
        door: Door,
        backend: &str,
        token: &str,
        username: Option<&str>,
    ) -> Response {
        let (get, url) = match door {
            Door::RegisterPost => (false, format!("/users/register-by-token/{backend}/")),
            Door::RegisterGet => (true, format!("/users/register-by-token/{backend}/")),
            Door::TokenExchange | Door::ConvertToken => {
                let form = exchange_form(door, backend, token, MY_API_CLIENT);
                return self.post_token(&with_username(form, username)).await;
            }
        };
        let fields = with_username(vec![("access_token", token)], username);
        let request = if get {
            self.http.get(self.url(&url)).query(&fields)
        } else {
            self.http.post(self.url(&url)).form(&fields)
        };
        request.send().await.expect("the register route")
    }

    /// A successful exchange through the form-body register route: the My API token.
    pub async fn exchange_token(&self, fss_token: &str) -> String {
        let response = self.register_by_token(FSS, fss_token, None).await;
        let body = assert_token_answer(response).await;
        string(&body, "access_token")
    }

    // --- the resource API -----------------------------------------------------------------

    pub async fn get_api(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    /// A request with an optional bearer token and an optional JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("an API request")
    }

    pub async fn post_item(&self, token: Option<&str>, name: &str) -> Response {
        let body = serde_json::json!({ "name": name });
        self.request(Method::POST, "/api/items/", token, Some(&body))
            .await
    }

    pub async fn post_concept(&self, token: &str, body: &Value) -> Response {
        self.request(Method::POST, "/api/concepts/", Some(token), Some(body))
            .await
    }

    /// The caller's own entry in `/api/users/` (the only one showing an email).
    pub async fn me(&self, token: &str) -> Value {
        let response = self.get_api("/api/users/", Some(token)).await;
        let users = json_body(response, StatusCode::OK).await;
        let mine: Vec<&Value> = results(&users)
            .iter()
            .filter(|user| user.get("email").is_some())
            .collect();
        assert_eq!(mine.len(), 1, "exactly one user shows an email: {users}");
        mine[0].clone()
    }

    // --- the databases --------------------------------------------------------------------

    /// My API's database.
    pub fn db(&self) -> AnyConnection {
        self.db.connect()
    }

    /// Fake Social Site's database.
    pub fn fss_db(&self) -> AnyConnection {
        self.fss().db.connect()
    }

    /// Rows in My API's `users`.
    pub fn count_users(&self) -> i64 {
        users::table
            .count()
            .get_result(&mut self.db())
            .expect("count users")
    }

    /// Rows in My API's `social_links`.
    pub fn count_social_links(&self) -> i64 {
        use my_api::schema::social_links;
        social_links::table
            .count()
            .get_result(&mut self.db())
            .expect("count social links")
    }

    /// The local users linked to one social identity.
    pub fn linked_users(&self, backend: &str, uid: i64) -> Vec<i64> {
        use my_api::schema::social_links;
        social_links::table
            .filter(social_links::provider.eq(backend))
            .filter(social_links::uid.eq(uid.to_string()))
            .select(social_links::user_id)
            .load(&mut self.db())
            .expect("read social links")
    }

    /// (users, social links) in My API's database.
    pub fn accounts(&self) -> (i64, i64) {
        (self.count_users(), self.count_social_links())
    }

    /// A local My API user whose password is hashed at the test cost.
    pub fn create_local_user(
        &self,
        username: &str,
        password: &str,
    ) -> shared::storage::users::User {
        create_user(&mut self.db(), username, password)
    }

    /// A Fake Social Site user whose password is hashed at the test cost.
    pub fn create_fss_user(&self, username: &str, password: &str) -> shared::storage::users::User {
        create_user(&mut self.fss_db(), username, password)
    }

    /// Changes a Fake Social Site user's first name, as if they had edited their profile.
    pub fn set_fss_first_name(&self, username: &str, first_name: &str) {
        let updated = diesel::update(users::table.filter(users::username.eq(username)))
            .set(users::first_name.eq(first_name))
            .execute(&mut self.fss_db())
            .expect("update the FSS user");
        assert_eq!(updated, 1, "no FSS user {username}");
    }
}

// --- assertions ---------------------------------------------------------------------------

/// Asserts the original's refusal, exactly.
pub async fn assert_unsuccessful(response: Response) {
    let body = json_body(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        body,
        serde_json::json!({
            "error": "unsuccessful_token_exchange",
            "error_description": UNSUCCESSFUL,
        })
    );
}

/// Asserts a successful token answer as `/o/token/` gives it; returns the body.
pub async fn assert_token_answer(response: Response) -> Value {
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    assert_eq!(header(&response, PRAGMA), "no-cache");
    let body = json_body(response, StatusCode::OK).await;
    assert!(
        body["access_token"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 36_000, "{body}");
    assert_eq!(body["scope"], "read write", "{body}");
    body
}

/// The `results` of a page of a list under `/api/` (DRF's `{"count", "next", "previous",
/// "results"}`).
pub fn results(page: &Value) -> &Vec<Value> {
    for field in ["count", "next", "previous"] {
        assert!(page.get(field).is_some(), "no {field} in the page {page}");
    }
    array(&page["results"])
}
