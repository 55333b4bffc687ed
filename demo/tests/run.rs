//! The demo binary (`demo::run`): it prints the banner with both URLs and the demo accounts,
//! serves both services, stops on a signal, and a second run reuses the databases the first
//! one created, with whatever was written in between. The banner's OpenID Connect lines are
//! usable as printed: the discovery URL answers, and the authorize URL, whose PKCE challenge
//! is the S256 of the printed verifier, opens FSS's login page.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::{StatusCode, Url};
use serde_json::Value;
use sha2::{Digest, Sha256};

const BINARY: &str = env!("CARGO_BIN_EXE_demo");
/// How long a start or a stop may take, however slow the machine: generous on purpose.
const PATIENCE: Duration = Duration::from_secs(120);

/// A free loopback port (free when asked; the demo binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free loopback port")
        .local_addr()
        .expect("the bound address")
        .port()
}

/// Collects a pipe's text into a shared string from a thread of its own.
fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut sink = sink
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sink.push_str(&line);
            sink.push('\n');
        }
    });
    text
}

fn read(text: &Mutex<String>) -> String {
    text.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// The demo as a child process; killed if still running on drop.
struct Demo {
    child: Child,
    fss: String,
    api: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Demo {
    /// Starts the demo on two free ports over `data_dir` and waits for its banner.
    async fn start(data_dir: &Path) -> Demo {
        let (fss_port, api_port) = (free_port(), free_port());
        let mut child = Command::new(BINARY)
            .env_clear()
            .env("RUST_LOG", "info")
            .arg("--fss-port")
            .arg(fss_port.to_string())
            .arg("--api-port")
            .arg(api_port.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            // Any free port: the tests' demos run side by side.
            .args(["--metrics-port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the demo");
        let stdout = collect(child.stdout.take().expect("the stdout pipe"));
        let stderr = collect(child.stderr.take().expect("the stderr pipe"));
        let demo = Demo {
            child,
            fss: format!("http://127.0.0.1:{fss_port}"),
            api: format!("http://127.0.0.1:{api_port}"),
            stdout,
            stderr,
        };
        let deadline = Instant::now() + PATIENCE;
        while !read(&demo.stdout).contains("Ctrl-C stops both.") {
            assert!(
                Instant::now() < deadline,
                "no banner: {}{}",
                read(&demo.stdout),
                read(&demo.stderr)
            );
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        demo
    }

    /// Stops the demo as Ctrl-C does and waits for it to exit successfully.
    async fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll the demo") {
                break status;
            }
            assert!(Instant::now() < deadline, "the demo did not stop");
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(status.success(), "{status}: {}", read(&self.stderr));
        read(&self.stderr)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn json(response: reqwest::Response, status: StatusCode) -> Value {
    let url = response.url().clone();
    assert_eq!(response.status(), status, "{url}");
    response.json().await.expect("a JSON body")
}

/// A local password grant at My API as its demo client.
async fn api_token(http: &reqwest::Client, demo: &Demo) -> String {
    let response = http
        .post(format!("{}/o/token/", demo.api))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin"),
            ("client_id", "UvIhfUE25cCw0dOWNzvST2ciOm30uO3IqsdZRgj1"),
        ])
        .send()
        .await
        .expect("POST /o/token/");
    let body = json(response, StatusCode::OK).await;
    body["access_token"].as_str().expect("a token").to_owned()
}

async fn item_names(http: &reqwest::Client, demo: &Demo) -> Vec<String> {
    let response = http
        .get(format!("{}/api/items/?page_size=100", demo.api))
        .send()
        .await
        .expect("GET /api/items/");
    let page = json(response, StatusCode::OK).await;
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|item| item["name"].as_str().expect("a name").to_owned())
        .collect()
}

#[actix_rt::test]
async fn the_demo_prints_its_banner_and_a_second_run_keeps_the_data_of_the_first() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let http = reqwest::Client::new();

    let first = Demo::start(dir.path()).await;
    let banner = read(&first.stdout);
    for expected in [
        format!("Fake Social Site  {}", first.fss),
        "accounts: admin/admin, user1/user1, user2/user2".to_owned(),
        format!("My API            {}", first.api),
        format!(
            "local account: admin/admin — open {}/ in a browser for the test page",
            first.api
        ),
        format!("{}/o/token/", first.fss),
        format!("{}/users/register-by-token/fake_social_site/", first.api),
    ] {
        assert!(banner.contains(&expected), "{expected:?} not in {banner}");
    }
    // Both services answer with the demo data; the test page is on.
    let fss_token = json(
        http.post(format!("{}/o/token/", first.fss))
            .form(&[
                ("grant_type", "password"),
                ("username", "user1"),
                ("password", "user1"),
                ("client_id", demo::FSS_CLIENT_ID),
            ])
            .send()
            .await
            .expect("POST /o/token/ at FSS"),
        StatusCode::OK,
    )
    .await;
    let page = http
        .get(format!("{}/", first.api))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), StatusCode::OK);
    // Write in between: rename a fixture item, and register an FSS user at My API.
    let token = api_token(&http, &first).await;
    let renamed = http
        .patch(format!("{}/api/items/1/", first.api))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "name": "Renamed between runs" }))
        .send()
        .await
        .expect("PATCH an item");
    json(renamed, StatusCode::OK).await;
    let registered = http
        .post(format!(
            "{}/users/register-by-token/fake_social_site/",
            first.api
        ))
        .form(&[(
            "access_token",
            fss_token["access_token"].as_str().expect("a token"),
        )])
        .send()
        .await
        .expect("register by token");
    let api_user_token = json(registered, StatusCode::OK).await;
    let created = http
        .post(format!("{}/api/items/", first.api))
        .bearer_auth(api_user_token["access_token"].as_str().expect("a token"))
        .json(&serde_json::json!({ "name": "Created between runs" }))
        .send()
        .await
        .expect("POST an item");
    json(created, StatusCode::CREATED).await;
    let log = first.stop().await;
    assert!(log.contains("created with the demo data"), "{log}");

    let second = Demo::start(dir.path()).await;
    let names = item_names(&http, &second).await;
    assert!(
        names.contains(&"Renamed between runs".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"Created between runs".to_owned()),
        "{names:?}"
    );
    assert!(!names.contains(&"Item A".to_owned()), "{names:?}");
    // The fixture accounts still log in.
    api_token(&http, &second).await;
    let log = second.stop().await;
    assert!(!log.contains("created with the demo data"), "{log}");
    assert_eq!(log.matches("reused").count(), 2, "{log}");
}

