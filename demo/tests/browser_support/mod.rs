//! What the headless-Chromium tests share: where the driver scripts live, which Chromium,
//! the requirement checks (a test without them is skipped, except under CI, where it
//! fails), and running one driver with a time limit.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

pub const DRIVER_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

pub fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CHROMIUM), PathBuf::from)
}

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// What the test needs and does not find, each with how to install it.
pub fn missing_requirements() -> Vec<String> {
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

/// True when the test can run. Without its requirements it cannot: under CI that fails the
/// test, otherwise it is skipped with a message saying what to install.
pub fn requirements_met(test: &str) -> bool {
    let missing = missing_requirements();
    if missing.is_empty() {
        return true;
    }
    let list = missing.join("\n  - ");
    assert!(
        !in_ci(),
        "CI is set, so the {test} must run, but it is missing:\n  - {list}"
    );
    eprintln!("skipping the {test} (CI is not set); missing:\n  - {list}");
    false
}

/// Starts `node <script> <args>` in the driver directory with Chromium's path set; the
/// process is killed if the returned future is dropped.
pub fn start_driver(script: &str, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new("node")
        .arg(browser_dir().join(script))
        .args(args)
        .env("CHROMIUM", chromium_path())
        .current_dir(browser_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node")
}

/// Waits for a driver to finish within [`DRIVER_TIMEOUT`]; `None` if it did not (check with
/// [`assert_success`] once the servers are stopped).
pub async fn finish(child: tokio::process::Child) -> Option<Output> {
    tokio::time::timeout(DRIVER_TIMEOUT, child.wait_with_output())
        .await
        .ok()
        .map(|output| output.expect("run the driver"))
}

/// Asserts the driver finished in time and succeeded, showing its output either way;
/// returns its stdout.
pub fn assert_success(script: &str, output: Option<Output>) -> String {
    let output =
        output.unwrap_or_else(|| panic!("{script} did not finish within {DRIVER_TIMEOUT:?}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!("--- {script} stderr\n{stderr}");
    }
    stdout
}
