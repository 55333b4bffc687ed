//! Concurrent writers against the release binaries of both services: 200 clients at once
//! mixing password grants, refreshes (and a reused one), revocations and exchanges get exactly
//! the statuses they should, no 5xx and no "database is locked" in either log, `/healthz`
//! stays 200 throughout, and afterwards every issued token that was not revoked validates
//! while every revoked or rotated one is refused.
//!
//! Ignored by `cargo test`: it wants optimised binaries. `.ci/run` runs it as
//! `cargo build --release -p fake-social-site -p my-api &&
//!  cargo test --release -p my-api --test load -- --ignored --nocapture`.
//! `DB_POOL_SIZE`, `WORKERS` and `MAX_CONCURRENT_HASHES` pass through to both services, to
//! compare settings; `LOAD_CLIENTS` changes the number of clients.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use test_support::db::fixture_path as fixture;
use test_support::http::password_form;
use test_support::process::ChildService;

const MY_API: &str = env!("CARGO_BIN_EXE_my-api");
const FSS_CLIENT: &str = "ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d";
const MY_API_CLIENT: &str = "UvIhfUE25cCw0dOWNzvST2ciOm30uO3IqsdZRgj1";
const INTROSPECTION_CLIENT: &str = "my-api-introspection";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const LOCAL_USERS: usize = 10;
const PASSED_THROUGH: [&str; 3] = ["DB_POOL_SIZE", "WORKERS", "MAX_CONCURRENT_HASHES"];

/// Fake Social Site's binary, built into the same directory as My API's.
fn fss_binary() -> PathBuf {
    test_support::process::sibling_binary(MY_API, "fake-social-site")
}

/// Runs a management command to completion; returns its stdout.
fn manage(binary: &Path, db: &Path, args: &[&str]) -> String {
    let db = db.to_string_lossy();
    test_support::process::manage_ok(binary, &db, args, &[("BCRYPT_COST", "4")])
}

/// A service's `serve` on a free loopback port, with the settings passed through and `env`.
fn start(name: &'static str, binary: &Path, db: &Path, env: &[(&str, String)]) -> ChildService {
    let mut command = Command::new(binary);
    test_support::process::serve(&mut command, db, "127.0.0.1:0");
    for name in PASSED_THROUGH {
        if let Ok(value) = std::env::var(name) {
            command.env(name, value);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v.as_str())));
    ChildService::start(name, &mut command)
}

