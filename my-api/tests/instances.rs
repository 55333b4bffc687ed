//! Several instances, one PostgreSQL database: three My API processes and two Fake Social Site
//! processes (the real binaries) share one database per service, as behind a load balancer,
//! and together keep every promise one instance makes:
//! - 50 concurrent first exchanges of one person, spread over the instances, make one user and
//!   one link (the lost races are counted, from `db_lost_races_total`), and a later exchange at
//!   one instance ends the token it replaces at all of them;
//! - a refresh token reused at another instance than the one that rotated it revokes the
//!   family everywhere;
//! - a token revoked at one instance is refused at every other, though they had it cached
//!   (`TOKEN_CACHE_SECONDS` is an hour here): the time until each refuses it is measured;
//! - the login throttle counts attempts across instances, per client as the trusted balancer
//!   names it (`TRUSTED_PROXIES`, `X-Forwarded-For`);
//! - a token signed at one instance verifies at all, and `rotatekeys` is seen by every instance
//!   without a restart, within milliseconds (the periodic reload is a minute here, its
//!   longest);
//! - the periodic prune runs on one instance at a time (an advisory lock).
//!
//! Needs a PostgreSQL server: `TEST_DATABASE_URL`'s, or a throwaway cluster from the machine's
//! packages; skipped without one unless `CI` is set (see `test_support::postgres`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use shared::storage::db::AnyConnection;
use shared::storage::testdb::TestDb;
use test_support::db::fixture_path as fixture;
use test_support::http::password_form;
use test_support::postgres::Server;
use test_support::process::ChildService;

const MY_API: &str = env!("CARGO_BIN_EXE_my-api");
const FSS_CLIENT: &str = "ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d";
const MY_API_CLIENT: &str = "UvIhfUE25cCw0dOWNzvST2ciOm30uO3IqsdZRgj1";
const INTROSPECTION_CLIENT: &str = "my-api-introspection";
const PERSON: &str = "instances-person";
const LOCAL: &str = "instances-local";
/// The user whose password is guessed (the others must stay unthrottled).
const GUESSED: &str = "instances-guessed";
const PASSWORD: &str = "instances-password";
/// Long enough that only a notification can explain an instance noticing a change.
const AN_HOUR: &str = "3600";
/// How long a test waits for something that should take milliseconds.
const PATIENCE: Duration = Duration::from_secs(20);

fn fss_binary() -> PathBuf {
    test_support::process::sibling_binary(MY_API, "fake-social-site")
}

/// Runs a management command to completion; returns its stdout.
fn manage(binary: &Path, db: &TestDb, args: &[&str]) -> String {
    test_support::process::manage_ok(binary, &db.url_arg(), args, &[("BCRYPT_COST", "4")])
}

/// One running instance, with its metrics listener.
struct Instance {
    service: ChildService,
    /// `http://127.0.0.1:<port>/metrics`.
    metrics: String,
}

impl Instance {
    fn start(name: &str, binary: &Path, db: &TestDb, env: &[(&str, String)]) -> Instance {
        let mut command = Command::new(binary);
        test_support::process::serve(&mut command, Path::new(&db.url_arg()), "127.0.0.1:0");
        command
            .env("BCRYPT_COST", "4")
            .env("METRICS_BIND", "127.0.0.1:0")
            .env("TOKEN_CACHE_SECONDS", AN_HOUR)
            .env("SIGNING_KEYS_RELOAD_SECONDS", "60")
            .env("PRUNE_INTERVAL_SECONDS", "1")
            .envs(env.iter().map(|(k, v)| (k, v.as_str())));
        let service = ChildService::start(name, &mut command);
        let metrics = service
            .log()
            .lines()
            .find_map(|line| Some(line.split("metrics served at ").nth(1)?.trim().to_owned()))
            .expect("the metrics listener's address in the log");
        Instance { service, metrics }
    }

    fn url(&self) -> &str {
        &self.service.url
    }

