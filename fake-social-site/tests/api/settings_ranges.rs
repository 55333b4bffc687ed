//! Numeric settings are range-checked when the command line or environment is read: an
//! absurd value (a token lifetime that overflows `exp`, no workers, a pool of none) is
//! refused at start-up with a message naming the flag, never accepted and wrapped.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use fake_social_site::cli::Cli;

/// Each numeric flag with a value just out of its documented range.
pub const OUT_OF_RANGE: &[(&str, &str)] = &[
    ("--access-token-expire-seconds", "9223372036854775807"),
    ("--access-token-expire-seconds", "0"),
    ("--access-token-expire-seconds", "-1"),
    ("--refresh-token-expire-seconds", "31536001"),
    ("--refresh-token-expire-seconds", "0"),
    ("--bcrypt-cost", "32"),
    ("--max-concurrent-hashes", "0"),
    ("--max-concurrent-hashes", "1025"),
    ("--workers", "0"),
    ("--workers", "1025"),
    ("--db-pool-size", "0"),
    ("--db-pool-size", "1025"),
    ("--prune-interval-seconds", "86401"),
    ("--login-failures-before-throttle", "1001"),
    ("--login-lockout-max-seconds", "0"),
    ("--login-lockout-max-seconds", "86401"),
    ("--token-cache-seconds", "3601"),
    ("--request-body-timeout-ms", "0"),
    ("--request-body-timeout-ms", "600001"),
    ("--max-connections", "0"),
    ("--max-connections", "65537"),
    ("--signing-keys-reload-seconds", "61"),
    ("--signing-keys-reload-seconds", "-1"),
];

#[test]
fn every_numeric_setting_out_of_range_is_refused_with_a_message_naming_the_flag() {
    test_support::cli::assert_refused_naming_the_flag(OUT_OF_RANGE, |arg| {
        Cli::try_parse_from(["fake-social-site", "serve", arg]).map(drop)
    });
}

#[test]
fn createuser_refuses_a_bcrypt_cost_out_of_range() {
    let error = Cli::try_parse_from([
        "fake-social-site",
        "createuser",
        "--username=u",
        "--password=p",
        "--bcrypt-cost=32",
    ])
    .expect_err("cost 32 is refused");
    assert!(error.to_string().contains("--bcrypt-cost"), "{error}");
}

#[test]
fn the_bounds_themselves_are_accepted() {
    for args in [
        [
            "--access-token-expire-seconds=31536000",
            "--refresh-token-expire-seconds=1",
            "--workers=1024",
            "--db-pool-size=1",
        ],
        [
            "--prune-interval-seconds=0",
            "--token-cache-seconds=3600",
            "--request-body-timeout-ms=1",
            "--max-connections=65536",
        ],
    ] {
        let argv = ["fake-social-site", "serve"].into_iter().chain(args);
        if let Err(e) = Cli::try_parse_from(argv) {
            panic!("{args:?}: {e}");
        }
    }
}

#[test]
fn an_out_of_range_environment_variable_stops_the_binary_before_it_serves() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-social-site"))
        .env_clear()
        .env("ACCESS_TOKEN_EXPIRE_SECONDS", "9223372036854775807")
        .arg("--database")
        .arg(dir.path().join("fss.sqlite3"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fake-social-site");
    // A service that accepted the value would serve on: give it 30 s to refuse.
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("poll the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still serving after 30 s: the value was accepted");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("its output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("--access-token-expire-seconds"), "{stderr}");
    assert!(
        !dir.path().join("fss.sqlite3").exists(),
        "it got as far as the database"
    );
}