fn lock<T: Clone>(m: &Mutex<T>) -> T {
    m.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Which service a token belongs to, for checking it afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Issuer {
    Fss,
    MyApi,
}

/// What the clients saw: statuses per request kind, latencies, and every mismatch.
#[derive(Default)]
struct Tally {
    statuses: BTreeMap<(&'static str, u16), usize>,
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    mismatches: Vec<String>,
    /// Tokens that must validate afterwards, and tokens that must not.
    valid: Vec<(Issuer, String)>,
    invalid: Vec<(Issuer, String)>,
}

struct Client {
    http: reqwest::Client,
    fss: String,
    api: String,
    tally: Arc<Mutex<Tally>>,
}

impl Client {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends a form, records the status against what was expected; returns the JSON body
    /// of an expected 200.
    async fn post(
        &self,
        kind: &'static str,
        url: String,
        form: &[(&str, &str)],
        expected: StatusCode,
    ) -> Option<Value> {
        let started = Instant::now();
        let result = self.http.post(url).form(form).send().await;
        let took = started.elapsed();
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                self.tally().mismatches.push(format!("{kind}: {e}"));
                return None;
            }
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let mut tally = self.tally();
        *tally.statuses.entry((kind, status.as_u16())).or_default() += 1;
        tally.latencies.entry(kind).or_default().push(took);
        if status != expected {
            tally
                .mismatches
                .push(format!("{kind}: {status} (expected {expected}): {text}"));
            return None;
        }
        serde_json::from_str(&text).ok()
    }

    async fn fss_grant(&self, user: &str, password: &str, expected: StatusCode) -> Option<Pair> {
        let form = password_form(FSS_CLIENT, user, password);
        let url = format!("{}/o/token/", self.fss);
        pair(self.post("fss password grant", url, &form, expected).await)
    }

    async fn local_grant(&self, user: &str, password: &str, expected: StatusCode) -> Option<Pair> {
        let form = password_form(MY_API_CLIENT, user, password);
        let url = format!("{}/o/token/", self.api);
        pair(self.post("api password grant", url, &form, expected).await)
    }

    async fn refresh(&self, issuer: Issuer, token: &str, expected: StatusCode) -> Option<Pair> {
        let (kind, base, client) = match issuer {
            Issuer::Fss => ("fss refresh", &self.fss, FSS_CLIENT),
            Issuer::MyApi => ("api refresh", &self.api, MY_API_CLIENT),
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client),
        ];
        pair(
            self.post(kind, format!("{base}/o/token/"), &form, expected)
                .await,
        )
    }

    async fn revoke(&self, issuer: Issuer, token: &str) {
        let (kind, base, client) = match issuer {
            Issuer::Fss => ("fss revoke", &self.fss, FSS_CLIENT),
            Issuer::MyApi => ("api revoke", &self.api, MY_API_CLIENT),
        };
        let form = [("token", token), ("client_id", client)];
        let url = format!("{base}/o/revoke_token/");
        self.post(kind, url, &form, StatusCode::OK).await;
    }

    /// The exchange through one of its doors (all POST with a form body).
    async fn exchange(&self, door: usize, fss_token: &str) -> Option<Pair> {
        let (kind, url, form): (&'static str, String, Vec<(&str, &str)>) = match door % 3 {
            0 => (
                "api register-by-token",
                format!("{}/users/register-by-token/fake_social_site/", self.api),
                vec![("access_token", fss_token)],
            ),
            1 => (
                "api token exchange",
                format!("{}/o/token/", self.api),
                vec![
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token", fss_token),
                    ("subject_token_type", ACCESS_TOKEN_TYPE),
                    ("subject_issuer", "fake_social_site"),
                    ("client_id", MY_API_CLIENT),
                ],
            ),
            _ => (
                "api convert_token",
                format!("{}/o/token/", self.api),
                vec![
                    ("grant_type", "convert_token"),
                    ("backend", "fake_social_site"),
                    ("token", fss_token),
                    ("client_id", MY_API_CLIENT),
                ],
            ),
        };
        pair(self.post(kind, url, &form, StatusCode::OK).await)
    }

    fn keep(&self, issuer: Issuer, token: String) {
        self.tally().valid.push((issuer, token));
    }

    fn drop_token(&self, issuer: Issuer, token: String) {
        self.tally().invalid.push((issuer, token));
    }
}

struct Pair {
    access: String,
    refresh: String,
}

fn pair(body: Option<Value>) -> Option<Pair> {
    let body = body?;
    Some(Pair {
        access: body["access_token"].as_str()?.to_owned(),
        refresh: body["refresh_token"].as_str()?.to_owned(),
    })
}

/// One client's script. Each client has its own Fake Social Site person, so what it expects
/// does not depend on the others; local users are shared by ten clients each.
async fn script(client: Arc<Client>, i: usize) -> Option<()> {
    let user = format!("load-{i}");
    let local = format!("local-{}", i % LOCAL_USERS);
    let bad = StatusCode::BAD_REQUEST;

    // Fake Social Site: a grant, its rotation, and (one client in four) the reuse of the
    // rotated refresh token, which revokes the family.
    let first = client.fss_grant(&user, &user, StatusCode::OK).await?;
    let second = client
        .refresh(Issuer::Fss, &first.refresh, StatusCode::OK)
        .await?;
    client.drop_token(Issuer::Fss, first.access);
    if i.is_multiple_of(4) {
        client.refresh(Issuer::Fss, &first.refresh, bad).await;
        client.drop_token(Issuer::Fss, second.access);
    } else {
        client.keep(Issuer::Fss, second.access);
    }

    // The exchange, first and returning, with a refresh between: each exchange replaces
    // the user's previous My API tokens.
    let subject = client.fss_grant(&user, &user, StatusCode::OK).await?;
    let exchanged = client.exchange(i, &subject.access).await?;
    let refreshed = client
        .refresh(Issuer::MyApi, &exchanged.refresh, StatusCode::OK)
        .await?;
    client.drop_token(Issuer::MyApi, exchanged.access);
    let again = client.exchange(i + 1, &subject.access).await?;
    client.drop_token(Issuer::MyApi, refreshed.access);
    if i.is_multiple_of(2) {
        client.revoke(Issuer::MyApi, &again.access).await;
        client.drop_token(Issuer::MyApi, again.access);
    } else {
        client.keep(Issuer::MyApi, again.access);
    }
    if i.is_multiple_of(3) {
        client.revoke(Issuer::Fss, &subject.access).await;
        client.drop_token(Issuer::Fss, subject.access);
    } else {
        client.keep(Issuer::Fss, subject.access);
    }

    // A local login and its rotation; wrong passwords now and then.
    let login = client.local_grant(&local, &local, StatusCode::OK).await?;
    let rotated = client
        .refresh(Issuer::MyApi, &login.refresh, StatusCode::OK)
        .await?;
    client.drop_token(Issuer::MyApi, login.access);
    client.keep(Issuer::MyApi, rotated.access);
    if i.is_multiple_of(5) {
        client.local_grant(&local, "wrong", bad).await;
        client.fss_grant(&user, "wrong", bad).await;
    }
    Some(())
}

