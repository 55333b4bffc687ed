//! The backends and the client against a fake provider served on a loopback port, one per
//! test, with one path per kind of answer a real provider might give.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;
use shared::profile::Profile;
use shared::security::secret::Secret;

use super::fake_social_site_with_params::profile_path;
use super::*;

const GOOD_TOKEN: &str = "good-token-7f3a9c";
const CAP: usize = 64 * 1024;
static CHUNK: [u8; 16 * 1024] = [b' '; 16 * 1024];

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    accept: Option<String>,
}

type SeenLog = Arc<Mutex<Vec<Seen>>>;

struct FakeProvider {
    client: ProviderClient,
    seen: SeenLog,
    handle: ServerHandle,
}

impl FakeProvider {
    async fn start() -> Self {
        Self::start_with_timeout(Duration::from_secs(5)).await
    }

    async fn start_with_timeout(timeout: Duration) -> Self {
        let seen = SeenLog::default();
        let data = web::Data::new(seen.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(provider))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("bind the fake provider");
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        let client = ProviderClient::new(ProviderClientConfig {
            base_url: format!("http://{address}/"),
            timeout,
            max_body_bytes: CAP,
            ..ProviderClientConfig::default()
        })
        .expect("build the client");
        FakeProvider {
            client,
            seen,
            handle,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen log").clone()
    }

    async fn get(&self, path: &str) -> Result<Profile, SocialError> {
        self.client
            .get_profile(path, &Secret::new(GOOD_TOKEN))
            .await
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Plays Fake Social Site for the paths it has, and a misbehaving provider for the rest.
async fn provider(request: HttpRequest, seen: web::Data<SeenLog>) -> HttpResponse {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header("authorization");
    seen.lock().expect("seen log").push(Seen {
        path: request.path().to_owned(),
        authorization: authorization.clone(),
        accept: header("accept"),
    });
    if authorization.as_deref() != Some(&format!("Bearer {GOOD_TOKEN}")) {
        return HttpResponse::Unauthorized()
            .insert_header((
                "WWW-Authenticate",
                r#"Bearer realm="api", error="invalid_token""#,
            ))
            .json(json!({"detail": "Invalid token."}));
    }
    let admin = json!({"id": 1, "username": "admin", "first_name": "Agustin",
        "last_name": "Barto", "email": "abarto@rest_oauth_social_test.com"});
    match request.path() {
        "/user_details/" | "/user_details_by_username/admin/" => HttpResponse::Ok().json(admin),
        "/status/500" => HttpResponse::InternalServerError().body("Server Error (500)"),
        "/html" => HttpResponse::Ok()
            .content_type("text/html")
            .body("<html><body>Welcome</body></html>"),
        "/no-id" => HttpResponse::Ok().json(json!({"username": "admin"})),
        "/string-id" => HttpResponse::Ok().json(json!({"id": "1", "username": "admin"})),
        "/null-id" => HttpResponse::Ok().json(json!({"id": null, "username": "admin"})),
        "/empty-username" => HttpResponse::Ok().json(json!({"id": 1, "username": ""})),
        "/minimal" => HttpResponse::Ok().json(json!({"id": 7, "username": "min", "email": null})),
        "/huge" => HttpResponse::Ok()
            .content_type("application/json")
            .body(vec![b' '; 1024 * 1024]),
        "/endless" => HttpResponse::Ok().streaming(futures_util::stream::repeat_with(|| {
            Ok::<_, Infallible>(Bytes::from_static(&CHUNK))
        })),
        "/slow" => {
            actix_rt::time::sleep(Duration::from_secs(3)).await;
            HttpResponse::Ok().json(admin)
        }
        "/redirect" => HttpResponse::Found()
            .insert_header(("Location", "/user_details/"))
            .finish(),
        _ => HttpResponse::NotFound().json(json!({"detail": "Not found."})),
    }
}

fn admin() -> Profile {
    Profile {
        id: 1,
        username: "admin".to_owned(),
        first_name: "Agustin".to_owned(),
        last_name: "Barto".to_owned(),
        email: "abarto@rest_oauth_social_test.com".to_owned(),
    }
}

fn with_username(username: &str) -> ExchangeParams {
    ExchangeParams {
        username: Some(username.to_owned()),
        ..ExchangeParams::default()
    }
}

async fn fetch(
    client: &ProviderClient,
    backend: &str,
    token: &str,
    params: &ExchangeParams,
) -> Result<Profile, SocialError> {
    let backends = Backends::standard();
    let backend = backends.get(backend).expect("a registered backend");
    backend
        .fetch_profile(client, &Secret::new(token), params)
        .await
}

/// The provider's answer at `path` is refused as unusable (a 502 for My API's caller).
async fn assert_bad_response(fake: &FakeProvider, path: &str) {
    let result = fake.get(path).await;
    assert!(
        matches!(result, Err(SocialError::BadResponse(_))),
        "{path}: {result:?}"
    );
}

#[actix_rt::test]
async fn fake_social_site_returns_the_token_owners_profile() {
    let fake = FakeProvider::start().await;
    let profile = fetch(
        &fake.client,
        "fake_social_site",
        GOOD_TOKEN,
        &ExchangeParams::default(),
    )
    .await;
    assert_eq!(profile.expect("a profile"), admin());
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/user_details/");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer good-token-7f3a9c")
    );
    assert_eq!(seen[0].accept.as_deref(), Some("application/json"));
    fake.stop().await;
}

#[actix_rt::test]
async fn with_params_asks_for_the_named_users_profile() {
    let fake = FakeProvider::start().await;
    let backend = "fake_social_site_with_params";
    let profile = fetch(&fake.client, backend, GOOD_TOKEN, &with_username("admin")).await;
    assert_eq!(profile.expect("a profile"), admin());
    assert_eq!(fake.seen()[0].path, "/user_details_by_username/admin/");
    fake.stop().await;
}

#[actix_rt::test]
async fn with_params_sends_the_username_as_one_encoded_path_segment() {
    let fake = FakeProvider::start().await;
    let backend = "fake_social_site_with_params";
    let cases = [
        ("a/b c", "/user_details_by_username/a%2Fb%20c/"),
        ("?x", "/user_details_by_username/%3Fx/"),
        ("#frag", "/user_details_by_username/%23frag/"),
        ("../admin", "/user_details_by_username/..%2Fadmin/"),
        ("100%", "/user_details_by_username/100%25/"),
        ("agustín", "/user_details_by_username/agust%C3%ADn/"),
    ];
    for (username, _) in cases {
        let result = fetch(&fake.client, backend, GOOD_TOKEN, &with_username(username)).await;
        assert!(
            matches!(result, Err(SocialError::Rejected)),
            "{username}: {result:?}"
        );
    }
    let seen: Vec<String> = fake.seen().into_iter().map(|seen| seen.path).collect();
    let expected: Vec<&str> = cases.iter().map(|(_, path)| *path).collect();
    assert_eq!(seen, expected);
    fake.stop().await;
}

#[test]
fn with_params_refuses_a_missing_empty_or_dot_segment_username() {
    for username in [None, Some(""), Some("."), Some("..")] {
        let result = profile_path(username);
        assert!(
            matches!(result, Err(SocialError::MissingParameter("username"))),
            "{username:?}: {result:?}"
        );
    }
}

#[actix_rt::test]
async fn with_params_without_a_username_sends_no_request() {
    let fake = FakeProvider::start().await;
    let backend = "fake_social_site_with_params";
    let result = fetch(
        &fake.client,
        backend,
        GOOD_TOKEN,
        &ExchangeParams::default(),
    )
    .await;
    let err = result.expect_err("no username");
    assert!(matches!(err, SocialError::MissingParameter("username")));
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (400, "invalid_request")
    );
    assert!(fake.seen().is_empty());
    fake.stop().await;
}

