//! Hostile input, property-based: arbitrary bodies, content types, header values, methods and
//! paths sent to every endpoint of both services always get a 2xx or a 4xx (JSON when an error,
//! or an HTML page from Fake Social Site's pages for people), never a 5xx or a dropped
//! connection, and both services still answer afterwards.
//!
//! proptest drives plain blocking closures, so the services run on an actix system of their
//! own in another thread, and each case is sent from a runtime on the test's thread.

use std::sync::mpsc;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use crate::helpers::{spawn_app, spawn_app_configured};

/// Cases per endpoint; the path fuzzing gets twice as many.
const CASES: u32 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Fss,
    Api,
}

/// The provider's routes, which both services serve, with the methods each serves.
const PROVIDER_ROUTES: &[(&str, &[&str])] = &[
    ("/o/token/", &["POST"]),
    ("/o/revoke_token/", &["POST"]),
    ("/o/introspect/", &["POST"]),
    ("/.well-known/oauth-authorization-server", &["GET"]),
    ("/.well-known/jwks.json", &["GET"]),
    ("/healthz", &["GET"]),
    ("/openapi.json", &["GET"]),
];

/// Each service's own routes.
const OWN_ROUTES: &[(Service, &str, &[&str])] = &[
    (Service::Fss, "/user_details/", &["GET", "HEAD"]),
    (Service::Fss, "/o/authorize/", &["GET"]),
    (Service::Fss, AUTHORIZE_REQUEST, &["GET"]),
    (Service::Fss, "/o/login/", &["POST"]),
    (Service::Fss, "/o/consent/", &["POST"]),
    (Service::Fss, "/o/logout/", &["GET", "POST"]),
    (Service::Fss, "/o/userinfo/", &["GET", "POST"]),
    (Service::Fss, "/.well-known/openid-configuration", &["GET"]),
    (
        Service::Fss,
        "/user_details_by_username/admin/",
        &["GET", "HEAD"],
    ),
    (
        Service::Api,
        "/users/register-by-token/fake_social_site/",
        &["GET", "POST"],
    ),
    (
        Service::Api,
        "/users/register-by-token/fake_social_site_with_params/",
        &["GET", "POST"],
    ),
    (
        Service::Api,
        "/users/link-by-token/fake_social_site/",
        &["POST"],
    ),
    (Service::Api, "/api/", &["GET"]),
    (Service::Api, "/api/me/", &["GET"]),
    (
        Service::Api,
        "/api/me/identities/fake_social_site/",
        &["DELETE"],
    ),
    (Service::Api, "/api/users/", &["GET"]),
    (Service::Api, "/api/users/1/", &["GET"]),
    (Service::Api, "/api/items/", &["GET", "POST"]),
    (
        Service::Api,
        "/api/items/1/",
        &["GET", "PUT", "PATCH", "DELETE"],
    ),
    (Service::Api, "/api/concepts/", &["GET", "POST"]),
    (
        Service::Api,
        "/api/concepts/2/",
        &["GET", "PUT", "PATCH", "DELETE"],
    ),
];

/// A well-formed authorization request of the demo client, so that hostile headers and
/// cookies reach the session and consent checks behind the request's validation.
const AUTHORIZE_REQUEST: &str = "/o/authorize/?response_type=code\
    &client_id=ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d&redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2F\
    &scope=openid%20profile&state=s&nonce=n&code_challenge_method=S256\
    &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Fake Social Site's pages for people: their errors are HTML pages (an error JSON would be
/// shown raw in the browser), where every other route answers JSON.
const HTML_PAGES: &[&str] = &[
    "/o/authorize/",
    AUTHORIZE_REQUEST,
    "/o/login/",
    "/o/consent/",
    "/o/logout/",
];

