//! What the README promises about the binary and its settings: `migrate`, `createapplication`
//! (with `--rotate-secret`), `sqlite://` database URLs, `SIGNING_KEY_FILE`, `PUBLIC_URL`, and
//! Django's bcrypt password formats in fixtures.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_social_site::{Application, Settings};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::oauth2::settings::ProviderSettings;
use shared::security::password::{self, PasswordHasher};
use shared::security::secret::{Secret, sha256_hex};

use crate::helpers::{
    MY_API_APP, TEST_COST, TestApp, assert_oauth2_error, json_body, password_form, spawn_app,
    spawn_app_with,
};
use crate::keys::test_key;

const BINARY: &str = env!("CARGO_BIN_EXE_fake-social-site");

/// Runs the binary in `dir` with only the environment given.
pub(crate) fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(BINARY)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run fake-social-site")
}

/// Like [`run`] for a command that should end by itself; fails if it is still running after
/// a minute (a service that serves instead of refusing to start), and stops it.
pub(crate) fn run_to_exit(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut child = Command::new(BINARY)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fake-social-site");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("poll the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect the output");
            panic!("still running: {}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect the output")
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_migrated(path: &Path) {
    let tables = test_support::db::tables(path);
    for table in ["users", "applications", "access_tokens", "refresh_tokens"] {
        assert!(tables.iter().any(|t| t == table), "no {table}: {tables:?}");
    }
}

// --- migrate and database URLs -------------------------------------------------------------

#[test]
fn migrate_applies_the_migrations_to_a_fresh_file_and_may_run_twice() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("fresh.sqlite3");
    let db = db.to_str().expect("a UTF-8 path");
    for _ in 0..2 {
        let stdout = succeeded(&run(dir.path(), &[], &["migrate", "--database", db]));
        assert!(stdout.contains("Migrations applied"), "{stdout}");
        assert_migrated(Path::new(db));
    }
}

#[test]
fn the_database_may_be_given_as_a_sqlite_url_absolute_or_relative() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(dir.path().join("sub")).expect("a subdirectory");
    // sqlite:///abs/path, as a flag before the command.
    let absolute = dir.path().join("absolute.sqlite3");
    let url = format!("sqlite://{}", absolute.to_str().expect("a UTF-8 path"));
    assert!(url.starts_with("sqlite:///"), "{url}");
    succeeded(&run(dir.path(), &[], &["--database", &url, "migrate"]));
    assert_migrated(&absolute);
    // sqlite://relative, from DATABASE_URL, relative to the working directory.
    let env = [("DATABASE_URL", "sqlite://sub/relative.sqlite3")];
    succeeded(&run(dir.path(), &env, &["migrate"]));
    assert_migrated(&dir.path().join("sub/relative.sqlite3"));
    // No file named after the URL itself.
    assert!(!dir.path().join("sqlite:").exists());
}

// --- createapplication ---------------------------------------------------------------------

/// The value printed after `label: `.
fn printed(stdout: &str, label: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{label}: ")))
        .map(str::to_owned)
}

/// A password grant as the confidential client `client_id`, authenticated with HTTP Basic.
async fn confidential_grant(app: &TestApp, client_id: &str, secret: &str) -> reqwest::Response {
    app.http
        .post(app.url("/o/token/"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin"),
        ])
        .send()
        .await
        .expect("POST /o/token/")
}