/// The value of `-d name=` on a banner line.
fn form_value<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line
        .find(&format!("-d {name}="))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + name.len()
        + 4;
    line[start..].split_whitespace().next().unwrap_or_default()
}

#[actix_rt::test]
async fn the_banner_shows_the_openid_connect_flow_and_its_authorize_url_opens_the_login_page() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let http = test_support::http::client();
    let demo = Demo::start(dir.path()).await;
    let banner = read(&demo.stdout);

    let discovery_url = format!("{}/.well-known/openid-configuration", demo.fss);
    assert!(
        banner.contains(&format!("curl -s {discovery_url}\n")),
        "{banner}"
    );
    let discovery = json(
        http.get(&discovery_url)
            .send()
            .await
            .expect("GET discovery"),
        StatusCode::OK,
    )
    .await;
    let authorize_prefix = format!("{}/o/authorize/?", demo.fss);
    assert_eq!(
        discovery["authorization_endpoint"],
        authorize_prefix.trim_end_matches('?')
    );

    let authorize = banner
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&authorize_prefix))
        .unwrap_or_else(|| panic!("no authorize URL in {banner}"));
    let authorize = Url::parse(authorize).expect("a URL");
    let query = |name: &str| {
        authorize
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {authorize}"))
    };
    let redirect_uri = format!("{}/", demo.api);
    assert_eq!(query("response_type"), "code");
    assert_eq!(query("client_id"), demo::FSS_CLIENT_ID);
    assert_eq!(query("redirect_uri"), redirect_uri);
    assert_eq!(query("scope"), "openid profile email read");
    assert_eq!(query("code_challenge_method"), "S256");

    let exchange = banner
        .lines()
        .find(|l| l.contains("-d grant_type=authorization_code"))
        .unwrap_or_else(|| panic!("no code exchange in {banner}"));
    assert!(
        exchange
            .trim_end()
            .ends_with(&format!("-d code=CODE {}/o/token/", demo.fss))
    );
    assert_eq!(form_value(exchange, "client_id"), demo::FSS_CLIENT_ID);
    assert_eq!(form_value(exchange, "redirect_uri"), redirect_uri);
    let verifier = form_value(exchange, "code_verifier");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    assert_eq!(
        query("code_challenge"),
        challenge,
        "the challenge of {verifier}"
    );

    // Opened as printed, on the test's free ports: the redirect URI is registered and the
    // request is well-formed, so FSS asks for a login rather than showing an error.
    let page = http
        .get(authorize.as_str())
        .send()
        .await
        .expect("GET the authorize URL");
    let status = page.status();
    let login = page.url().clone();
    let body = page.text().await.expect("a page");
    assert_eq!(status, StatusCode::OK, "{login}: {body}");
    assert!(
        body.contains(r#"name="password""#),
        "not a login page: {body}"
    );
    demo.stop().await;
}