    /// The sum of a metric's series whose labels contain `labels` (e.g. `outcome="done"`).
    async fn metric(&self, http: &reqwest::Client, name: &str, labels: &str) -> f64 {
        let text = http
            .get(&self.metrics)
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("the metrics");
        text.lines()
            .filter(|line| line.starts_with(name) && line.contains(labels))
            .filter(|line| line[name.len()..].starts_with([' ', '{']))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// Both services' instances on their two databases.
struct Deployment {
    http: reqwest::Client,
    api: Vec<Instance>,
    fss: Vec<Instance>,
    api_db: TestDb,
    fss_db: TestDb,
    _server: Server,
}

impl Deployment {
    fn start(server: Server) -> Deployment {
        let fss_db = server.database("instances_fss");
        let api_db = server.database("instances_api");
        let fss_bin = fss_binary();
        let api_bin = PathBuf::from(MY_API);
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
        test_support::db::create_user(&mut fss_db.connect(), PERSON, PASSWORD);
        test_support::db::create_user(&mut api_db.connect(), LOCAL, PASSWORD);
        test_support::db::create_user(&mut api_db.connect(), GUESSED, PASSWORD);
        let secret = test_support::process::create_introspection_client(
            &fss_bin,
            &fss_db.url_arg(),
            INTROSPECTION_CLIENT,
        );
        // One public URL per service, as behind a load balancer: the tokens' issuer.
        let fss_public = [("PUBLIC_URL", "http://fake-social-site.test".to_owned())];
        let fss: Vec<Instance> = (0..2)
            .map(|i| Instance::start(&format!("fss-{i}"), &fss_bin, &fss_db, &fss_public))
            .collect();
        let api = (0..3)
            .map(|i| {
                let env = [
                    ("PUBLIC_URL", "http://my-api.test".to_owned()),
                    // As behind a balancer on loopback: the test names the client.
                    ("TRUSTED_PROXIES", "127.0.0.1".to_owned()),
                    ("FAKE_SOCIAL_SITE_URL", fss[i % fss.len()].url().to_owned()),
                    (
                        "FAKE_SOCIAL_SITE_CLIENT_ID",
                        INTROSPECTION_CLIENT.to_owned(),
                    ),
                    ("FAKE_SOCIAL_SITE_CLIENT_SECRET", secret.clone()),
                    ("SOCIAL_TIMEOUT_MS", "30000".to_owned()),
                ];
                Instance::start(&format!("my-api-{i}"), &api_bin, &api_db, &env)
            })
            .collect();
        Deployment {
            http: test_support::http::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
            api,
            fss,
            api_db,
            fss_db,
            _server: server,
        }
    }

    async fn post(&self, url: String, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self.http.post(url).form(form).send().await.expect("POST");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A password grant at `base` for `client`; the token pair.
    async fn password_grant(&self, base: &str, client: &str, user: &str) -> (String, String) {
        let (status, body) = self
            .post(
                format!("{base}/o/token/"),
                &password_form(client, user, PASSWORD),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "password grant at {base}: {body}");
        (
            test_support::http::string(&body, "access_token"),
            test_support::http::string(&body, "refresh_token"),
        )
    }

    async fn refresh(&self, base: &str, token: &str) -> (StatusCode, Value) {
        self.post(
            format!("{base}/o/token/"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", token),
                ("client_id", MY_API_CLIENT),
            ],
        )
        .await
    }

    /// The status of `GET /api/me/` at `base` with `token`.
    async fn me(&self, base: &str, token: &str) -> StatusCode {
        self.get(base, "/api/me/", token).await
    }

    /// The status of `GET path` at `base` with `token`.
    async fn get(&self, base: &str, path: &str, token: &str) -> StatusCode {
        self.http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .status()
    }

    async fn sum(&self, instances: &[Instance], name: &str, labels: &str) -> f64 {
        let mut total = 0.0;
        for instance in instances {
            total += instance.metric(&self.http, name, labels).await;
        }
        total
    }

    fn stop(self) {
        for instance in self.api.into_iter().chain(self.fss) {
            let log = instance.service.stop();
            assert!(!log.contains("panicked"), "an instance panicked:\n{log}");
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut AnyConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .expect("a count")
        .n
}

#[actix_rt::test]
async fn three_my_api_and_two_fss_instances_on_one_database_act_as_one() {
    let Some(server) = Server::get() else {
        return;
    };
    let deployment = Deployment::start(server);
    first_logins_racing_over_the_instances_make_one_user(&deployment).await;
    a_second_exchange_ends_the_first_token_at_every_instance(&deployment).await;
    refresh_reuse_at_another_instance_revokes_the_family(&deployment).await;
    revocation_at_one_instance_is_refused_at_all(&deployment).await;
    the_login_throttle_counts_across_instances(&deployment).await;
    rotated_keys_reach_every_instance_without_a_restart(&deployment).await;
    prunes_take_turns(&deployment).await;
    deployment.stop();
}

async fn first_logins_racing_over_the_instances_make_one_user(d: &Deployment) {
    let (fss_token, _) = d.password_grant(d.fss[0].url(), FSS_CLIENT, PERSON).await;
    let before = d.sum(&d.api, "db_lost_races_total", "").await;
    let mut conn = d.api_db.connect();
    let users_before = count(&mut conn, "SELECT count(*) AS n FROM users");
    let form = [("access_token", fss_token.as_str())];
    let exchanges = (0..50).map(|i| {
        let base = d.api[i % d.api.len()].url();
        d.post(
            format!("{base}/users/register-by-token/fake_social_site/"),
            &form,
        )
    });
    let answers = join_all(exchanges).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "an exchange failed: {body}");
    }
    let lost = d.sum(&d.api, "db_lost_races_total", "").await - before;
    println!("50 concurrent first exchanges over 3 instances: {lost} lost the race and re-read");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM social_links WHERE provider = 'fake_social_site'"
        ),
        1,
        "one link"
    );
    let users = count(&mut conn, "SELECT count(*) AS n FROM users") - users_before;
    assert_eq!(users, 1, "one user");
    // Every answer's token is that one user's (each exchange replaced the one before, so
    // only their subjects are compared).
    let subjects: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(_, body)| {
            claims(&test_support::http::string(body, "access_token"))["sub"].to_string()
        })
        .collect();
    assert_eq!(subjects.len(), 1, "one subject: {subjects:?}");
}

