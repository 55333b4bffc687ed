//! A real browser on My API's test page: both services on free ports, then headless
//! Chromium (driven by `browser/drive.mjs` through playwright-core) logs in locally, through
//! Fake Social Site and through Fake Social Site with a lookup username, lists items and
//! concepts and creates an item. The final screenshot goes to
//! `target/browser/screenshot.png`, so test runs leave the tree clean; refresh the README's
//! picture with `BROWSER_SCREENSHOT=docs/screenshot.png cargo test -p demo --test browser`.
//!
//! Needs node, Chromium (`/usr/bin/chromium`, or `$CHROMIUM`) and playwright-core in
//! `demo/tests/browser/node_modules`. Without them the test is skipped, except under CI,
//! where it fails.

mod browser_support;

use std::path::{Path, PathBuf};
use std::time::Instant;

use browser_support::{assert_success, finish, requirements_met, start_driver};
use test_support::net::loopback_listener;

fn screenshot_path() -> PathBuf {
    std::env::var_os("BROWSER_SCREENSHOT")
        .filter(|p| !p.is_empty())
        .map_or_else(
            || {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .parent()
                    .expect("the workspace directory")
                    .join("target/browser/screenshot.png")
            },
            PathBuf::from,
        )
}

#[actix_rt::test]
async fn test_page_in_headless_chromium() {
    if !requirements_met("browser test") {
        return;
    }

    let started = Instant::now();
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let fss_db = dir.path().join("fake-social-site.sqlite3");
    let api_db = dir.path().join("my-api.sqlite3");
    demo::prepare_database(
        &fss_db,
        &[],
        "fake-social-site.json",
        demo::FSS_FIXTURE,
        &[],
    )
    .expect("prepare Fake Social Site's database");
    demo::prepare_database(
        &api_db,
        &[my_api::MIGRATIONS],
        "my-api.json",
        demo::MY_API_FIXTURE,
        my_api::fixtures::LOADERS,
    )
    .expect("prepare My API's database");

    let (fss_listener, _) = loopback_listener();
    let (api_listener, api_url) = loopback_listener();

    let mut fss_settings = fake_social_site::Settings::new(&fss_db, "");
    fss_settings.provider.cors_origins = vec![api_url.clone()];
    fss_settings.provider.workers = Some(1);
    fss_settings.provider.bcrypt_cost = test_support::db::TEST_COST;
    let fss = fake_social_site::Application::build_with_listener(fss_settings, fss_listener)
        .expect("build Fake Social Site");

    let mut api_settings = my_api::Settings::new(&api_db, "");
    demo::connect_my_api(&mut api_settings, fss.url(), &fss_db).expect("connect My API to FSS");
    api_settings.demo = true;
    api_settings.provider.workers = Some(1);
    api_settings.provider.bcrypt_cost = test_support::db::TEST_COST;
    let api =
        my_api::Application::build_with_listener(api_settings, api_listener).expect("build My API");
    assert_eq!(api.url(), api_url);

    let (fss_handle, api_handle) = (fss.handle(), api.handle());
    let fss_task = actix_rt::spawn(fss.run_until_stopped());
    let api_task = actix_rt::spawn(api.run_until_stopped());

    let screenshot = screenshot_path();
    if let Some(parent) = screenshot.parent() {
        std::fs::create_dir_all(parent).expect("create the screenshot's directory");
    }
    let screenshot_arg = screenshot.to_string_lossy().into_owned();
    let child = start_driver("drive.mjs", &[&api_url, &screenshot_arg]);
    let outcome = finish(child).await;

    fss_handle.stop(true).await;
    api_handle.stop(true).await;
    for task in [fss_task, api_task] {
        task.await
            .expect("server task")
            .expect("server stopped cleanly");
    }

    assert_success("drive.mjs", outcome);
    let size = std::fs::metadata(&screenshot)
        .expect("the screenshot was written")
        .len();
    assert!(
        size < 300 * 1024,
        "{} is {size} bytes: too large to commit",
        screenshot.display()
    );
    println!(
        "browser test passed in {:.1?}; screenshot {} ({size} bytes)",
        started.elapsed(),
        screenshot.display()
    );
}
