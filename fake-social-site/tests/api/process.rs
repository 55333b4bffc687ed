//! The real binary as a process: killed with SIGKILL in the middle of a write load, it loses
//! no token it answered with and leaves a sound database; stopped with SIGTERM, it finishes
//! the request in flight, refuses new connections and exits 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Text;
use futures_util::future::join_all;
use reqwest::StatusCode;
use tempfile::TempDir;
use test_support::process::ChildService;

use crate::helpers::{MY_API_APP, Tokens, connect};

const BINARY: &str = env!("CARGO_BIN_EXE_fake-social-site");

/// Starts `serve` on `bind`; with port 0 a free loopback port, which the service logs.
fn start(db: &Path, bind: &str, env: &[(&str, &str)]) -> ChildService {
    let mut command = Command::new(BINARY);
    test_support::process::serve(&mut command, db, bind).envs(env.iter().copied());
    ChildService::start("fake-social-site", &mut command)
}

/// A fresh database in `dir` with the demo fixture and `users` (password = username) hashed
/// at the test cost.
fn prepare_database(dir: &TempDir, users: &[String]) -> PathBuf {
    let path = dir.path().join("fss.sqlite3");
    test_support::db::load_fixture(&path, "fake-social-site.json", &[], &[]);
    let mut conn = connect(&path);
    for name in users {
        let hash = test_support::db::hash(name);
        shared::storage::users::create(
            &mut conn,
            &shared::storage::users::NewUser::new(name.clone(), hash),
        )
        .expect("create a user");
    }
    path
}

/// A `/o/token/` request that must succeed if it is answered at all; `None` when it is not
/// (the service was killed).
async fn tokens(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    form: &[(&str, &str)],
) -> Option<Tokens> {
    let response = http
        .post(format!("{url}/o/token/"))
        .form(form)
        .send()
        .await
        .ok()?;
    assert!(
        response.status() == StatusCode::OK,
        "{what}: {}",
        response.status()
    );
    response.json().await.ok()
}

async fn password_grant(http: &reqwest::Client, url: &str, user: &str) -> Option<Tokens> {
    let form = test_support::http::password_form(MY_API_APP, user, user);
    tokens(http, url, "password grant", &form).await
}

async fn refresh(http: &reqwest::Client, url: &str, token: &str) -> Option<Tokens> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", MY_API_APP),
    ];
    tokens(http, url, "refresh", &form).await
}