/// Every route of both services, with the methods it serves.
fn endpoints() -> Vec<(Service, &'static str, &'static [&'static str])> {
    let provider = [Service::Fss, Service::Api]
        .into_iter()
        .flat_map(|service| {
            PROVIDER_ROUTES
                .iter()
                .map(move |&(path, methods)| (service, path, methods))
        });
    provider.chain(OWN_ROUTES.iter().copied()).collect()
}

/// What the running services look like to the test.
struct Target {
    fss: String,
    api: String,
    fss_token: String,
    api_token: String,
}

impl Target {
    fn base(&self, service: Service) -> &str {
        match service {
            Service::Fss => &self.fss,
            Service::Api => &self.api,
        }
    }

    fn token(&self, service: Service) -> &str {
        match service {
            Service::Fss => &self.fss_token,
            Service::Api => &self.api_token,
        }
    }
}

/// One hostile request, short of its target.
#[derive(Debug, Clone)]
struct Case {
    method: String,
    body: Vec<u8>,
    content_type: Option<Vec<u8>>,
    authorization: Authorization,
    extra: Option<(&'static str, Vec<u8>)>,
}

#[derive(Debug, Clone)]
enum Authorization {
    None,
    /// The service's own valid token, so that handlers past authentication are reached.
    Valid,
    Raw(Vec<u8>),
}

/// Bytes a header value may hold (no control characters: the client refuses those).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![0x20_u8..=0x7e, 0x80_u8..=0xff, Just(b'\t')],
        0..80,
    )
}

fn method(usual: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(usual).prop_map(str::to_owned),
        2 => proptest::sample::select(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"][..])
            .prop_map(str::to_owned),
        1 => vec(b'A'..=b'Z', 1..9)
            .prop_map(|m| String::from_utf8(m).unwrap_or_default())
            .prop_filter("CONNECT opens a tunnel", |m| m != "CONNECT"),
    ]
}

/// Form bodies built from the parameters the services know, with hostile values.
fn formish() -> impl Strategy<Value = Vec<u8>> {
    let names = proptest::sample::select(
        &[
            "grant_type",
            "username",
            "password",
            "client_id",
            "client_secret",
            "refresh_token",
            "scope",
            "token",
            "token_type_hint",
            "access_token",
            "subject_token",
            "subject_token_type",
            "subject_issuer",
            "backend",
            "actor_token",
            "name",
            "parent",
            "code",
            "code_verifier",
            "redirect_uri",
            "csrf_token",
            "request",
            "decision",
        ][..],
    );
    let values = prop_oneof![
        proptest::sample::select(
            &[
                "password",
                "refresh_token",
                "convert_token",
                "fake_social_site",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                "urn:ietf:params:oauth:token-type:access_token",
                "ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d",
                "UvIhfUE25cCw0dOWNzvST2ciOm30uO3IqsdZRgj1",
                "admin",
                "read write",
                "authorization_code",
                "allow",
                "http://127.0.0.1:8000/",
                "%ff%fe",
                "",
            ][..],
        )
        .prop_map(|v| v.as_bytes().to_vec()),
        vec(any::<u8>(), 0..40),
    ];
    vec((names, values), 0..8).prop_map(|pairs| {
        let mut body = Vec::new();
        for (name, value) in pairs {
            if !body.is_empty() {
                body.push(b'&');
            }
            body.extend_from_slice(name.as_bytes());
            body.push(b'=');
            body.extend_from_slice(&value);
        }
        body
    })
}

/// JSON bodies near what the resource API takes.
const JSON_BODIES: &[&[u8]] = &[
    br#"{"name": "x"}"#,
    br#"{"name": null, "parent": 1}"#,
    br#"{"parent": 2}"#,
    br#"[null, null]"#,
    br#"{"name": 5}"#,
    br#"{"name": "a", "parent": -1}"#,
    br#"{"name": "a", "parent": 9223372036854775807}"#,
    b"null",
    b"{",
    b"",
];

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..600),
        3 => formish(),
        2 => proptest::sample::select(JSON_BODIES).prop_map(<[u8]>::to_vec),
        1 => (0_usize..64 * 1024).prop_map(|n| vec![b'a'; n]),
    ]
}

fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        Just(Some(b"application/x-www-form-urlencoded".to_vec())),
        Just(Some(b"application/json".to_vec())),
        Just(Some(b"text/plain; charset=utf-8".to_vec())),
        header_bytes().prop_map(Some),
    ]
}

fn authorization() -> impl Strategy<Value = Authorization> {
    prop_oneof![
        Just(Authorization::None),
        Just(Authorization::Valid),
        header_bytes().prop_map(Authorization::Raw),
        header_bytes().prop_map(|t| Authorization::Raw([b"Bearer ".as_slice(), &t].concat())),
        header_bytes().prop_map(|t| Authorization::Raw([b"Basic ".as_slice(), &t].concat())),
    ]
}

