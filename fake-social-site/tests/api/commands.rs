//! The manage.py-like commands on a service's database: loaddata, createuser, cleartokens.

use reqwest::StatusCode;
use serde_json::json;
use shared::service::cli::ManageCommand;

use crate::helpers::{
    TestApp, assert_oauth2_error, fixture_path, json_body, spawn_app, spawn_app_with_alice,
};

fn manage(app: &TestApp, command: ManageCommand) -> anyhow::Result<()> {
    shared::service::cli::run(command, &app.db_config(), &[], &[])
}

fn loaddata(app: &TestApp, file: std::path::PathBuf) -> anyhow::Result<()> {
    manage(app, ManageCommand::Loaddata { files: vec![file] })
}

#[actix_rt::test]
async fn loaddata_twice_changes_nothing() {
    let app = spawn_app().await;
    let before = app.count_accounts();
    assert_eq!(before, (3, 2));

    loaddata(&app, fixture_path()).expect("first loaddata");
    loaddata(&app, fixture_path()).expect("second loaddata");

    assert_eq!(app.count_accounts(), before);
    let token = app.login("user1", "user1").await.access_token;
    let body = json_body(app.user_details(&token).await, StatusCode::OK).await;
    assert_eq!(body["id"], 2);
    assert_eq!(body["first_name"], "John");
}

#[actix_rt::test]
async fn a_fixture_with_a_bad_record_loads_nothing() {
    let app = spawn_app().await;
    let before = app.count_accounts();
    let file = app.dir().join("bad.json");
    let records = json!([
        {"model": "auth.user", "pk": 50, "fields": {
            "username": "good", "password": shared::security::password::django_pbkdf2_sha256("pw", "salt", 1000)}},
        {"model": "oauth2_provider.application", "pk": 50, "fields": {
            "client_id": "good-client", "client_type": "public", "authorization_grant_type": "password"}},
        // A plaintext password would never verify: the whole file is refused.
        {"model": "auth.user", "pk": 51, "fields": {"username": "bad", "password": "plaintext"}}
    ]);
    std::fs::write(&file, records.to_string()).expect("write the fixture");

    let error = loaddata(&app, file).expect_err("a bad record fails the load");

    assert!(format!("{error:#}").contains("record 2"), "{error:#}");
    assert_eq!(app.count_accounts(), before);
    let response = app.password_grant("good", "pw").await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_rt::test]
async fn a_django_pbkdf2_password_logs_in_and_is_rehashed_with_bcrypt() {
    let app = spawn_app().await;
    let file = app.dir().join("django.json");
    let records = json!([
        {"model": "auth.user", "pk": 40, "fields": {
            "username": "django",
            "password": shared::security::password::django_pbkdf2_sha256("from-django", "NaCl", 1000),
            "first_name": "Django", "last_name": "Reinhardt", "email": "django@example.com",
            "is_active": true, "date_joined": "2015-07-03T19:00:00Z"}}
    ]);
    std::fs::write(&file, records.to_string()).expect("write the fixture");
    loaddata(&app, file).expect("load the Django fixture");
    assert!(
        app.stored_password_hash("django")
            .starts_with("pbkdf2_sha256$")
    );

    let response = app.password_grant("django", "wrong").await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let token = app.login("django", "from-django").await.access_token;

    assert!(app.stored_password_hash("django").starts_with("$2"));
    let body = json_body(app.user_details(&token).await, StatusCode::OK).await;
    assert_eq!(body["id"], 40);
    assert_eq!(body["last_name"], "Reinhardt");
    // The bcrypt hash verifies the same password.
    app.login("django", "from-django").await;
}

#[actix_rt::test]
async fn createuser_makes_an_account_that_can_log_in() {
    let app = spawn_app().await;
    manage(
        &app,
        ManageCommand::Createuser {
            username: "carol".to_owned(),
            password: "carol-pw".into(),
            email: "carol@example.com".to_owned(),
            first_name: "Carol".to_owned(),
            last_name: "Shaw".to_owned(),
            bcrypt_cost: 4,
        },
    )
    .expect("createuser");

    let token = app.login("carol", "carol-pw").await.access_token;
    let body = json_body(app.user_details(&token).await, StatusCode::OK).await;
    assert_eq!(body["email"], "carol@example.com");
    assert_eq!(body["last_name"], "Shaw");
}