/// Polls `/healthz` of both services until `done`; returns the statuses seen.
async fn watch_health(
    http: reqwest::Client,
    urls: [String; 2],
    done: Arc<Mutex<bool>>,
) -> BTreeMap<u16, usize> {
    let mut seen = BTreeMap::new();
    while !lock(&done) {
        for url in &urls {
            let status = match http.get(format!("{url}/healthz")).send().await {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            *seen.entry(status).or_default() += 1;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

/// Whether each token validates: Fake Social Site's profile, My API's concepts.
async fn validates(
    http: &reqwest::Client,
    fss: &str,
    api: &str,
    tokens: &[(Issuer, String)],
) -> Vec<StatusCode> {
    let checks = tokens.iter().map(|(issuer, token)| {
        let url = match issuer {
            Issuer::Fss => format!("{fss}/user_details/"),
            Issuer::MyApi => format!("{api}/api/concepts/"),
        };
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .map_or(StatusCode::INTERNAL_SERVER_ERROR, |r| r.status())
        }
    });
    let mut statuses = Vec::new();
    // In slices, not all at once: the point here is the answers, not more load.
    let checks: Vec<_> = checks.collect();
    let mut checks = checks.into_iter();
    loop {
        let slice: Vec<_> = checks.by_ref().take(100).collect();
        if slice.is_empty() {
            return statuses;
        }
        statuses.extend(join_all(slice).await);
    }
}

/// Access-log lines with a 5xx status, and lines mentioning a locked database.
fn log_faults(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| {
            let status = line
                .split('"')
                .nth(2)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|s| s.parse::<u16>().ok());
            line.contains("database is locked")
                || line.contains("panicked")
                || (line.contains("actix_web::middleware::logger")
                    && status.is_some_and(|s| s >= 500))
        })
        .map(str::to_owned)
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[actix_rt::test]
#[ignore = "wants release binaries; .ci/run runs it"]
async fn two_hundred_concurrent_clients_get_only_the_statuses_they_should() {
    let clients: usize = std::env::var("LOAD_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fss_db = dir.path().join("fss.sqlite3");
    let api_db = dir.path().join("my-api.sqlite3");
    let fss_bin = fss_binary();
    let api_bin = PathBuf::from(MY_API);

    // Fresh databases with the fixtures, one Fake Social Site person per client, ten local
    // users, all hashed at cost 4; and My API's confidential client at the provider.
    manage(
        &fss_bin,
        &fss_db,
        &[
            "loaddata",
            &fixture("fake-social-site.json").to_string_lossy(),
        ],
    );
    manage(
        &api_bin,
        &api_db,
        &["loaddata", &fixture("my-api.json").to_string_lossy()],
    );
    // `loaddata` migrated both databases.
    let create = |db: &Path, names: Vec<String>| {
        let mut conn = test_support::db::connect(db);
        for name in names {
            let hash = test_support::db::hash(&name);
            shared::storage::users::create(
                &mut conn,
                &shared::storage::users::NewUser::new(name, hash),
            )
            .expect("create a user");
        }
    };
    create(&fss_db, (0..clients).map(|i| format!("load-{i}")).collect());
    create(
        &api_db,
        (0..LOCAL_USERS).map(|i| format!("local-{i}")).collect(),
    );
    let secret = test_support::process::create_introspection_client(
        &fss_bin,
        &fss_db.to_string_lossy(),
        INTROSPECTION_CLIENT,
    );

    let common = [
        ("BCRYPT_COST", "4".to_owned()),
        ("PRUNE_INTERVAL_SECONDS", "0".to_owned()),
        // Every client comes from 127.0.0.1: the brute-force throttle would take the
        // wrong-password attempts of 200 different users for one attacker.
        ("LOGIN_FAILURES_BEFORE_THROTTLE", "0".to_owned()),
    ];
    let fss = start("fake-social-site", &fss_bin, &fss_db, &common);
    let mut api_env = common.to_vec();
    api_env.extend([
        ("FAKE_SOCIAL_SITE_URL", fss.url.clone()),
        (
            "FAKE_SOCIAL_SITE_CLIENT_ID",
            INTROSPECTION_CLIENT.to_owned(),
        ),
        ("FAKE_SOCIAL_SITE_CLIENT_SECRET", secret),
        ("SOCIAL_TIMEOUT_MS", "30000".to_owned()),
    ]);
    let api = start("my-api", &api_bin, &api_db, &api_env);

    let http = test_support::http::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(clients)
        .build()
        .expect("an HTTP client");
    let tally = Arc::new(Mutex::new(Tally::default()));
    let client = Arc::new(Client {
        http: http.clone(),
        fss: fss.url.clone(),
        api: api.url.clone(),
        tally: tally.clone(),
    });
    let done = Arc::new(Mutex::new(false));
    let health = actix_rt::spawn(watch_health(
        http.clone(),
        [fss.url.clone(), api.url.clone()],
        done.clone(),
    ));

    let started = Instant::now();
    let finished = join_all((0..clients).map(|i| script(client.clone(), i))).await;
    let elapsed = started.elapsed();
    *done.lock().expect("the flag") = true;
    let health = health.await.expect("the health watcher");
    let completed = finished.iter().filter(|f| f.is_some()).count();

    let tally = lock_tally(&tally);
    let valid = validates(&http, &fss.url, &api.url, &tally.valid).await;
    let invalid = validates(&http, &fss.url, &api.url, &tally.invalid).await;
    let fss_log = fss.stop();
    let api_log = api.stop();

    let requests: usize = tally.statuses.values().sum();
    println!(
        "{clients} clients, {requests} requests in {elapsed:.2?} ({:.0} req/s), {completed} \
         scripts completed",
        requests as f64 / elapsed.as_secs_f64()
    );
    for ((kind, status), count) in &tally.statuses {
        println!("  {kind:<24} {status} x {count}");
    }
    for (kind, latencies) in &tally.latencies {
        let mut sorted = latencies.clone();
        sorted.sort();
        println!(
            "  {kind:<24} p50 {:.1?} p99 {:.1?} max {:.1?}",
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.99),
            sorted.last().copied().unwrap_or_default()
        );
    }
    println!("  /healthz during the load: {health:?}");
    println!(
        "  afterwards: {} kept tokens validate, {} revoked or rotated ones are refused",
        valid.iter().filter(|s| **s == StatusCode::OK).count(),
        invalid
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count()
    );

    assert!(tally.mismatches.is_empty(), "{:#?}", tally.mismatches);
    assert_eq!(completed, clients);
    assert!(tally.statuses.keys().all(|(_, status)| *status < 500));
    assert_eq!(
        health.keys().copied().collect::<Vec<_>>(),
        [200],
        "{health:?}"
    );
    assert!(valid.iter().all(|s| *s == StatusCode::OK), "{valid:?}");
    assert!(
        invalid.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{invalid:?}"
    );
    let faults: Vec<String> = log_faults(&fss_log)
        .into_iter()
        .chain(log_faults(&api_log))
        .collect();
    assert!(faults.is_empty(), "{faults:#?}");
}

fn lock_tally(tally: &Mutex<Tally>) -> Tally {
    let mut guard = tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    std::mem::take(&mut *guard)
}