fn case(usual: &'static [&'static str]) -> impl Strategy<Value = Case> {
    let extra = proptest::option::of((
        proptest::sample::select(
            &[
                "accept",
                "origin",
                "cookie",
                "forwarded",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-proto",
                "host",
                "range",
                "if-none-match",
                "access-control-request-method",
                "accept-encoding",
            ][..],
        ),
        header_bytes(),
    ));
    (
        method(usual),
        body(),
        content_type(),
        authorization(),
        extra,
    )
        .prop_map(|(method, body, content_type, authorization, extra)| Case {
            method,
            body,
            content_type,
            authorization,
            extra,
        })
}

/// An arbitrary path: hostile segments, percent-encoded where the URL syntax needs it, after
/// a known prefix or none.
fn path() -> impl Strategy<Value = String> {
    let prefix = proptest::sample::select(
        &[
            "",
            "/o",
            "/api",
            "/api/items",
            "/api/concepts",
            "/api/users",
            "/users/register-by-token",
            "/user_details_by_username",
            "/static",
            "/.well-known",
        ][..],
    );
    let segment = prop_oneof![
        vec(any::<u8>(), 0..24).prop_map(|raw| {
            percent_encoding::percent_encode(&raw, percent_encoding::NON_ALPHANUMERIC).to_string()
        }),
        proptest::sample::select(
            &[
                "..",
                ".",
                "",
                "%00",
                "%ff",
                "%2e%2e",
                "%2F",
                "admin",
                "1",
                "-1",
                "99999999999999999999"
            ][..],
        )
        .prop_map(str::to_owned),
    ];
    (prefix, vec(segment, 0..5), any::<bool>()).prop_map(|(prefix, segments, slash)| {
        let mut path = prefix.to_owned();
        for segment in segments {
            path.push('/');
            path.push_str(&segment);
        }
        if slash || path.is_empty() {
            path.push('/');
        }
        path
    })
}

/// Sends one case and checks the answer.
fn check(
    rt: &actix_rt::Runtime,
    http: &reqwest::Client,
    target: &Target,
    service: Service,
    path: &str,
    case: &Case,
) -> Result<(), TestCaseError> {
    let method = Method::from_bytes(case.method.as_bytes()).expect("a token method");
    let url = format!("{}{path}", target.base(service));
    let mut request = http.request(method.clone(), &url).body(case.body.clone());
    if let Some(value) = &case.content_type {
        request = request.header(
            CONTENT_TYPE,
            HeaderValue::from_bytes(value).expect("a value"),
        );
    }
    match &case.authorization {
        Authorization::None => {}
        Authorization::Valid => request = request.bearer_auth(target.token(service)),
        Authorization::Raw(value) => {
            let value = HeaderValue::from_bytes(value).expect("a header value");
            request = request.header("authorization", value);
        }
    }
    if let Some((name, value)) = &case.extra {
        let value = HeaderValue::from_bytes(value).expect("a header value");
        request = request.header(HeaderName::from_static(name), value);
    }
    let (status, content_type, text) = rt.block_on(async {
        let response = request
            .send()
            .await
            .map_err(|e| TestCaseError::fail(format!("{method} {path}: no answer: {e}")))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let text = response.text().await.unwrap_or_default();
        Ok::<_, TestCaseError>((status, content_type, text))
    })?;
    if status.is_server_error() {
        return Err(TestCaseError::fail(format!(
            "{method} {path}: {status}: {text}"
        )));
    }
    let page = HTML_PAGES.contains(&path)
        && content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("text/html"));
    if status.is_client_error() && page {
        prop_assert!(
            text.starts_with("<!DOCTYPE html>"),
            "{} {}: {} answered with a broken page: {}",
            method,
            path,
            status,
            text
        );
    } else if status.is_client_error() && method != Method::HEAD {
        let json = content_type.is_some_and(|c| c.starts_with("application/json"));
        prop_assert!(
            json,
            "{} {}: {} answered without JSON: {}",
            method,
            path,
            status,
            text
        );
        prop_assert!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            "{} {}: {} with a body that is not JSON: {}",
            method,
            path,
            status,
            text
        );
    }
    Ok(())
}