#[actix_rt::test]
async fn a_401_from_the_provider_is_a_rejection() {
    let fake = FakeProvider::start().await;
    let result = fetch(
        &fake.client,
        "fake_social_site",
        "wrong",
        &ExchangeParams::default(),
    )
    .await;
    assert!(matches!(result, Err(SocialError::Rejected)), "{result:?}");
    fake.stop().await;
}

#[actix_rt::test]
async fn a_404_from_the_provider_is_a_rejection() {
    let fake = FakeProvider::start().await;
    let backend = "fake_social_site_with_params";
    let result = fetch(&fake.client, backend, GOOD_TOKEN, &with_username("user1")).await;
    assert!(matches!(result, Err(SocialError::Rejected)), "{result:?}");
    fake.stop().await;
}

#[actix_rt::test]
async fn an_empty_token_is_rejected_without_asking_the_provider() {
    let fake = FakeProvider::start().await;
    let result = fetch(
        &fake.client,
        "fake_social_site",
        "",
        &ExchangeParams::default(),
    )
    .await;
    assert!(matches!(result, Err(SocialError::Rejected)), "{result:?}");
    assert!(fake.seen().is_empty());
    fake.stop().await;
}

#[actix_rt::test]
async fn a_500_from_the_provider_is_a_bad_response() {
    let fake = FakeProvider::start().await;
    assert_bad_response(&fake, "/status/500").await;
    fake.stop().await;
}

#[actix_rt::test]
async fn a_redirect_is_not_followed_so_the_token_goes_nowhere_else() {
    let fake = FakeProvider::start().await;
    assert_bad_response(&fake, "/redirect").await;
    assert_eq!(fake.seen().len(), 1);
    fake.stop().await;
}

#[actix_rt::test]
async fn a_provider_answering_html_is_a_bad_response() {
    let fake = FakeProvider::start().await;
    assert_bad_response(&fake, "/html").await;
    fake.stop().await;
}

#[actix_rt::test]
async fn a_profile_without_a_numeric_id_is_a_bad_response() {
    let fake = FakeProvider::start().await;
    for path in ["/no-id", "/string-id", "/null-id"] {
        assert_bad_response(&fake, path).await;
    }
    fake.stop().await;
}

