//! What the README promises about My API's settings and resources: `EXCHANGE_APPLICATION`
//! names the application the register route issues tokens for (a missing one is a JSON 503
//! that writes nothing), `FAKE_SOCIAL_SITE_PUBLIC_URL` is what the test page's browser calls,
//! `migrate` applies My API's migrations, and a concept DELETE detaches its children.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use test_support::db::create_public_client;

use crate::helpers::*;

const BINARY: &str = env!("CARGO_BIN_EXE_my-api");

/// A JWT's claims, unverified.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("claims")
}

#[actix_rt::test]
async fn the_register_route_issues_tokens_for_the_exchange_application() {
    let app = spawn_app_configured(|s| {
        s.social.exchange_application = "another-app".to_owned();
    })
    .await;
    let grants = "password refresh_token";
    create_public_client(&mut app.db(), "another-app-client", "another-app", grants);
    let fss_token = app.fss_token("admin", "admin").await;

    let body = assert_token_answer(app.register_by_token(FSS, &fss_token, None).await).await;

    let claims = claims(&string(&body, "access_token"));
    assert_eq!(claims["client_id"], "another-app-client", "{claims}");
}

#[actix_rt::test]
async fn a_missing_exchange_application_is_a_json_503_that_writes_nothing() {
    let app = spawn_app_configured(|s| {
        s.social.exchange_application = "no-such-app".to_owned();
    })
    .await;
    let fss_token = app.fss_token("admin", "admin").await;
    let (accounts, tokens) = (
        app.accounts(),
        test_support::db::count_tokens(&mut app.db()),
    );

    // Valid requests, each token checked with the provider: only the application is missing.
    for backend in BACKENDS {
        let username = (backend == FSS_WITH_PARAMS).then_some("admin");
        let response = app.register_by_token(backend, &fss_token, username).await;
        assert_error(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
        )
        .await;
    }

    assert_eq!(app.accounts(), accounts);
    assert_eq!(test_support::db::count_tokens(&mut app.db()), tokens);
}

#[actix_rt::test]
async fn the_test_page_calls_the_fake_social_site_public_url() {
    let public = "https://fss.example:8443";
    let app = spawn_app_configured(|s| {
        s.demo = true;
        s.social.fake_social_site_public_url = Some(public.to_owned());
    })
    .await;
    let response = app.get_api("/", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.expect("the page");
    let meta = format!(r#"<meta name="fake-social-site-url" content="{public}">"#);
    assert!(html.contains(&meta), "{html}");
    assert!(!html.contains(&app.fss().address), "{html}");
}

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(BINARY)
        .env_clear()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run my-api")
}

#[test]
fn migrate_creates_my_apis_tables_in_a_fresh_file_and_may_run_twice() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("fresh.sqlite3");
    let db_arg = db.to_str().expect("a UTF-8 path");
    for run_number in 1..=2 {
        let output = run(&["migrate", "--database", db_arg], dir.path());
        assert!(
            output.status.success(),
            "run {run_number}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("Migrations applied"), "{stdout}");
        let tables = test_support::db::tables(&db);
        for table in [
            "users",
            "applications",
            "access_tokens",
            "items",
            "concepts",
        ] {
            assert!(tables.iter().any(|t| t == table), "no {table}: {tables:?}");
        }
    }
}

#[actix_rt::test]
async fn deleting_a_concept_is_a_204_then_a_404_and_its_children_lose_their_parent() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    let child = json_body(
        app.post_concept(&token, &json!({ "name": "Concept A.2", "parent": 1 }))
            .await,
        StatusCode::CREATED,
    )
    .await;

    let response = app
        .request(Method::DELETE, "/api/concepts/1/", Some(&token), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let gone = app.get_api("/api/concepts/1/", Some(&token)).await;
    json_body(gone, StatusCode::NOT_FOUND).await;
    let again = app
        .request(Method::DELETE, "/api/concepts/1/", Some(&token), None)
        .await;
    json_body(again, StatusCode::NOT_FOUND).await;
    for id in [4, child["id"].as_i64().expect("an id")] {
        let response = app
            .get_api(&format!("/api/concepts/{id}/"), Some(&token))
            .await;
        let concept = json_body(response, StatusCode::OK).await;
        assert_eq!(concept["parent"], Value::Null, "{concept}");
    }
    let list = json_body(
        app.get_api("/api/concepts/", Some(&token)).await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<i64> = results(&list)
        .iter()
        .map(|c| c["id"].as_i64().expect("an id"))
        .collect();
    assert!(!ids.contains(&1), "{ids:?}");
}
