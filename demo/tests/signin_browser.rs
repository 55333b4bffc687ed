//! "Sign in with Fake Social Site" on My API's test page, in a real browser: both services on
//! free ports, then headless Chromium (driven by `browser/drive.mjs signin`) clicks the
//! button, signs in at Fake Social Site's own login page, allows on its consent page, lands
//! back on the page signed in as the local user, lists items and creates one; a replayed
//! answer and one with another state are refused; and in a fresh browser another person
//! clicks Deny and sees the error with nobody signed in. What the browser did is then checked
//! through My API's API. The final screenshot goes to `target/browser/signin.png`, or to
//! `SIGNIN_SCREENSHOT` (the README's picture: `SIGNIN_SCREENSHOT=docs/screenshot.png`).
//!
//! Needs what `browser.rs` needs (see `browser_support`): skipped without it, except under CI,
//! where it fails.

mod browser_support;
mod demo_services;

use browser_support::{assert_success, finish, requirements_met, start_driver};
use demo_services::{DemoServices, screenshot_path};
use serde_json::Value;

/// The fixtures' local account and My API's own client for it.
const ADMIN: (&str, &str) = ("admin", "admin");
const MY_API_CLIENT_ID: &str = "UvIhfUE25cCw0dOWNzvST2ciOm30uO3IqsdZRgj1";

/// The first page (large enough for the demo data) of a list under `/api/`, as the admin.
async fn list_as_admin(api: &str, what: &str) -> Vec<Value> {
    let client = test_support::http::client();
    let token: Value = client
        .post(format!("{api}/o/token/"))
        .form(&[
            ("grant_type", "password"),
            ("username", ADMIN.0),
            ("password", ADMIN.1),
            ("client_id", MY_API_CLIENT_ID),
        ])
        .send()
        .await
        .expect("the admin's password grant")
        .json()
        .await
        .expect("a JSON token answer");
    let token = token["access_token"].as_str().expect("an access token");
    let page: Value = client
        .get(format!("{api}/api/{what}/?page_size=100"))
        .bearer_auth(token)
        .send()
        .await
        .expect("list as the admin")
        .json()
        .await
        .expect("a JSON page");
    page["results"]
        .as_array()
        .expect("a page of results")
        .clone()
}

/// The value of the driver's `key=` line.
fn printed<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("the driver printed no {key}= line:\n{stdout}"))
}

#[actix_rt::test]
async fn a_person_signs_in_through_fake_social_site_pages_and_uses_the_api_and_deny_signs_nobody_in()
 {
    if !requirements_met("sign-in browser test") {
        return;
    }
    let services = DemoServices::start();
    let screenshot = screenshot_path("SIGNIN_SCREENSHOT", "signin.png");
    let screenshot_arg = screenshot.to_string_lossy().into_owned();
    let child = start_driver("drive.mjs", &[&services.api_url, &screenshot_arg, "signin"]);
    let outcome = finish(child).await;
    let items = list_as_admin(&services.api_url, "items").await;
    let users = list_as_admin(&services.api_url, "users").await;
    services.stop().await;

    let stdout = assert_success("drive.mjs signin", outcome);
    let (user, item) = (printed(&stdout, "user"), printed(&stdout, "item"));
    assert!(
        items
            .iter()
            .any(|i| i["name"] == item && i["owner"] == user),
        "no item {item:?} of {user:?} in {items:?}"
    );
    let usernames: Vec<&str> = users
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert!(usernames.contains(&user), "{user:?} not in {usernames:?}");
    let denied = printed(&stdout, "denied");
    assert!(
        !usernames.contains(&denied),
        "{denied:?} denied consent yet has an account: {usernames:?}"
    );
}