#[actix_rt::test]
async fn createapplication_prints_a_confidential_secret_once_and_rotate_secret_replaces_it() {
    let app = spawn_app_with(|s| s.token_cache_seconds = 0).await;
    let dir = app.dir();
    let db = app.db.url_arg();
    let db = db.as_str();
    let create = [
        "createapplication",
        "--name",
        "Backend",
        "--client-id",
        "backend",
        "--client-type",
        "confidential",
        "--grant-type",
        "password",
        "--database",
        db,
    ];
    let stdout = succeeded(&run(dir, &[], &create));
    assert_eq!(printed(&stdout, "client_id").as_deref(), Some("backend"));
    let old = printed(&stdout, "client_secret").expect("the secret is printed");
    // Only the hash is stored.
    let stored = app
        .stored_client_secret_hash("backend")
        .expect("a stored secret");
    assert!(!stored.contains(&old), "{stored}");
    assert_eq!(
        stored,
        shared::storage::applications::hash_secret(&Secret::from(old.as_str()))
    );
    json_body(
        confidential_grant(&app, "backend", &old).await,
        StatusCode::OK,
    )
    .await;
    // Without --rotate-secret an existing client is an error, and its secret stays.
    let again = run(dir, &[], &create);
    assert!(!again.status.success());
    assert_eq!(
        printed(&String::from_utf8_lossy(&again.stdout), "client_secret"),
        None
    );

    let mut rotate = create.to_vec();
    rotate.push("--rotate-secret");
    let stdout = succeeded(&run(dir, &[], &rotate));
    let new = printed(&stdout, "client_secret").expect("the new secret is printed");
    assert_ne!(new, old);
    assert_eq!(stdout.matches(new.as_str()).count(), 1, "{stdout}");

    let response = confidential_grant(&app, "backend", &old).await;
    assert_oauth2_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    json_body(
        confidential_grant(&app, "backend", &new).await,
        StatusCode::OK,
    )
    .await;
    let stored = app
        .stored_client_secret_hash("backend")
        .expect("a stored secret");
    assert!(!stored.contains(&new), "{stored}");
}

#[actix_rt::test]
async fn createapplication_of_a_public_client_prints_no_secret_and_stores_none() {
    let app = spawn_app().await;
    let dir = app.dir();
    let db = app.db.url_arg();
    let db = db.as_str();
    let stdout = succeeded(&run(
        dir,
        &[],
        &[
            "--database",
            db,
            "createapplication",
            "--name",
            "Mobile app",
        ],
    ));
    assert!(!stdout.contains("client_secret"), "{stdout}");
    let client_id = printed(&stdout, "client_id").expect("the client id is printed");
    assert_eq!(client_id.len(), 40, "{client_id}");
    assert_eq!(app.stored_client_secret_hash(&client_id), None);
    // The default grant is password: the public client logs users in with its id alone.
    let response = app
        .post_token(&password_form(&client_id, "admin", "admin"))
        .await;
    json_body(response, StatusCode::OK).await;
}

// --- SIGNING_KEY_FILE and PUBLIC_URL ------------------------------------------------------------

/// Another instance on `app`'s database with these provider settings; returns its bound
/// address (its public URL may be another).
async fn instance(app: &TestApp, configure: impl FnOnce(&mut ProviderSettings)) -> String {
    let mut provider = ProviderSettings {
        bcrypt_cost: TEST_COST,
        workers: Some(1),
        token_cache_seconds: 0,
        ..ProviderSettings::default()
    };
    configure(&mut provider);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    let address = format!(
        "http://{}",
        listener.local_addr().expect("the bound address")
    );
    let settings = Settings {
        bind: "127.0.0.1:0".to_owned(),
        db: app.db_config(),
        provider,
        oidc: Default::default(),
    };
    let other = Application::build_with_listener(settings, listener).expect("build the instance");
    actix_rt::spawn(other.run_until_stopped());
    address
}

async fn admin_token_at(app: &TestApp, base: &str) -> String {
    let response = app
        .http
        .post(format!("{base}/o/token/"))
        .form(&password_form(MY_API_APP, "admin", "admin"))
        .send()
        .await
        .expect("POST /o/token/");
    let body = json_body(response, StatusCode::OK).await;
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

async fn get_at(app: &TestApp, base: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let request = app.http.get(format!("{base}{path}"));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("a GET request")
}

#[actix_rt::test]
async fn tokens_are_signed_with_the_configured_key_and_name_the_public_url() {
    const PUBLIC: &str = "https://fss.example";
    let app = spawn_app().await;
    let configured = |s: &mut ProviderSettings| {
        s.signing_key_file = Some(test_key("p256.pem"));
        s.public_url = Some(PUBLIC.to_owned());
    };
    let first = instance(&app, configured).await;
    let token = admin_token_at(&app, &first).await;

    // The token verifies with the configured key's public half (made by openssl, not by us),
    // issued by and for the public URL.
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[PUBLIC]);
    validation.set_audience(&[PUBLIC]);
    let public = std::fs::read(test_key("p256.pub.pem")).expect("the public key");
    let key = DecodingKey::from_ec_pem(&public).expect("a key");
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .expect("the token verifies with the configured key")
        .claims;
    assert_eq!(
        (&claims["iss"], &claims["aud"]),
        (&json!(PUBLIC), &json!(PUBLIC))
    );
    let metadata = get_at(
        &app,
        &first,
        "/.well-known/oauth-authorization-server",
        None,
    )
    .await;
    let metadata = json_body(metadata, StatusCode::OK).await;
    assert_eq!(metadata["issuer"], PUBLIC);
    assert_eq!(metadata["token_endpoint"], format!("{PUBLIC}/o/token/"));

    // Another instance with the same key and public URL accepts it; one with another public
    // URL does not, nor does a service on another database (with keys of its own).
    let same = instance(&app, configured).await;
    let other_url = instance(&app, |s| {
        configured(s);
        s.public_url = Some("https://elsewhere.example".to_owned());
    })
    .await;
    let another_database = spawn_app().await;
    let elsewhere = instance(&another_database, |s| {
        s.public_url = Some(PUBLIC.to_owned())
    })
    .await;
    for (base, status) in [
        (&first, StatusCode::OK),
        (&same, StatusCode::OK),
        (&other_url, StatusCode::UNAUTHORIZED),
        (&elsewhere, StatusCode::UNAUTHORIZED),
    ] {
        let response = get_at(&app, base, "/user_details/", Some(&token)).await;
        assert_eq!(response.status(), status, "{base}");
    }
}

