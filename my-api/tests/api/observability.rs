//! What an operator sees: every answer's `X-Request-Id` (the caller's when sane, else a new
//! one), the id carried to Fake Social Site and found in both services' log lines, and the
//! Prometheus metrics moving with the traffic. The metrics are the process's, shared by the
//! tests running beside this one, so each check is on how much a series grew at least.

use reqwest::StatusCode;
use shared::service::metrics::MetricsServer;

use crate::helpers::{FSS, json_body, spawn_app, string};

/// The value of the series `name` whose labels include every `labels` pair (0 if absent).
pub fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            series.split('{').next() == Some(name)
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| value.parse::<f64>().expect("a number"))
        .sum()
}

async fn scrape(metrics: &MetricsServer) -> String {
    let response = reqwest::get(metrics.url()).await.expect("GET /metrics");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("the metrics")
}

#[actix_rt::test]
async fn answers_carry_the_callers_sane_request_id_or_a_new_one() {
    let app = spawn_app().await;
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .expect("ASCII")
            .to_owned()
    };
    for path in ["/healthz", "/no-such-route/", "/api/items/"] {
        let kept = "op-1.A_b-9";
        let response = app
            .http
            .get(app.url(path))
            .header("X-Request-Id", kept)
            .send()
            .await
            .expect(path);
        assert_eq!(id_of(&response), kept, "{path}");
        let response = app.http.get(app.url(path)).send().await.expect(path);
        let fresh = id_of(&response);
        assert_eq!(fresh.len(), 32, "{fresh}");
        assert!(fresh.bytes().all(|b| b.is_ascii_hexdigit()), "{fresh}");
        let other = id_of(&app.http.get(app.url(path)).send().await.expect(path));
        assert_ne!(fresh, other, "each request gets its own id");
        for insane in [
            "two words",
            "a\"quote",
            "x".repeat(65).as_str(),
            "line\tbreak",
        ] {
            let response = app
                .http
                .get(app.url(path))
                .header("X-Request-Id", insane)
                .send()
                .await
                .expect(path);
            let replaced = id_of(&response);
            assert_ne!(replaced, insane);
            assert_eq!(replaced.len(), 32, "{replaced}");
        }
    }
}

#[actix_rt::test]
async fn one_exchange_is_found_by_its_request_id_in_both_services_logs() {
    test_support::logs::capture();
    let app = spawn_app().await;
    app.create_fss_user("traced-user", "traced-password-41");
    let fss_token = app.fss_token("traced-user", "traced-password-41").await;
    let id = "trace-7d1e5c2a-exchange";
    let response = app
        .http
        .post(app.url(&format!("/users/register-by-token/{FSS}/")))
        .header("X-Request-Id", id)
        .form(&[("access_token", fss_token.as_str())])
        .send()
        .await
        .expect("the exchange");
    assert_eq!(response.headers()["x-request-id"], id);
    let body = json_body(response, StatusCode::OK).await;
    string(&body, "access_token");

    let lines: Vec<serde_json::Value> = test_support::logs::captured_json()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON log line"))
        .filter(|line: &serde_json::Value| line["request_id"] == id)
        .collect();
    let routes: Vec<&str> = lines.iter().filter_map(|l| l["route"].as_str()).collect();
    // My API's access line, and Fake Social Site's for the two calls My API made for it.
    for route in [
        "/users/register-by-token/{backend}/",
        "/user_details/",
        "/o/introspect/",
    ] {
        assert!(
            routes.contains(&route),
            "no {route} line with the id: {lines:?}"
        );
    }
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["target"].is_string()),
        "{lines:?}"
    );
}