/// Polls `/healthz` until it answers 200; returns how long that took.
async fn wait_healthy(http: &reqwest::Client, url: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(response) = http.get(format!("{url}/healthz")).send().await
            && response.status() == StatusCode::OK
        {
            return started.elapsed();
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{url} was not healthy within {limit:?}");
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// One client of the write load: password grants, every other one followed by a refresh, until
/// `stop` or the first failed request. Every access token it received and did not itself
/// replace by a refresh goes into `kept`.
async fn write_load(
    url: String,
    user: String,
    stop: Arc<AtomicBool>,
    kept: Arc<Mutex<Vec<String>>>,
) {
    let http = test_support::http::client();
    let mut round = 0_u32;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        let Some(tokens) = password_grant(&http, &url, &user).await else {
            return;
        };
        if round.is_multiple_of(2) {
            kept.lock()
                .expect("the token list")
                .push(tokens.access_token);
            continue;
        }
        // If this refresh is cut off, it may or may not have rotated the pair: neither token
        // is then known to be valid, so neither is kept.
        let Some(rotated) = refresh(&http, &url, &tokens.refresh_token).await else {
            return;
        };
        kept.lock()
            .expect("the token list")
            .push(rotated.access_token);
    }
}

#[actix_rt::test]
async fn a_sigkill_in_the_middle_of_writes_loses_no_answered_token_and_corrupts_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let users: Vec<String> = (0..16).map(|i| format!("crash-user-{i}")).collect();
    let db = prepare_database(&dir, &users);
    let env = [("BCRYPT_COST", "4"), ("PRUNE_INTERVAL_SECONDS", "0")];
    let service = start(&db, "127.0.0.1:0", &env);

    let stop = Arc::new(AtomicBool::new(false));
    let kept = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = users
        .iter()
        .map(|user| {
            actix_rt::spawn(write_load(
                service.url.clone(),
                user.clone(),
                stop.clone(),
                kept.clone(),
            ))
        })
        .collect();
    // Let the load build up: at least a few hundred answered tokens, at most a few seconds.
    let started = Instant::now();
    while kept.lock().expect("the token list").len() < 300
        && started.elapsed() < Duration::from_secs(10)
    {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let mut service = service;
    service.child.kill().expect("SIGKILL the service");
    let killed_at = Instant::now();
    stop.store(true, Ordering::SeqCst);
    service.child.wait().expect("reap the killed service");
    for client in clients {
        client.await.expect("a load client");
    }
    let kept = kept.lock().expect("the token list").clone();
    assert!(
        kept.len() >= 50,
        "too little load before the kill: {}",
        kept.len()
    );

    // On the same port: the address is the tokens' issuer and audience.
    let restarted = start(&db, &format!("127.0.0.1:{}", service.port()), &env);
    let http = test_support::http::client();
    wait_healthy(&http, &restarted.url, Duration::from_secs(30)).await;
    let recovered = killed_at.elapsed();
    let statuses = join_all(kept.iter().map(|token| {
        let http = &http;
        let url = format!("{}/user_details/", restarted.url);
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("GET /user_details/")
                .status()
        }
    }))
    .await;
    let lost = statuses.iter().filter(|s| **s != StatusCode::OK).count();
    assert_eq!(
        lost,
        0,
        "{lost} of {} answered tokens do not validate",
        kept.len()
    );

    let check = diesel::sql_query("PRAGMA integrity_check")
        .load::<Check>(&mut connect(&db))
        .expect("run the integrity check");
    let verdict: Vec<&str> = check.iter().map(|c| c.integrity_check.as_str()).collect();
    assert_eq!(verdict, ["ok"]);
    println!(
        "SIGKILL after {} answered tokens; serving again {recovered:?} after the kill; all valid",
        kept.len()
    );
    assert!(!restarted.log().contains("panicked"), "{}", restarted.log());
}

#[actix_rt::test]
async fn sigterm_finishes_the_request_in_flight_refuses_new_connections_and_exits_zero() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = prepare_database(&dir, &[]);
    let mut service = start(&db, "127.0.0.1:0", &[("PRUNE_INTERVAL_SECONDS", "60")]);
    let http = test_support::http::client();
    wait_healthy(&http, &service.url, Duration::from_secs(10)).await;

    // A login provably in flight, whatever the machine's speed: its head asks for
    // `100 Continue`, which the service sends once it has taken the request; the body follows
    // only after the signal, so the answer cannot come before it.
    let body = format!("grant_type=password&username=admin&password=admin&client_id={MY_API_APP}");
    let mut login = TcpStream::connect(("127.0.0.1", service.port())).expect("connect");
    login
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    write!(
        login,
        "POST /o/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("send the head");
    let mut interim = [0_u8; 25];
    login.read_exact(&mut interim).expect("an interim answer");
    assert!(
        interim.starts_with(b"HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&interim)
    );

    service.signal("-TERM");
    let signalled = Instant::now();

    // New connections are refused from shortly after the signal on (polled, with a deadline
    // far beyond what it takes).
    let address = format!("127.0.0.1:{}", service.port());
    let refused_after = loop {
        if TcpStream::connect(&address).is_err() {
            break signalled.elapsed();
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(30),
            "still accepting connections 30 s after SIGTERM"
        );
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    };

    login.write_all(body.as_bytes()).expect("send the body");
    let mut answer = String::new();
    login
        .read_to_string(&mut answer)
        .expect("the login's answer");
    let answered_after = signalled.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains(r#""access_token":""#), "{answer}");

    // Nothing is left in flight, so the exit must not wait for the 10 s shutdown timeout.
    let status = service
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("still running 30 s after SIGTERM: {}", service.log()));
    let exited_after = signalled.elapsed();
    assert!(
        status.success(),
        "exit status {status:?}: {}",
        service.log()
    );
    assert!(
        exited_after < Duration::from_secs(10),
        "took {exited_after:?} to exit: it waited for the shutdown timeout"
    );
    println!(
        "SIGTERM: refusing after {refused_after:?}, login answered {answered_after:?} after the \
         signal, exited 0 after {exited_after:?}"
    );
}
