//! A person signing in at Fake Social Site with OpenID Connect, in a real browser: the
//! service on a free port with the demo data, then headless Chromium (driven by
//! `browser/oidc_login.mjs` through playwright-core) opens the authorization URL of
//! `my-api-app`, fills the login form, clicks Allow on the consent page and lands on the
//! redirect URI with a code and the state. The code is then exchanged, so it is a real one.
//! The redirect URI is a page this test serves on a free loopback port (the demo's port 8000
//! may be taken), registered for `my-api-app` in the test's database.
//!
//! Needs what `browser.rs` needs (see `browser_support`): skipped without it, except under CI,
//! where it fails.

mod browser_support;

use actix_web::{App, HttpResponse, HttpServer, web};
use browser_support::{assert_success, finish, requirements_met, start_driver};
use test_support::net::loopback_listener;

const MY_API_APP: &str = "ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d";
const STATE: &str = "a-state/with?odd&chars";
const VERIFIER: &str = "a-verifier-of-the-browser-test-at-least-43-characters";

#[actix_rt::test]
async fn a_person_signs_in_and_allows_the_client_in_headless_chromium() {
    if !requirements_met("OpenID Connect browser test") {
        return;
    }
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let db = dir.path().join("fake-social-site.sqlite3");
    demo::prepare_database(&db, &[], "fake-social-site.json", demo::FSS_FIXTURE, &[])
        .expect("prepare Fake Social Site's database");

    // The relying party's page the browser is sent back to.
    let (rp_listener, rp_url) = loopback_listener();
    let redirect_uri = format!("{rp_url}/callback");
    let registered = shared::storage::applications::set_openid_client(
        &mut test_support::db::connect(&db),
        MY_API_APP,
        std::slice::from_ref(&redirect_uri),
        "ES256",
    );
    assert_eq!(registered, Ok(true), "register the redirect URI");
    let rp = HttpServer::new(|| {
        App::new().default_service(web::to(|| async {
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body("<p>Signed in.</p>")
        }))
    })
    .workers(1)
    .listen(rp_listener)
    .expect("serve the relying party's page")
    .run();
    let rp_handle = rp.handle();
    let rp_task = actix_rt::spawn(rp);

    let (listener, _) = loopback_listener();
    let mut settings = fake_social_site::Settings::new(&db, "");
    settings.provider.workers = Some(1);
    settings.provider.bcrypt_cost = test_support::db::TEST_COST;
    let fss = fake_social_site::Application::build_with_listener(settings, listener)
        .expect("build Fake Social Site");
    let base = fss.url().to_owned();
    let handle = fss.handle();
    let task = actix_rt::spawn(fss.run_until_stopped());

    let challenge = shared::oauth2::pkce::challenge_of(VERIFIER);
    let authorize = reqwest::Url::parse_with_params(
        &format!("{base}/o/authorize/"),
        [
            ("response_type", "code"),
            ("client_id", MY_API_APP),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", "openid profile email read"),
            ("state", STATE),
            ("nonce", "browser-nonce"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .expect("the authorization URL");
    let child = start_driver(
        "oidc_login.mjs",
        &[authorize.as_str(), &redirect_uri, STATE, "user1", "user1"],
    );
    let outcome = finish(child).await;
    let stdout = assert_success("oidc_login.mjs", outcome);
    let code = stdout
        .lines()
        .find_map(|line| line.strip_prefix("code="))
        .expect("the driver prints the code");

    let response = test_support::http::client()
        .post(format!("{base}/o/token/"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", VERIFIER),
            ("client_id", MY_API_APP),
        ])
        .send()
        .await
        .expect("exchange the code");
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("a JSON answer");
    handle.stop(true).await;
    rp_handle.stop(true).await;
    for task in [task, rp_task] {
        task.await
            .expect("server task")
            .expect("server stopped cleanly");
    }
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert!(body["id_token"].is_string(), "{body}");
}
