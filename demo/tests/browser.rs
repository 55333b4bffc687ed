//! A real browser on My API's test page: both services on free ports, then headless
//! Chromium (driven by `browser/drive.mjs` through playwright-core) opens the page's legacy
//! section and logs in locally, through Fake Social Site and through Fake Social Site with a
//! lookup username, lists items and concepts and creates an item. (Signing in the way real
//! apps do is `signin_browser.rs`.) The final screenshot goes to
//! `target/browser/screenshot.png`, so test runs leave the tree clean; refresh the README's
//! picture with `BROWSER_SCREENSHOT=docs/screenshot.png cargo test -p demo --test browser`.
//!
//! Needs node, Chromium (`/usr/bin/chromium`, or `$CHROMIUM`) and playwright-core in
//! `demo/tests/browser/node_modules`. Without them the test is skipped, except under CI,
//! where it fails.

mod browser_support;
mod demo_services;

use std::time::Instant;

use browser_support::{assert_success, finish, requirements_met, start_driver};
use demo_services::{DemoServices, screenshot_path};

#[actix_rt::test]
async fn test_page_in_headless_chromium() {
    if !requirements_met("browser test") {
        return;
    }

    let started = Instant::now();
    let services = DemoServices::start();

    let screenshot = screenshot_path("BROWSER_SCREENSHOT", "screenshot.png");
    let screenshot_arg = screenshot.to_string_lossy().into_owned();
    let child = start_driver("drive.mjs", &[&services.api_url, &screenshot_arg, "legacy"]);
    let outcome = finish(child).await;
    services.stop().await;

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