#[actix_rt::test]
async fn cleartokens_removes_expired_and_revoked_tokens_and_keeps_live_ones() {
    let app = spawn_app_with_alice().await;
    let revoked = app.login("alice", "pw").await;
    let rotated = app.login("alice", "pw").await;
    assert_eq!(
        app.revoke(&revoked.access_token).await.status(),
        StatusCode::OK
    );
    let live = json_body(app.refresh(&rotated.refresh_token).await, StatusCode::OK).await;
    let live_access = live["access_token"].as_str().expect("an access token");
    // Three grants' worth of rows; the revoked pair and the rotated-away access token are
    // dead, the rotated-away refresh token stays while its family lives (reuse detection).
    assert_eq!(app.count_tokens(), (3, 3));

    manage(&app, ManageCommand::Cleartokens).expect("cleartokens");

    assert_eq!(app.count_tokens(), (1, 2));
    assert_eq!(app.user_details(live_access).await.status(), StatusCode::OK);

    app.expire_all_tokens();
    let removed = shared::storage::tokens::clear_tokens(&mut app.db(), 1).expect("clear_tokens");
    assert_eq!(removed, 3);
    assert_eq!(app.count_tokens(), (0, 0));
}

fn may_introspect(app: &TestApp, client_id: &str) -> bool {
    shared::storage::applications::find_by_client_id(&mut app.db(), client_id)
        .expect("read the client")
        .expect("the client exists")
        .allow_introspection
}

fn createapplication(
    client_id: &str,
    client_type: shared::service::cli::ClientType,
    rotate_secret: bool,
    allow_introspection: bool,
) -> ManageCommand {
    ManageCommand::Createapplication {
        name: client_id.to_owned(),
        client_id: Some(client_id.to_owned()),
        client_type,
        grant_types: vec!["none".to_owned()],
        rotate_secret,
        allow_introspection,
        redirect_uris: Vec::new(),
        id_token_alg: "ES256".to_owned(),
    }
}

#[actix_rt::test]
async fn introspection_is_granted_only_by_allow_introspection_and_only_to_confidential_clients() {
    use shared::service::cli::ClientType::{Confidential, Public};
    let app = spawn_app().await;
    manage(&app, createapplication("plain", Confidential, false, false)).expect("create");
    assert!(!may_introspect(&app, "plain"));
    manage(&app, createapplication("rs", Confidential, false, true)).expect("create");
    assert!(may_introspect(&app, "rs"));
    // Re-provisioning says the whole truth about the client.
    manage(&app, createapplication("plain", Confidential, true, true)).expect("rotate");
    assert!(may_introspect(&app, "plain"));
    manage(&app, createapplication("plain", Confidential, true, false)).expect("rotate");
    assert!(!may_introspect(&app, "plain"));

    let refused = manage(&app, createapplication("public-rs", Public, false, true));
    assert!(refused.is_err());

    // Fixtures may carry the permission as an extra field of oauth2_provider.application.
    let file = app.dir().join("clients.json");
    let records = json!([
        {"model": "oauth2_provider.application", "pk": 40, "fields": {
            "client_id": "fixture-rs", "client_type": "confidential", "client_secret": "s3cret",
            "authorization_grant_type": "client-credentials", "allow_introspection": true}},
        {"model": "oauth2_provider.application", "pk": 41, "fields": {
            "client_id": "fixture-plain", "client_type": "confidential", "client_secret": "s3cret",
            "authorization_grant_type": "client-credentials"}},
    ]);
    std::fs::write(&file, records.to_string()).expect("write the fixture");
    loaddata(&app, file.clone()).expect("load the clients");
    assert!(may_introspect(&app, "fixture-rs"));
    assert!(!may_introspect(&app, "fixture-plain"));
    let public = json!([{"model": "oauth2_provider.application", "pk": 42, "fields": {
        "client_id": "fixture-public", "client_type": "public", "allow_introspection": true}}]);
    std::fs::write(&file, public.to_string()).expect("write the fixture");
    assert!(loaddata(&app, file).is_err());
}

/// A database URL the service cannot use stops the command with the URL named, its password
/// masked, whether it came by flag or by `DATABASE_URL`, and whether the URL is malformed or
/// its server refuses (no leftover file is made for it either).
#[test]
fn a_bad_database_url_is_named_without_its_password() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    for (url, shown, reason) in [
        (
            "mysql://root:s3cret@db/app",
            "mysql://root:***@db/app",
            "unsupported database URL",
        ),
        (
            "postgres://app:s3cret@db:54x2/app",
            "postgres://app:***@db:54x2/app",
            "the port is not a number",
        ),
        (
            "postgres://app:s3cret@127.0.0.1:1/app",
            "postgres://app:***@127.0.0.1:1/app",
            "Connection refused",
        ),
    ] {
        for output in [
            crate::readme_promises::run_to_exit(dir.path(), &[], &["--database", url, "migrate"]),
            crate::readme_promises::run_to_exit(dir.path(), &[("DATABASE_URL", url)], &["migrate"]),
        ] {
            assert!(!output.status.success(), "{url}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains(shown) && stderr.contains(reason),
                "{url}: {stderr}"
            );
            assert!(!stderr.contains("s3cret"), "{stderr}");
            assert!(output.stdout.is_empty(), "{url}");
        }
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list the directory")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
