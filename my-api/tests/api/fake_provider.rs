//! A social provider the test controls: a small actix-web server on a loopback port that
//! answers every request the same chosen way, and records what it was asked.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

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
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hanging-up provider");
    let url = format!(
        "http://{}",
        listener.local_addr().expect("the bound address")
    );
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if read_head(&mut stream).starts_with(b"POST /o/introspect/") {
                answer_introspection(&mut stream);
                continue;
            }
            let n = counter.fetch_add(1, Ordering::SeqCst);
            if n >= hang_ups {
                let body = good_profile().to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body.as_bytes());
                return;
            }
        }
    });
    (url, accepted)
}

/// Reads a request head and, for a POST, its body, so that closing sends a FIN and not a
/// reset. Returns what was read.
fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return head,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    let length: usize = text
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while head.len() < end + length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    head
}

fn answer_introspection(stream: &mut TcpStream) {
    let body = introspection().to_string();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// A URL nothing listens on: a port that was free a moment ago, its listener dropped.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let address = listener.local_addr().expect("the bound address");
    drop(listener);
    format!("http://{address}")
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