/// A runner with a fixed seed: the same cases on every run, so a failure in CI is one that
/// reproduces (change the seed locally to explore further).
fn runner(config: Config) -> TestRunner {
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

fn healthy(rt: &actix_rt::Runtime, http: &reqwest::Client, target: &Target) {
    for base in [&target.fss, &target.api] {
        let status = rt
            .block_on(async { http.get(format!("{base}/healthz")).send().await })
            .expect("the service still answers")
            .status();
        assert_eq!(status, StatusCode::OK, "{base}/healthz");
    }
}

#[test]
fn every_endpoint_answers_hostile_input_with_json_4xx_and_never_a_5xx() {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let services = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let app = spawn_app().await;
            let fss_token = app.fss_token("admin", "admin").await;
            let api_token = app.local_token("admin", "admin").await;
            ready_tx
                .send(Target {
                    fss: app.fss().address.clone(),
                    api: app.address.clone(),
                    fss_token,
                    api_token,
                })
                .expect("hand over the target");
            // Keep the services (and their databases) until the test is done.
            let _ = actix_rt::task::spawn_blocking(move || stop_rx.recv()).await;
            drop(app);
        });
    });
    let target = ready_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the services started");
    let rt = actix_rt::Runtime::new().expect("a runtime for the client");
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };

    for (service, path, usual) in endpoints() {
        let mut runner = runner(config.clone());
        let result = runner.run(&case(usual), |case| {
            check(&rt, &http, &target, service, path, &case)
        });
        if let Err(e) = result {
            panic!("{service:?} {path}: {e}");
        }
        healthy(&rt, &http, &target);
    }

    let mut runner = runner(Config {
        cases: CASES * 2,
        ..config
    });
    let strategy = (
        prop_oneof![Just(Service::Fss), Just(Service::Api)],
        path(),
        case(&["GET", "POST"]),
    );
    let result = runner.run(&strategy, |(service, path, case)| {
        check(&rt, &http, &target, service, &path, &case)
    });
    if let Err(e) = result {
        panic!("arbitrary paths: {e}");
    }
    healthy(&rt, &http, &target);

    stop_tx.send(()).expect("stop the services");
    services.join().expect("the services' thread");
}

#[actix_rt::test]
async fn a_json_array_is_not_an_object_to_create_or_update_from() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    let array = serde_json::json!([null, null]);
    for (method, path) in [
        (Method::POST, "/api/items/"),
        (Method::PUT, "/api/items/1/"),
        (Method::POST, "/api/concepts/"),
        (Method::PUT, "/api/concepts/2/"),
        (Method::PATCH, "/api/concepts/2/"),
    ] {
        let response = app
            .request(method.clone(), path, Some(&token), Some(&array))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{method} {path}"
        );
    }
}

#[actix_rt::test]
async fn every_route_answers_an_unknown_method_with_405_and_allow() {
    // Demo mode, for the test page's routes.
    let app = spawn_app_configured(|s| s.demo = true).await;
    let trace = Method::from_bytes(b"TRACE").expect("a method");
    for path in [
        "/",
        "/static/app.js",
        "/static/style.css",
        "/api/",
        "/api/me/",
        "/api/me/identities/fake_social_site/",
        "/users/link-by-token/fake_social_site/",
        "/api/users/",
        "/api/users/1/",
        "/api/items/",
        "/api/concepts/1/",
        "/o/token/",
        "/healthz",
        "/openapi.json",
    ] {
        let response = app.request(trace.clone(), path, None, None).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert!(response.headers().contains_key("allow"), "{path}");
    }
}

#[actix_rt::test]
async fn both_services_serve_their_openapi_document() {
    let app = spawn_app().await;
    for base in [app.address.clone(), app.fss().address.clone()] {
        let response = app
            .http
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .expect("GET /openapi.json");
        let doc = crate::helpers::json_body(response, StatusCode::OK).await;
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/o/token/"]["post"].is_object(), "{base}");
        assert!(doc["paths"]["/healthz"]["get"]["responses"]["503"].is_object());
    }
}
