//! A social provider the test controls: a small actix-web server on a loopback port that
//! answers every request the same chosen way, and records what it was asked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
pub use test_support::net::refused_url;
use test_support::net::{loopback_listener, read_request, write_json_answer};

/// How the provider answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with this JSON body.
    Json(Value),
    /// 401 with a bearer challenge: the token is refused.
    Unauthorized,
    /// 500 with Django's HTML error page.
    ServerError,
    /// 200 with an HTML page.
    Html,
    /// 200 with a valid profile padded to about 2 MB.
    Huge,
    /// Waits this long, then answers a good profile.
    Hang(Duration),
}

/// What the provider saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
}

struct State {
    behaviour: Behaviour,
    seen: Mutex<Vec<Seen>>,
}

pub struct FakeProvider {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl FakeProvider {
    /// Starts the provider on the current actix system.
    pub fn start(behaviour: Behaviour) -> FakeProvider {
        let state = Arc::new(State {
            behaviour,
            seen: Mutex::new(Vec::new()),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("bind the fake provider");
        let url = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        FakeProvider { url, state, handle }
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("the request log").clone()
    }
}

/// The profile a well-behaved provider returns for the token's owner.
pub fn good_profile() -> Value {
    json!({
        "id": 4242,
        "username": "sam",
        "first_name": "Sam",
        "last_name": "Social",
        "email": "sam@social.example",
    })
}

/// A provider that reads each request and closes the connection without a word, for the
/// first `hang_ups` connections, then answers a good profile. Returns its URL and a count of
/// the connections it accepted.
pub fn hanging_up(hang_ups: usize) -> (String, Arc<AtomicUsize>) {
    let (listener, url) = loopback_listener();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if read_request(&mut stream).starts_with(b"POST /o/introspect/") {
                write_json_answer(&mut stream, &introspection().to_string());
                continue;
            }
            let n = counter.fetch_add(1, Ordering::SeqCst);
            if n >= hang_ups {
                write_json_answer(&mut stream, &good_profile().to_string());
                return;
            }
        }
    });
    (url, accepted)
}

/// The introspection answer of a provider that issued the token to My API's trusted client
/// for the owner of [`good_profile`]. Introspection is not what these tests are about, so it
/// always answers well and is not recorded.
pub fn introspection() -> Value {
    json!({
        "active": true,
        "client_id": my_api::settings::DEFAULT_TRUSTED_CLIENT_ID,
        "sub": "4242",
        "exp": shared::clock::now() + 3600,
    })
}

async fn answer(request: HttpRequest, state: web::Data<State>) -> HttpResponse {
    if request.path() == "/o/introspect/" {
        return HttpResponse::Ok().json(introspection());
    }
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    state.seen.lock().expect("the request log").push(Seen {
        path: request.path().to_owned(),
        authorization,
    });
    match &state.behaviour {
        Behaviour::Json(body) => HttpResponse::Ok().json(body),
        Behaviour::Unauthorized => HttpResponse::Unauthorized()
            .insert_header((
                "WWW-Authenticate",
                r#"Bearer realm="api", error="invalid_token""#,
            ))
            .json(json!({ "detail": "Invalid token." })),
        Behaviour::ServerError => HttpResponse::InternalServerError()
            .content_type("text/html")
            .body("<h1>Server Error (500)</h1>"),
        Behaviour::Html => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body("<!doctype html><html><body><h1>Welcome!</h1></body></html>"),
        Behaviour::Huge => {
            let mut profile = good_profile();
            profile["bio"] = Value::String("x".repeat(2 * 1024 * 1024));
            HttpResponse::Ok().json(profile)
        }
        Behaviour::Hang(delay) => {
            actix_rt::time::sleep(*delay).await;
            HttpResponse::Ok().json(good_profile())
        }
    }
}