#[actix_rt::test]
async fn the_former_signing_key_setting_stops_the_service_and_names_its_replacement() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let secret = "k".repeat(40);
    let serve = [
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--database",
        "old.sqlite3",
    ];
    for (env, extra) in [
        (vec![("SIGNING_KEY", secret.as_str())], vec![]),
        (vec![], vec!["--signing-key", secret.as_str()]),
    ] {
        let args: Vec<&str> = serve.iter().copied().chain(extra).collect();
        // The refusal comes before serving, so the process ends on its own; one that serves
        // instead is stopped after a generous while.
        let output = run_to_exit(dir.path(), &env, &args);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("SIGNING_KEY_FILE"), "{stderr}");
        assert!(
            !stderr.contains(&secret),
            "the secret is not shown: {stderr}"
        );
    }
}

// --- Django's bcrypt formats ---------------------------------------------------------------

#[actix_rt::test]
async fn django_bcrypt_and_bcrypt_sha256_users_log_in_and_are_rehashed_with_plain_bcrypt() {
    let app = spawn_app().await;
    let hasher = PasswordHasher::new(TEST_COST, 1);
    let bcrypt = |password: &str| hasher.hash_blocking(&Secret::from(password)).expect("hash");
    // Django's BCryptPasswordHasher and BCryptSHA256PasswordHasher (bcrypt of the hex digest).
    let plain = format!("bcrypt${}", bcrypt("from-bcrypt"));
    let sha256 = format!("bcrypt_sha256${}", bcrypt(&sha256_hex("from-sha256")));
    let file = app.dir().join("django-bcrypt.json");
    let user = |pk: i64, username: &str, password: &str| {
        json!({"model": "auth.user", "pk": pk, "fields": {
            "username": username, "password": password, "is_active": true,
            "date_joined": "2015-07-03T19:00:00Z"}})
    };
    let records = json!([user(60, "djbcrypt", &plain), user(61, "djsha256", &sha256)]);
    std::fs::write(&file, records.to_string()).expect("write the fixture");
    shared::storage::fixtures::load_file(&mut app.db(), &file, &[]).expect("load the fixture");

    for (username, password, prefix) in [
        ("djbcrypt", "from-bcrypt", "bcrypt$"),
        ("djsha256", "from-sha256", "bcrypt_sha256$"),
    ] {
        assert!(app.stored_password_hash(username).starts_with(prefix));
        let wrong = app.password_grant(username, "wrong").await;
        assert_oauth2_error(wrong, StatusCode::BAD_REQUEST, "invalid_grant").await;
        assert!(app.stored_password_hash(username).starts_with(prefix));

        let token = app.login(username, password).await.access_token;

        let rehashed = app.stored_password_hash(username);
        assert!(rehashed.starts_with("$2"), "{username}: {rehashed}");
        assert!(password::matches(&Secret::from(password), &rehashed));
        let body = json_body(app.user_details(&token).await, StatusCode::OK).await;
        assert_eq!(body["username"], username);
        app.login(username, password).await;
    }
}
