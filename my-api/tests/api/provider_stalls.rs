//! A provider that stalls: headers trickling in a byte at a time still end in a 504 within
//! the configured timeout, and exchanges hanging on the provider never hold up My API's
//! other requests (the workers only await the provider, they never block on it).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::fake_provider::{Behaviour, FakeProvider};
use crate::helpers::*;

const TOKEN: &str = "provider-token-5c1e";

/// A raw TCP provider that reads a request, sends a status line, then one byte of a header
/// every 200 ms, forever (until the peer goes away or `stop`).
fn trickling_headers(stop: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the trickling provider");
    let url = format!(
        "http://{}",
        listener.local_addr().expect("the bound address")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = [0_u8; 4096];
                let _ = stream.read(&mut buf);
                if stream.write_all(b"HTTP/1.1 200 OK\r\n").is_err() {
                    return;
                }
                for byte in b"x-trickle: ".iter().chain(std::iter::repeat(&b'a')) {
                    if stop.load(Ordering::SeqCst) || stream.write_all(&[*byte]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
    });
    url
}

#[actix_rt::test]
async fn a_provider_trickling_its_headers_is_a_json_504_within_the_timeout() {
    let stop = Arc::new(AtomicBool::new(false));
    let app = spawn_app_with_provider(&trickling_headers(stop.clone())).await;
    let before = app.accounts();
    for door in Door::ALL {
        let started = Instant::now();
        let response = app.exchange(door, FSS, TOKEN, None).await;
        let elapsed = started.elapsed();
        let body = json_body(response, StatusCode::GATEWAY_TIMEOUT).await;
        assert_eq!(body["error"], "social_provider_timeout", "{door:?}: {body}");
        // The timeout covers the whole exchange with the provider, headers included, however
        // busy the provider looks; one retry-free attempt at most, so about the timeout.
        assert!(
            elapsed >= SOCIAL_TIMEOUT,
            "{door:?}: gave up early: {elapsed:?}"
        );
        assert!(
            elapsed < SOCIAL_TIMEOUT * 2 + Duration::from_secs(1),
            "{door:?}: took {elapsed:?}"
        );
    }
    assert_eq!(app.accounts(), before);
    stop.store(true, Ordering::SeqCst);
}

#[actix_rt::test]
async fn my_api_keeps_answering_other_requests_while_exchanges_hang_on_the_provider() {
    let provider = FakeProvider::start(Behaviour::Hang(SOCIAL_TIMEOUT * 5));
    // One worker: any blocking on the provider would stall everything else.
    let app = spawn_app_with_provider(&provider.url).await;
    let app = Arc::new(app);
    let hanging: Vec<_> = (0..8)
        .map(|i| {
            let app = app.clone();
            actix_rt::spawn(async move {
                let door = Door::ALL[i % Door::ALL.len()];
                app.exchange(door, FSS, TOKEN, None).await.status()
            })
        })
        .collect();
    actix_rt::time::sleep(Duration::from_millis(200)).await;

    for _ in 0..5 {
        let started = Instant::now();
        let response = app.get_api("/healthz", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.get_api("/api/items/", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let took = started.elapsed();
        assert!(took < Duration::from_millis(500), "took {took:?}");
    }
    assert!(
        hanging.iter().all(|h| !h.is_finished()),
        "the exchanges were supposed to be hanging still"
    );
    for exchange in hanging {
        let status = exchange.await.expect("an exchange task");
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    }
}
