//! A second OpenID Connect provider the test controls: a small actix-web server on a loopback
//! port serving a discovery document and a JWKS made of keys the test holds, so that the test
//! can sign any token it likes. It counts its fetches, rotates its keys, and can serve a JWKS
//! that is broken or whose address is down.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use shared::storage::tokens::SigningAlg;
use shared::storage::tokens::signing::{SigningKey, generate_pkcs8};
use test_support::net::loopback_listener;

/// The client id the provider issues tokens to, which My API is configured to accept.
pub const CLIENT: &str = "client-of-my-api";

/// How the JWKS is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jwks {
    Served,
    /// The discovery document points at an address where nothing listens.
    Down,
    /// 200 with a body that is no JWK set.
    Garbage,
    /// Never answers.
    Stalled,
}

struct State {
    url: String,
    keys: Mutex<Vec<Arc<SigningKey>>>,
    jwks: Jwks,
    /// The `issuer` the discovery document names (the provider's URL unless a test lies).
    issuer: Mutex<Option<String>>,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
}

pub struct OidcProvider {
    /// `http://127.0.0.1:<port>`, the issuer.
    pub url: String,
    state: Arc<State>,
    handle: ServerHandle,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// A new signing key named `kid`.
pub fn new_key(kid: &str, alg: SigningAlg) -> Arc<SigningKey> {
    let der = generate_pkcs8(alg).expect("a key");
    Arc::new(SigningKey::from_pkcs8(kid, alg, &der, 0).expect("a usable key"))
}

impl OidcProvider {
    /// Starts the provider on the current actix system with one ES256 key, `k1`.
    pub fn start(jwks: Jwks) -> OidcProvider {
        let (listener, url) = loopback_listener();
        let state = Arc::new(State {
            url: url.clone(),
            keys: Mutex::new(vec![new_key("k1", SigningAlg::Es256)]),
            jwks,
            issuer: Mutex::new(None),
            discovery_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/jwks/", web::get().to(jwks_set))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        OidcProvider { url, state, handle }
    }

    /// Makes the discovery document name another issuer.
    pub fn lie_about_the_issuer(&self) {
        *self.state.issuer.lock().expect("lock") = Some("https://elsewhere.example".into());
    }

    pub fn discovery_fetches(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Publishes `key` instead of the current keys (a rotation).
    pub fn publish_only(&self, key: Arc<SigningKey>) {
        *self.state.keys.lock().expect("lock") = vec![key];
    }

    /// The first published key.
    pub fn key(&self) -> Arc<SigningKey> {
        self.state.keys.lock().expect("lock")[0].clone()
    }

    /// Claims that pass every check for `sub`, issued now.
    pub fn claims(&self, sub: &str) -> Value {
        let now = shared::clock::now();
        json!({
            "iss": self.url,
            "aud": CLIENT,
            "sub": sub,
            "iat": now,
            "exp": now + 600,
            "preferred_username": "ada",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.com",
        })
    }

    /// `claims` signed with the first published key, as the provider would.
    pub fn token(&self, claims: &Value) -> String {
        let key = self.key();
        sign(&key, &header_of(&key), claims)
    }
}

/// The header a provider puts on a token signed with `key`.
pub fn header_of(key: &SigningKey) -> Value {
    json!({ "alg": key.alg.as_str(), "kid": key.kid, "typ": "JWT" })
}

/// A JWS of `header` and `claims` signed by `key`, whatever the header says.
pub fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let message = unsigned(header, claims);
    let signature = key.sign(message.as_bytes()).expect("a signature");
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The first two parts of a JWS.
pub fn unsigned(header: &Value, claims: &Value) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}", part(header), part(claims))
}

async fn discovery(state: web::Data<State>) -> HttpResponse {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let issuer = state
        .issuer
        .lock()
        .expect("lock")
        .clone()
        .unwrap_or_else(|| state.url.clone());
    let jwks_uri = match state.jwks {
        Jwks::Down => format!("{}/jwks/", test_support::net::refused_url()),
        Jwks::Served | Jwks::Garbage | Jwks::Stalled => format!("{}/jwks/", state.url),
    };
    HttpResponse::Ok().json(json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
    }))
}

async fn jwks_set(state: web::Data<State>) -> HttpResponse {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if state.jwks == Jwks::Stalled {
        std::future::pending::<()>().await;
    }
    if state.jwks == Jwks::Garbage {
        return HttpResponse::Ok()
            .content_type("application/json")
            .body("<html>not a key set</html>");
    }
    let keys: Vec<Value> = state
        .keys
        .lock()
        .expect("lock")
        .iter()
        .map(|key| serde_json::to_value(key.jwk()).expect("a JWK"))
        .collect();
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .json(json!({ "keys": keys }))
}
