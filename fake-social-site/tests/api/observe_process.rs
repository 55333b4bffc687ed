//! The real binary with `LOG_FORMAT=json` and `--metrics-bind`: every line it writes is one
//! JSON object, the access line of a request carries its id, route, status and latency, and
//! its own `/metrics` (a process of its own, so the counts are exact) counted what it served,
//! throttle refusals included.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::MY_API_APP;

const BINARY: &str = env!("CARGO_BIN_EXE_fake-social-site");
const PATIENCE: Duration = Duration::from_secs(30);

/// Kills the service if the test fails before stopping it.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The message of a JSON log line, when it is one.
fn message(line: &str) -> Option<String> {
    let value: Value = serde_json::from_str(line).ok()?;
    value["message"].as_str().map(str::to_owned)
}

/// The value of the series `name` with every `labels` pair.
fn sample(scrape: &str, name: &str, labels: &[&str]) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[actix_rt::test]
async fn json_logs_and_the_metrics_listener_of_the_real_binary() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("fss.sqlite3");
    test_support::db::load_fixture(&db, "fake-social-site.json", &[], &[]);
    test_support::db::create_user(
        &mut test_support::db::connect(&db),
        "json-user",
        "json-pw-1",
    );
    let mut child = Command::new(BINARY)
        .env_clear()
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .env("BCRYPT_COST", test_support::db::TEST_COST.to_string())
        .arg("--database")
        .arg(&db)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--metrics-bind",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fake-social-site");
    let stderr = child.stderr.take().expect("the stderr pipe");
    let mut service = Service(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let (mut url, mut metrics) = (None, None);
    while url.is_none() || metrics.is_none() {
        let line = rx.recv_timeout(PATIENCE).expect("the service starts");
        let text = message(&line).unwrap_or_else(|| panic!("not a JSON log line: {line}"));
        if let Some((_, found)) = text.split_once("listening on ") {
            url = Some(found.trim().to_owned());
        }
        if let Some((_, found)) = text.split_once("metrics served at ") {
            metrics = Some(found.trim().to_owned());
        }
        lines.push(line);
    }
    let (url, metrics) = (url.expect("a URL"), metrics.expect("a metrics URL"));
    assert!(metrics.starts_with("http://127.0.0.1:") && metrics.ends_with("/metrics"));

    let http = reqwest::Client::new();
    let health = http
        .get(format!("{url}/healthz"))
        .header("X-Request-Id", "json-probe-1")
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(health.headers()["x-request-id"], "json-probe-1");
    let form = [
        ("grant_type", "password"),
        ("username", "json-user"),
        ("password", "json-pw-1"),
        ("client_id", MY_API_APP),
    ];
    let token = http
        .post(format!("{url}/o/token/"))
        .form(&form)
        .send()
        .await;
    assert_eq!(token.expect("POST /o/token/").status(), StatusCode::OK);
    // Five wrong passwords spend the free allowance; the sixth attempt is refused unchecked.
    let wrong = [
        ("grant_type", "password"),
        ("username", "json-user"),
        ("password", "wrong-pw"),
        ("client_id", MY_API_APP),
    ];
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = http
            .post(format!("{url}/o/token/"))
            .form(&wrong)
            .send()
            .await;
        statuses.push(response.expect("POST /o/token/").status().as_u16());
    }
    assert_eq!(statuses, [400, 400, 400, 400, 400, 429]);
    let scrape = reqwest::get(&metrics).await.expect("GET /metrics");
    let scrape = scrape.text().await.expect("the metrics");
    let healthz = [r#"route="/healthz""#, r#"status="200""#, r#"method="GET""#];
    assert_eq!(
        sample(&scrape, "http_requests_total", &healthz),
        1.0,
        "{scrape}"
    );
    let token_route = [r#"route="/o/token/""#, r#"status="200""#];
    assert_eq!(sample(&scrape, "http_requests_total", &token_route), 1.0);
    let password = [r#"grant_type="password""#];
    assert_eq!(
        sample(&scrape, "oauth2_tokens_issued_total", &password),
        1.0
    );
    assert_eq!(sample(&scrape, "throttle_refusals_total", &[]), 1.0);
    let refused = [r#"route="/o/token/""#, r#"status="429""#];
    assert_eq!(sample(&scrape, "http_requests_total", &refused), 1.0);
    assert_eq!(sample(&scrape, "password_hashes_running", &[]), 0.0);
    assert_eq!(sample(&scrape, "db_pool_connections_in_use", &[]), 0.0);
    assert!(sample(&scrape, "db_pool_wait_seconds_count", &[]) >= 1.0);
    // The grant's tokens went through SQLite's writer thread.
    assert!(sample(&scrape, "db_write_batch_size_count", &[]) >= 1.0);

    let status = Command::new("kill")
        .args(["-TERM", &service.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let exit = service.0.wait().expect("wait for the service");
    assert!(exit.success(), "{exit}");
    while let Ok(line) = rx.recv_timeout(PATIENCE) {
        lines.push(line);
    }
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    for record in &records {
        for key in ["time", "level", "target", "message", "request_id"] {
            assert!(record.get(key).is_some(), "no {key}: {record}");
        }
    }
    let access = records
        .iter()
        .find(|r| r["request_id"] == "json-probe-1" && r["target"] == "access")
        .unwrap_or_else(|| panic!("no access line with the id: {records:?}"));
    assert_eq!(access["route"], "/healthz");
    assert_eq!(access["status"], 200);
    assert!(
        access["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{access}"
    );
    assert!(
        access["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{access}"
    );
    let issued = records
        .iter()
        .find(|r| r["route"] == "/o/token/")
        .expect("an access line for the token request");
    assert!(
        issued["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 32)
    );
}
