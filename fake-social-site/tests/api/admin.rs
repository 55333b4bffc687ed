//! The admin commands, run as the real binary against a running service's database: `users`,
//! `applications` and `tokens`, as a table and with `--json`, and what they change is what
//! the service then does (a deactivated user's token refused and its login refused, a
//! rotated secret replacing the old one, revoked tokens refused). Applications show their
//! OpenID Connect registration (redirect URIs, ID-token algorithm) too.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use shared::storage::applications;

use crate::helpers::{MY_API_APP, TestApp, spawn_app_with};

const BINARY: &str = env!("CARGO_BIN_EXE_fake-social-site");

/// Runs `fake-social-site --database <db> <args>` with only `env` set; (success, stdout,
/// stderr).
pub fn manage(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(BINARY)
        .env_clear()
        .envs(env.iter().copied())
        .arg("--database")
        .arg(app.db.url_arg())
        .args(args)
        .output()
        .expect("run the binary");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The command's stdout, which must succeed.
fn ok(app: &TestApp, args: &[&str]) -> String {
    let (success, stdout, stderr) = manage(app, args, &[]);
    assert!(success, "{args:?} failed: {stderr}");
    stdout
}

fn json(app: &TestApp, args: &[&str]) -> Value {
    let stdout = ok(app, args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// A service without the token cache, so that a change is seen at the next request (with it,
/// within TOKEN_CACHE_SECONDS: a command cannot reach another process's cache).
async fn uncached_app() -> TestApp {
    spawn_app_with(|settings| settings.token_cache_seconds = 0).await
}

#[actix_rt::test]
async fn users_are_listed_shown_deactivated_activated_and_given_a_new_password() {
    let app = uncached_app().await;
    let table = ok(&app, &["users", "list"]);
    let header = table.lines().next().expect("a header line");
    for column in ["ID", "USERNAME", "EMAIL", "ACTIVE"] {
        assert!(header.contains(column), "{table}");
    }
    assert!(table.lines().any(|l| l.contains("user1")), "{table}");
    let listed = json(&app, &["users", "list", "--json"]);
    let names: Vec<&str> = listed
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["admin", "user1", "user2"]);
    let shown = json(&app, &["users", "show", "user1", "--json"]);
    assert_eq!(
        (shown["id"].as_i64(), shown["active"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(
        json(&app, &["users", "show", "2", "--json"])["username"],
        "user1"
    );
    assert!(ok(&app, &["users", "show", "user1"]).contains("username:"));

    let tokens = app.login("user1", "user1").await;
    assert_eq!(
        app.user_details(&tokens.access_token).await.status(),
        StatusCode::OK
    );
    let said = ok(&app, &["users", "deactivate", "user1"]);
    assert!(said.contains("Deactivated user1"), "{said}");
    assert_eq!(
        app.user_details(&tokens.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let login = app.password_grant("user1", "user1").await;
    assert_eq!(login.status(), StatusCode::BAD_REQUEST);
    let refresh = app.refresh(&tokens.refresh_token).await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json(&app, &["users", "show", "user1", "--json"])["active"],
        false
    );

    let activated = json(&app, &["users", "activate", "user1", "--json"]);
    assert_eq!(activated["active"], true);
    assert_eq!(
        app.password_grant("user1", "user1").await.status(),
        StatusCode::OK
    );

    let new_password = "renewed-staple-battery-5e7a";
    let (success, stdout, stderr) = manage(
        &app,
        &["users", "set-password", "user1", "--bcrypt-cost", "4"],
        &[("SETPASSWORD_PASSWORD", new_password)],
    );
    assert!(success, "{stderr}");
    assert!(!stdout.contains(new_password) && !stderr.contains(new_password));
    assert_eq!(
        app.password_grant("user1", new_password).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.password_grant("user1", "user1").await.status(),
        StatusCode::BAD_REQUEST
    );

    let (success, _, stderr) = manage(&app, &["users", "deactivate", "nobody"], &[]);
    assert!(!success);
    assert!(stderr.contains(r#"no user "nobody""#), "{stderr}");
    let (success, _, stderr) = manage(&app, &["users", "set-password", "user2"], &[]);
    assert!(!success, "no password given: {stderr}");
}

#[actix_rt::test]
async fn applications_are_listed_shown_rotated_and_deleted_and_tokens_revoked() {
    let app = uncached_app().await;
    app.create_introspection_client("admin-resource-server", "first-secret-0b3c9d");
    let listed = json(&app, &["applications", "list", "--json"]);
    let ids: Vec<&str> = listed
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|a| a["client_id"].as_str())
        .collect();
    assert!(ids.contains(&MY_API_APP) && ids.contains(&"admin-resource-server"));
    let rp_callback = "https://rp.example/callback";
    applications::set_openid_client(
        &mut app.db(),
        "admin-resource-server",
        &[rp_callback.to_owned()],
        "RS256",
    )
    .expect("register the OpenID Connect fields");
    let table = ok(&app, &["applications", "list"]);
    let header = table.lines().next().expect("a header");
    for column in ["CLIENT_ID", "REDIRECT_URIS", "ID_TOKEN_ALG"] {
        assert!(header.contains(column), "{table}");
    }
    let row = table
        .lines()
        .find(|l| {
            l.starts_with(|c: char| c.is_ascii_digit()) && l.contains("admin-resource-server")
        })
        .unwrap_or_else(|| panic!("a row for the client: {table}"));
    assert!(row.contains(rp_callback) && row.contains("RS256"), "{row}");
    let listed = json(&app, &["applications", "list", "--json"]);
    let registered = listed
        .as_array()
        .expect("an array")
        .iter()
        .find(|a| a["client_id"] == "admin-resource-server")
        .expect("listed");
    assert_eq!(
        (&registered["redirect_uris"], &registered["id_token_alg"]),
        (&Value::from(rp_callback), &Value::from("RS256"))
    );
    let shown = json(&app, &["applications", "show", MY_API_APP, "--json"]);
    assert_eq!(shown["client_type"], "public");
    assert_eq!(
        shown["grant_types"],
        "password refresh_token authorization_code"
    );
    assert_eq!(
        shown["redirect_uris"],
        "http://127.0.0.1:8000/ http://localhost:8000/"
    );
    assert_eq!(shown["id_token_alg"], "ES256");
    let shown = ok(&app, &["applications", "show", MY_API_APP]);
    assert!(
        shown.lines().any(|l| l.starts_with("redirect_uris:")
            && l.ends_with("http://127.0.0.1:8000/ http://localhost:8000/")),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("id_token_alg:") && l.ends_with("ES256")),
        "{shown}"
    );

    let tokens = app.login("user1", "user1").await;
    let rotated = json(
        &app,
        &[
            "applications",
            "rotate-secret",
            "admin-resource-server",
            "--json",
        ],
    );
    let secret = rotated["client_secret"].as_str().expect("the new secret");
    let token = tokens.access_token.as_str();
    let old = introspect(&app, "first-secret-0b3c9d", token).await;
    assert_eq!(old, StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(&app, secret, token).await, StatusCode::OK);
    let (success, _, stderr) = manage(&app, &["applications", "rotate-secret", MY_API_APP], &[]);
    assert!(!success && stderr.contains("public client"), "{stderr}");

    let revoked = json(
        &app,
        &[
            "tokens",
            "revoke",
            "--user",
            "user1",
            "--application",
            MY_API_APP,
            "--json",
        ],
    );
    assert_eq!(revoked["revoked_access_tokens"], 1);
    assert_eq!(
        app.user_details(&tokens.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&tokens.refresh_token).await.status(),
        StatusCode::BAD_REQUEST
    );
    let other = app.login("user2", "user2").await;
    let said = ok(&app, &["tokens", "revoke", "--user", "user2"]);
    assert!(
        said.contains("Revoked 1 access token(s) of user2"),
        "{said}"
    );
    assert_eq!(
        app.user_details(&other.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let said = ok(&app, &["applications", "delete", "admin-resource-server"]);
    assert!(said.contains("Deleted application"), "{said}");
    assert_eq!(
        introspect(&app, secret, token).await,
        StatusCode::UNAUTHORIZED
    );
    let (success, _, stderr) = manage(
        &app,
        &["applications", "show", "admin-resource-server"],
        &[],
    );
    assert!(!success && stderr.contains("no application"), "{stderr}");
}

async fn introspect(app: &TestApp, secret: &str, token: &str) -> StatusCode {
    app.introspect("admin-resource-server", Some(secret), token)
        .await
        .status()
}