#[actix_rt::test]
async fn a_profile_with_an_empty_username_is_a_bad_response() {
    let fake = FakeProvider::start().await;
    assert_bad_response(&fake, "/empty-username").await;
    fake.stop().await;
}

#[actix_rt::test]
async fn missing_or_null_descriptive_fields_become_empty_strings() {
    let fake = FakeProvider::start().await;
    let profile = fake.get("/minimal").await.expect("a profile");
    let expected = Profile {
        id: 7,
        username: "min".to_owned(),
        first_name: String::new(),
        last_name: String::new(),
        email: String::new(),
    };
    assert_eq!(profile, expected);
    fake.stop().await;
}

#[actix_rt::test]
async fn a_one_megabyte_body_is_a_bad_response() {
    let fake = FakeProvider::start().await;
    let result = fake.get("/huge").await;
    assert!(
        matches!(&result, Err(SocialError::BadResponse(m)) if m == "response too large"),
        "{result:?}"
    );
    fake.stop().await;
}

#[actix_rt::test]
async fn an_endless_body_without_a_length_is_cut_at_the_cap() {
    let fake = FakeProvider::start().await;
    let result = fake.get("/endless").await;
    assert!(
        matches!(&result, Err(SocialError::BadResponse(m)) if m == "response too large"),
        "{result:?}"
    );
    fake.stop().await;
}

#[actix_rt::test]
async fn a_provider_slower_than_the_timeout_is_a_timeout() {
    let fake = FakeProvider::start_with_timeout(Duration::from_millis(300)).await;
    // `/slow` answers after 3 s: a timeout, not a late profile, proves the client gave up.
    let result = fake.get("/slow").await;
    let err = result.expect_err("a timeout");
    assert!(matches!(err, SocialError::Timeout), "{err:?}");
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (504, "social_provider_timeout")
    );
    fake.stop().await;
}

#[actix_rt::test]
async fn a_refused_connection_is_unreachable() {
    // A port that was free a moment ago and has no listener now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let client = ProviderClient::new(ProviderClientConfig {
        base_url: format!("http://127.0.0.1:{port}"),
        ..ProviderClientConfig::default()
    })
    .expect("build the client");
    let no_params = ExchangeParams::default();
    let result = fetch(&client, "fake_social_site", GOOD_TOKEN, &no_params).await;
    let err = result.expect_err("nothing listens");
    assert!(matches!(err, SocialError::Unreachable(_)), "{err:?}");
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (503, "social_provider_unavailable")
    );
    assert!(!err.to_string().contains(GOOD_TOKEN));
}

#[actix_rt::test]
async fn errors_never_show_the_token() {
    let fake = FakeProvider::start().await;
    let mut errors = Vec::new();
    for path in ["/status/500", "/html", "/string-id", "/huge", "/redirect"] {
        errors.push(fake.get(path).await.expect_err(path));
    }
    let (wrong, unsendable) = ("wrong-token-d41d8c", "bad\ntoken-e3b0c4");
    let no_params = ExchangeParams::default();
    for token in [wrong, unsendable] {
        let result = fetch(&fake.client, "fake_social_site", token, &no_params).await;
        errors.push(result.expect_err(token));
    }
    for err in &errors {
        for shown in [format!("{err}"), format!("{err:?}")] {
            for token in [GOOD_TOKEN, wrong, "token-e3b0c4"] {
                assert!(!shown.contains(token), "{shown}");
            }
        }
    }
    assert!(!format!("{:?}", fake.client).contains(GOOD_TOKEN));
    fake.stop().await;
}

#[test]
fn the_standard_registry_finds_both_backends_by_name() {
    let backends = Backends::standard();
    let names: Vec<&str> = backends.names().collect();
    assert_eq!(names, ["fake_social_site", "fake_social_site_with_params"]);
    for name in names {
        assert_eq!(backends.get(name).map(|backend| backend.name()), Some(name));
    }
    assert!(backends.get("facebook").is_none());
    assert!(backends.get("").is_none());
}

#[test]
fn the_base_url_loses_its_trailing_slash() {
    let client = ProviderClient::new(ProviderClientConfig {
        base_url: "http://fss.example:8005/prefix/".to_owned(),
        ..ProviderClientConfig::default()
    })
    .expect("build the client");
    assert_eq!(client.base_url(), "http://fss.example:8005/prefix");
    let default = ProviderClient::new(ProviderClientConfig::default()).expect("default");
    assert_eq!(default.base_url(), "http://127.0.0.1:8005");
}

#[test]
fn an_unusable_base_url_is_refused_at_start_up() {
    for base_url in [
        "",
        "127.0.0.1:8005",
        "ftp://fss.example",
        "http://user:pass@fss.example",
        "http://fss.example/?a=b",
    ] {
        let config = ProviderClientConfig {
            base_url: base_url.to_owned(),
            ..ProviderClientConfig::default()
        };
        let result = ProviderClient::new(config);
        assert!(
            matches!(result, Err(ClientBuildError::InvalidBaseUrl(_))),
            "{base_url}"
        );
    }
}