/// The exchange replaces the user's tokens by deleting them (announced by the service after
/// its commit, not by a trigger): the replaced token, cached everywhere, goes everywhere.
async fn a_second_exchange_ends_the_first_token_at_every_instance(d: &Deployment) {
    let (fss_token, _) = d.password_grant(d.fss[1].url(), FSS_CLIENT, PERSON).await;
    let form = [("access_token", fss_token.as_str())];
    let exchange = |base: &str| {
        d.post(
            format!("{base}/users/register-by-token/fake_social_site/"),
            &form,
        )
    };
    let (status, body) = exchange(d.api[1].url()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = test_support::http::string(&body, "access_token");
    for instance in &d.api {
        cache(d, instance, &first).await;
    }
    let (status, body) = exchange(d.api[0].url()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = test_support::http::string(&body, "access_token");
    for instance in &d.api {
        wait_refused(d, instance.url(), &first).await;
        assert_eq!(d.me(instance.url(), &second).await, StatusCode::OK);
    }
}

async fn refresh_reuse_at_another_instance_revokes_the_family(d: &Deployment) {
    let (a, b, c) = (d.api[0].url(), d.api[1].url(), d.api[2].url());
    let (_, first_refresh) = d.password_grant(a, MY_API_CLIENT, LOCAL).await;
    let (status, body) = d.refresh(b, &first_refresh).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "rotation at another instance: {body}"
    );
    let access = test_support::http::string(&body, "access_token");
    let second_refresh = test_support::http::string(&body, "refresh_token");
    // Cached at every instance before the reuse.
    for base in [a, b, c] {
        assert_eq!(d.me(base, &access).await, StatusCode::OK);
        assert_eq!(d.me(base, &access).await, StatusCode::OK);
    }
    let (status, body) = d.refresh(c, &first_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the reuse: {body}");
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = d.refresh(a, &second_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the family is revoked");
    for base in [a, b, c] {
        wait_refused(d, base, &access).await;
    }
}

/// Waits until `base` refuses `token`; how long that took.
async fn wait_refused(d: &Deployment, base: &str, token: &str) -> Duration {
    let started = Instant::now();
    loop {
        let status = d.me(base, token).await;
        if status == StatusCode::UNAUTHORIZED {
            return started.elapsed();
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            started.elapsed() < PATIENCE,
            "{base} still accepts a revoked token after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn revocation_at_one_instance_is_refused_at_all(d: &Deployment) {
    const ROUNDS: usize = 10;
    let mut delays = Vec::new();
    for round in 0..ROUNDS {
        let at = d.api[round % d.api.len()].url();
        let (access, _) = d.password_grant(at, MY_API_CLIENT, LOCAL).await;
        for instance in &d.api {
            cache(d, instance, &access).await;
        }
        let (status, _) = d
            .post(
                format!("{at}/o/revoke_token/"),
                &[("token", access.as_str()), ("client_id", MY_API_CLIENT)],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let revoked = Instant::now();
        for instance in d.api.iter().filter(|i| i.url() != at) {
            wait_refused(d, instance.url(), &access).await;
            delays.push(revoked.elapsed());
        }
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    let worst = delays[delays.len() - 1];
    println!(
        "revocation seen by the other instances ({} measures): median {median:?}, worst {worst:?}",
        delays.len()
    );
    assert!(
        median < Duration::from_millis(100),
        "revocations reach the other instances in {median:?} (median), not within 100 ms"
    );
}

/// A password grant for [`GUESSED`] at `base`, from the client `address` (the forwarded
/// header the trusted balancer would set); its status.
async fn guess(d: &Deployment, base: &str, address: &str, password: &str) -> StatusCode {
    d.http
        .post(format!("{base}/o/token/"))
        .header("X-Forwarded-For", address)
        .form(&password_form(MY_API_CLIENT, GUESSED, password))
        .send()
        .await
        .expect("POST /o/token/")
        .status()
}

async fn the_login_throttle_counts_across_instances(d: &Deployment) {
    // The default allowance: 5 failures per (username, address).
    const FREE: usize = 5;
    let attacker = "203.0.113.7";
    for attempt in 0..FREE {
        let base = d.api[attempt % d.api.len()].url();
        assert_eq!(
            guess(d, base, attacker, "wrong").await,
            StatusCode::BAD_REQUEST,
            "attempt {attempt} is checked"
        );
    }
    // Every instance now refuses this client: one allowance, not one per instance.
    for instance in &d.api {
        assert_eq!(
            guess(d, instance.url(), attacker, "wrong").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            guess(d, instance.url(), attacker, PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
            "even the right password waits"
        );
    }
    // Another client (as the balancer reports it) signs in.
    assert_eq!(
        guess(d, d.api[1].url(), "198.51.100.4", PASSWORD).await,
        StatusCode::OK
    );
}

/// Checks `token` at `instance` until one check is answered from its token cache (a prune
/// elsewhere may empty the cache between two checks).
async fn cache(d: &Deployment, instance: &Instance, token: &str) {
    let started = Instant::now();
    loop {
        let hits = instance
            .metric(&d.http, "token_cache_lookups_total", "hit")
            .await;
        assert_eq!(d.me(instance.url(), token).await, StatusCode::OK);
        assert_eq!(d.me(instance.url(), token).await, StatusCode::OK);
        if instance
            .metric(&d.http, "token_cache_lookups_total", "hit")
            .await
            > hits
        {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{} never caches",
            instance.url()
        );
    }
}

/// A JWT's part `index` (0: the header, 1: the claims), unverified.
fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).expect("a JWT");
    let part = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&part).expect("JSON")
}

fn claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// The `kid` of a JWT's header.
fn kid(token: &str) -> String {
    jwt_part(token, 0)["kid"]
        .as_str()
        .expect("a kid")
        .to_owned()
}

async fn published_kids(d: &Deployment, base: &str) -> Vec<String> {
    let jwks: Value = d
        .http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("GET the JWKS")
        .json()
        .await
        .expect("a JWK Set");
    test_support::http::array(&jwks["keys"])
        .iter()
        .map(|key| key["kid"].as_str().expect("a kid").to_owned())
        .collect()
}

async fn rotated_keys_reach_every_instance_without_a_restart(d: &Deployment) {
    for (binary, db, instances, client, user, protected) in [
        (
            PathBuf::from(MY_API),
            &d.api_db,
            &d.api,
            MY_API_CLIENT,
            LOCAL,
            "/api/me/",
        ),
        (
            fss_binary(),
            &d.fss_db,
            &d.fss,
            FSS_CLIENT,
            PERSON,
            "/user_details/",
        ),
    ] {
        let (before, _) = d.password_grant(instances[0].url(), client, user).await;
        let old = kid(&before);
        manage(&binary, db, &["rotatekeys"]);
        let rotated = Instant::now();
        // Every instance signs with the new key and publishes it, an hour before its reload.
        for instance in instances.iter() {
            loop {
                let (token, _) = d.password_grant(instance.url(), client, user).await;
                let new = kid(&token);
                if new != old {
                    assert!(published_kids(d, instances[0].url()).await.contains(&new));
                    // Signed here, verified everywhere.
                    for other in instances.iter() {
                        assert_eq!(d.get(other.url(), protected, &token).await, StatusCode::OK);
                    }
                    break;
                }
                assert!(
                    rotated.elapsed() < PATIENCE,
                    "{} still signs with the old key",
                    instance.url()
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // The old key still verifies what it signed.
            assert!(published_kids(d, instance.url()).await.contains(&old));
        }
        println!(
            "rotatekeys reached {} instances in {:?}",
            instances.len(),
            rotated.elapsed()
        );
    }
}

async fn prunes_take_turns(d: &Deployment) {
    let mut holder = d.api_db.connect();
    let AnyConnection::Postgres(pg) = &mut holder else {
        panic!("a PostgreSQL database");
    };
    diesel::sql_query(format!(
        "SELECT pg_advisory_lock({})",
        shared::storage::maintenance::PRUNE_LOCK_KEY
    ))
    .execute(pg)
    .expect("take the prune lock");
    // An expired token, made while the lock is held elsewhere.
    let mut conn = d.api_db.connect();
    diesel::sql_query(
        "INSERT INTO access_tokens (jti, user_id, application_id, family, scope, created, \
         expires, revoked) SELECT 'expired-jti', u.id, a.id, 'expired-family', 'read', 0, 1, \
         false FROM users u, applications a LIMIT 1",
    )
    .execute(&mut conn)
    .expect("insert an expired token");
    let expired = "SELECT count(*) AS n FROM access_tokens WHERE jti = 'expired-jti'";
    // Every instance's turn comes, finds the lock taken and skips.
    let mut skipped = Vec::new();
    for instance in &d.api {
        skipped.push(
            instance
                .metric(&d.http, "token_prunes_total", "skipped")
                .await,
        );
    }
    let started = Instant::now();
    for (instance, before) in d.api.iter().zip(&skipped) {
        while instance
            .metric(&d.http, "token_prunes_total", "skipped")
            .await
            <= *before
        {
            assert!(started.elapsed() < PATIENCE, "no prune was skipped");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(count(&mut conn, expired), 1, "nothing pruned while locked");
    diesel::sql_query(format!(
        "SELECT pg_advisory_unlock({})",
        shared::storage::maintenance::PRUNE_LOCK_KEY
    ))
    .execute(pg)
    .expect("release the prune lock");
    let released = Instant::now();
    while count(&mut conn, expired) != 0 {
        assert!(released.elapsed() < PATIENCE, "no instance pruned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
