//! Moving Fake Social Site from SQLite to the run's database (PostgreSQL in CI's PostgreSQL
//! stage) with the real `dumpdata` and `loaddata`: users, applications (a confidential
//! client's secret included), live tokens, consents and the signing keys (a retired one too)
//! arrive, so the tokens handed out before the move keep working and new users get fresh ids.

use std::path::Path;

use actix_web::dev::ServerHandle;
use diesel::prelude::*;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use shared::oauth2::settings::ProviderSettings;
use shared::security::scope::Scope;
use shared::storage::schema::{consents, signing_keys, users};
use test_support::db::{TEST_COST, cheapen_passwords, create_user, load_fixture};
use test_support::http::{json_body, password_form, post_form};
use test_support::testdb::TestDb;

use crate::helpers::{MY_API_APP, Tokens};

const BINARY: &str = env!("CARGO_BIN_EXE_fake-social-site");

/// Both sides serve under one public URL, the issuer of every token.
const PUBLIC_URL: &str = "https://social.example.test";

/// Runs `fake-social-site --database <db> <args>` with an empty environment; its stdout,
/// which must succeed.
fn manage(db: &TestDb, args: &[&str]) -> String {
    test_support::process::manage_ok(Path::new(BINARY), &db.url_arg(), args, &[])
}

/// One Fake Social Site over `db`.
struct Fss {
    address: String,
    http: reqwest::Client,
    handle: ServerHandle,
}

impl Drop for Fss {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl Fss {
    fn start(db: &TestDb) -> Fss {
        let provider = ProviderSettings {
            bcrypt_cost: TEST_COST,
            workers: Some(1),
            public_url: Some(PUBLIC_URL.to_owned()),
            // Each answer from the database, so a token rotated here is refused at once.
            token_cache_seconds: 0,
            ..ProviderSettings::default()
        };
        let app = fake_social_site::Application::build(fake_social_site::Settings {
            bind: "127.0.0.1:0".to_owned(),
            db: db.config(),
            provider,
            oidc: Default::default(),
        })
        .expect("build Fake Social Site");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        actix_rt::spawn(app.run_until_stopped());
        Fss {
            address,
            http: test_support::http::client(),
            handle,
        }
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        post_form(&self.http, &format!("{}{path}", self.address), form).await
    }

    async fn login(&self, username: &str, password: &str) -> Tokens {
        let response = self
            .post("/o/token/", &password_form(MY_API_APP, username, password))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "logging in as {username}"
        );
        response.json().await.expect("a token response")
    }

    async fn refresh(&self, refresh_token: &str) -> Response {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", MY_API_APP),
        ];
        self.post("/o/token/", &form).await
    }

    async fn user_details(&self, token: &str) -> StatusCode {
        self.http
            .get(format!("{}/user_details/", self.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /user_details/")
            .status()
    }

    /// Whether `client_id` with `secret` is told that `token` is active.
    async fn introspect(&self, client_id: &str, secret: &str, token: &str) -> bool {
        let response = self
            .http
            .post(format!("{}/o/introspect/", self.address))
            .basic_auth(client_id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("POST /o/introspect/");
        json_body(response, StatusCode::OK).await["active"] == true
    }

    async fn published_kids(&self) -> Vec<String> {
        let url = format!("{}/.well-known/jwks.json", self.address);
        let response = self.http.get(url).send().await.expect("GET the JWKS");
        let jwks: Value = json_body(response, StatusCode::OK).await;
        let mut kids: Vec<String> = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("a kid").to_owned())
            .collect();
        kids.sort();
        kids
    }
}

fn stored_kids(db: &TestDb) -> Vec<String> {
    signing_keys::table
        .select(signing_keys::kid)
        .order(signing_keys::kid)
        .load(&mut db.connect())
        .expect("read the keys")
}

fn user_ids(db: &TestDb) -> Vec<i64> {
    users::table
        .select(users::id)
        .order(users::id)
        .load(&mut db.connect())
        .expect("read the users")
}

#[actix_rt::test]
async fn fake_social_site_moved_with_dumpdata_and_loaddata_keeps_its_users_clients_tokens_and_keys()
{
    let dir = tempfile::tempdir().expect("a temporary directory");
    let source_db = TestDb::sqlite(dir.path(), "source");
    load_fixture(&source_db, "fake-social-site.json", &[], &[]);
    cheapen_passwords(&source_db, &[("user1", "user1")]);
    let alice = create_user(&mut source_db.connect(), "alice", "pw");
    let secret = {
        let mut conn = source_db.connect();
        let secret = shared::storage::applications::provision_confidential(
            &mut conn, "mover", "Mover", true,
        )
        .expect("a confidential client");
        shared::storage::consents::remember(&mut conn, alice.id, 1, &Scope::all())
            .expect("a consent");
        secret
    };
    let source = Fss::start(&source_db);
    let before_rotation = source.login("alice", "pw").await;
    // The key that signed it is retired; what it signed must still verify after the move.
    manage(&source_db, &["rotatekeys", "--alg", "ES256"]);
    let live = source.login("user1", "user1").await;
    let revoked = source.login("alice", "pw").await;
    let revoke = [
        ("token", revoked.access_token.as_str()),
        ("client_id", MY_API_APP),
    ];
    assert_eq!(
        source.post("/o/revoke_token/", &revoke).await.status(),
        StatusCode::OK
    );
    let users_before = user_ids(&source_db);
    let kids_before = stored_kids(&source_db);
    assert_eq!(kids_before.len(), 2, "{kids_before:?}");

    let dump = dir.path().join("dump.json");
    manage(
        &source_db,
        &["dumpdata", "--output", &dump.to_string_lossy()],
    );
    drop(source);
    let destination_db = TestDb::create(dir.path(), "destination");
    manage(&destination_db, &["migrate"]);
    manage(&destination_db, &["loaddata", &dump.to_string_lossy()]);
    let destination = Fss::start(&destination_db);

    assert_eq!(user_ids(&destination_db), users_before);
    assert_eq!(destination.published_kids().await, kids_before);
    assert_eq!(
        destination
            .user_details(&before_rotation.access_token)
            .await,
        StatusCode::OK
    );
    assert_eq!(
        destination.user_details(&live.access_token).await,
        StatusCode::OK
    );
    assert!(
        destination
            .introspect("mover", secret.expose(), &live.access_token)
            .await
    );
    let rotated = destination.refresh(&live.refresh_token).await;
    let rotated: Tokens =
        serde_json::from_value(json_body(rotated, StatusCode::OK).await).expect("a token response");
    assert_eq!(
        destination.user_details(&rotated.access_token).await,
        StatusCode::OK
    );
    assert_eq!(
        destination.user_details(&live.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        destination.user_details(&revoked.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    let refused = destination.refresh(&revoked.refresh_token).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let consents: i64 = consents::table
        .filter(consents::user_id.eq(alice.id))
        .count()
        .get_result(&mut destination_db.connect())
        .expect("count the consents");
    assert_eq!(consents, 1);

    // A new user gets an id after the loaded ones, and logs in.
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
    let ids = user_ids(&destination_db);
    assert!(ids.last() > users_before.last(), "{ids:?}");
    destination.login("dave", "dave-pw").await;
}