#[actix_rt::test]
async fn the_metrics_move_with_the_traffic() {
    let app = spawn_app().await;
    let metrics = MetricsServer::start(shared::service::http::bind("127.0.0.1:0").expect("bind"))
        .expect("the metrics listener");
    let before = scrape(&metrics).await;
    let route = [("route", "/users/register-by-token/{backend}/")];
    let exchanges_ok = [("backend", FSS), ("outcome", "issued")];
    let profile = [("backend", FSS), ("call", "profile")];

    app.create_fss_user("metered-user", "metered-password-77");
    let fss_token = app.fss_token("metered-user", "metered-password-77").await;
    let api_token = app.exchange_token(&fss_token).await;
    let refused = app.register_by_token(FSS, "not-a-token-at-all", None).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    for _ in 0..3 {
        let response = app.get_api("/api/items/", Some(&api_token)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let unmatched = app.http.get(app.url("/no/such/path/42")).send().await;
    assert_eq!(unmatched.expect("GET").status(), StatusCode::NOT_FOUND);

    let after = scrape(&metrics).await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let ok = [route[0], ("status", "200")];
    assert!(grew("http_requests_total", &ok) >= 1.0, "{after}");
    let unauthorized = [route[0], ("status", "401")];
    assert!(grew("http_requests_total", &unauthorized) >= 1.0, "{after}");
    let items = [("route", "/api/items/"), ("status", "200")];
    assert!(grew("http_requests_total", &items) >= 3.0, "{after}");
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert!(grew("http_requests_total", &unmatched) >= 1.0, "{after}");
    assert!(
        !after.contains("/no/such/path/42"),
        "a raw path became a label"
    );
    assert!(grew("http_request_duration_seconds_count", &route) >= 2.0);
    assert!(
        grew("token_exchanges_total", &exchanges_ok) >= 1.0,
        "{after}"
    );
    let rejected = [("backend", FSS), ("outcome", "rejected")];
    assert!(grew("token_exchanges_total", &rejected) >= 1.0, "{after}");
    assert!(grew("provider_request_duration_seconds_count", &profile) >= 1.0);
    let issued = [("grant_type", "register_by_token")];
    assert!(
        grew("oauth2_tokens_issued_total", &issued) >= 1.0,
        "{after}"
    );
    assert!(grew("oauth2_tokens_issued_total", &[("grant_type", "password")]) >= 1.0);
    assert!(grew("db_pool_wait_seconds_count", &[]) >= 1.0, "{after}");
    assert!(grew("token_cache_lookups_total", &[]) >= 3.0, "{after}");
    for gauge in [
        "password_hashes_queued",
        "password_hashes_running",
        "db_pool_connections_in_use",
        "db_pool_waits_total",
        "throttle_refusals_total",
    ] {
        assert!(
            after.contains(&format!("# TYPE {gauge} ")),
            "no {gauge}: {after}"
        );
    }
    metrics.stop().await;
}

/// `my-api` run as the binary on the test's database; (success, stdout, stderr).
fn manage(app: &crate::helpers::TestApp, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_my-api"))
        .env_clear()
        .arg("--database")
        .arg(app.db.url_arg())
        .args(args)
        .output()
        .expect("run my-api");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[actix_rt::test]
async fn a_users_social_identities_are_listed_and_unlinked_and_the_shared_commands_work() {
    let app = spawn_app().await;
    app.create_fss_user("linked-user", "linked-password-93");
    let fss_token = app.fss_token("linked-user", "linked-password-93").await;
    app.exchange_token(&fss_token).await;

    let (success, table, stderr) = manage(&app, &["identities", "list", "--user", "linked-user"]);
    assert!(success, "{stderr}");
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains(FSS), "{table}");
    let (_, listed, _) = manage(
        &app,
        &["identities", "list", "--user", "linked-user", "--json"],
    );
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["backend"], FSS);

    // The shared commands, on My API's database: an inactive user's identity buys nothing.
    let (success, users, stderr) = manage(&app, &["users", "list", "--json"]);
    assert!(success, "{stderr}");
    assert!(users.contains("\"linked-user\""), "{users}");
    let (success, _, stderr) = manage(&app, &["users", "deactivate", "linked-user"]);
    assert!(success, "{stderr}");
    let refused = app.register_by_token(FSS, &fss_token, None).await;
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "an inactive user got tokens"
    );

    let args = [
        "identities",
        "unlink",
        "--user",
        "linked-user",
        "--backend",
        FSS,
        "--json",
    ];
    let (success, said, stderr) = manage(&app, &args);
    assert!(success, "{stderr}");
    let said: serde_json::Value = serde_json::from_str(&said).expect("JSON");
    assert_eq!(said["unlinked"], 1);
    let (_, listed, _) = manage(
        &app,
        &["identities", "list", "--user", "linked-user", "--json"],
    );
    assert_eq!(listed.trim(), "[]");
    let (success, _, stderr) = manage(&app, &args);
    assert!(!success && stderr.contains("has no identity"), "{stderr}");
}
