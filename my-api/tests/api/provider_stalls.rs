//! A provider that stalls: headers trickling in a byte at a time still end in a 504 within
//! the configured timeout, and exchanges hanging on the provider never hold up My API's
//! other requests (the workers only await the provider, they never block on it).

use std::io::{Read, Write};
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
    let (listener, url) = test_support::net::loopback_listener();
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

/// Generous bound on anything a test waits for: reaching it means the code under test hangs,
/// not that the machine is slow.
const HANG: Duration = Duration::from_secs(60);

#[actix_rt::test]
async fn a_provider_trickling_its_headers_is_a_json_504_within_the_timeout() {
    let stop = Arc::new(AtomicBool::new(false));
    let app = spawn_app_with_provider(&trickling_headers(stop.clone())).await;
    let before = app.accounts();
    for door in Door::ALL {
        // The provider trickles forever: an answer at all means the timeout covered the
        // headers too, however busy the provider looked.
        let started = Instant::now();
        let response = actix_rt::time::timeout(HANG, app.exchange(door, FSS, TOKEN, None))
            .await
            .unwrap_or_else(|_| panic!("{door:?}: no answer in {HANG:?}"));
        let elapsed = started.elapsed();
        let body = json_body(response, StatusCode::GATEWAY_TIMEOUT).await;
        assert_eq!(body["error"], "social_provider_timeout", "{door:?}: {body}");
        assert!(
            elapsed >= SOCIAL_TIMEOUT,
            "{door:?}: gave up early: {elapsed:?}"
        );
    }
    assert_eq!(app.accounts(), before);
    stop.store(true, Ordering::SeqCst);
}

#[actix_rt::test]
async fn my_api_keeps_answering_other_requests_while_exchanges_hang_on_the_provider() {
    // The provider never answers and My API waits for it far longer than the test runs, so
    // the exchanges are still hanging whatever the machine's speed.
    let provider = FakeProvider::start(Behaviour::Hang(HANG * 60));
    // One worker: any blocking on the provider would stall everything else.
    let app = spawn_app_with_provider_timeout(&provider.url, HANG).await;
    let app = Arc::new(app);
    let hanging: Vec<_> = (0..8)
        .map(|i| {
            let app = app.clone();
            actix_rt::spawn(async move {
                let door = Door::ALL[i % Door::ALL.len()];
                app.exchange(door, FSS, TOKEN, None).await
            })
        })
        .collect();
    // Wait until the provider holds all eight.
    let deadline = Instant::now() + HANG;
    while provider.seen().len() < 8 {
        assert!(
            Instant::now() < deadline,
            "the exchanges never reached the provider"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }

    for _ in 0..5 {
        let response = app.get_api("/healthz", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.get_api("/api/items/", None).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert!(
        hanging.iter().all(|h| !h.is_finished()),
        "the exchanges were supposed to be hanging still"
    );
    // The provider goes away: every hanging exchange ends as a JSON provider fault.
    drop(provider);
    for exchange in hanging {
        let response = actix_rt::time::timeout(HANG, exchange)
            .await
            .expect("the exchange ends once the provider is gone")
            .expect("an exchange task");
        let status = response.status();
        assert!(
            [
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::GATEWAY_TIMEOUT
            ]
            .contains(&status),
            "{status}"
        );
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("social_provider_")),
            "{body}"
        );
    }
}
