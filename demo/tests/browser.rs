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

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use test_support::net::loopback_listener;

const DRIVER_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CHROMIUM), PathBuf::from)
}

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

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// What the test needs and does not find, each with how to install it.
fn missing_requirements() -> Vec<String> {
    let mut missing = Vec::new();
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        missing.push("node (install: apt-get install -y nodejs npm)".to_owned());
    }
    let chromium = chromium_path();
    if !chromium.is_file() {
        missing.push(format!(
            "Chromium at {} (install: apt-get install -y chromium, or set CHROMIUM to its path)",
            chromium.display()
        ));
    }
    if !browser_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        missing.push(
            "playwright-core in demo/tests/browser/node_modules (install: cd demo/tests/browser && npm ci)"
                .to_owned(),
        );
    }
    missing
}

#[actix_rt::test]
async fn test_page_in_headless_chromium() {
    let missing = missing_requirements();
    if !missing.is_empty() {
        let list = missing.join("\n  - ");
        assert!(
            !in_ci(),
            "CI is set, so the browser test must run, but it is missing:\n  - {list}"
        );
        eprintln!("skipping the browser test (CI is not set); missing:\n  - {list}");
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
    let child = tokio::process::Command::new("node")
        .arg(browser_dir().join("drive.mjs"))
        .arg(&api_url)
        .arg(&screenshot)
        .env("CHROMIUM", chromium_path())
        .current_dir(browser_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let outcome = tokio::time::timeout(DRIVER_TIMEOUT, child.wait_with_output()).await;

    fss_handle.stop(true).await;
    api_handle.stop(true).await;
    for task in [fss_task, api_task] {
        task.await
            .expect("server task")
            .expect("server stopped cleanly");
    }

    let output = outcome
        .unwrap_or_else(|_| panic!("drive.mjs did not finish within {DRIVER_TIMEOUT:?}"))
        .expect("run drive.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "drive.mjs failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!("--- drive.mjs stderr\n{stderr}");
    }
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
