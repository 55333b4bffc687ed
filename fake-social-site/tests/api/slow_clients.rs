//! Clients that send their body slowly, or not at all, cannot hold connections: the whole body
//! must arrive within REQUEST_BODY_TIMEOUT_MS or the answer is a JSON 408 and the connection
//! closes, and each worker takes at most MAX_CONNECTIONS, so a flood of such clients under a
//! small open-file limit does not starve `/healthz`. The real binary runs here, configured by
//! its environment variables, and under `ulimit -n 256` where the limit is the point.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tempfile::TempDir;
use test_support::process::ChildService;

const BINARY: &str = env!("CARGO_BIN_EXE_fake-social-site");

/// The first bytes of a form body that announces 105.
const TRICKLE: &[u8] = b"POST /o/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\
Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 105\r\n\r\ngrant";

/// The service on a free loopback port, under `ulimit -n nofile`; killed on drop.
struct Service {
    service: ChildService,
    _dir: TempDir,
}

impl Service {
    fn start(nofile: u32, env: &[(&str, &str)]) -> Service {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = dir.path().join("fss.sqlite3");
        test_support::db::load_fixture(&db, "fake-social-site.json", &[], &[]);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(BINARY);
        test_support::process::serve(&mut command, &db, "127.0.0.1:0").envs(env.iter().copied());
        Service {
            service: ChildService::start("fake-social-site", &mut command),
            _dir: dir,
        }
    }

    fn address(&self) -> &str {
        self.service.address()
    }

    /// A connection that sent its headers and 5 of the 105 body bytes it announced.
    fn trickle(&self) -> TcpStream {
        let mut stream = TcpStream::connect(self.address()).expect("connect");
        stream.write_all(TRICKLE).expect("send the first bytes");
        stream
    }
}

#[test]
fn a_body_that_trickles_in_gets_a_json_408_and_the_connection_closes() {
    let service = Service::start(1024, &[("REQUEST_BODY_TIMEOUT_MS", "1000")]);
    let mut stream = service.trickle();
    // Generous: the point is that an answer comes at all, and then the end of the stream.
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("set a read timeout");
    let started = Instant::now();
    let mut answer = vec![0; 1];
    let first = stream.read_exact(&mut answer);
    let answered = started.elapsed();
    assert!(first.is_ok(), "no answer within 15 s: {first:?}");
    let read = stream.read_to_end(&mut answer);
    let closed = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        read.is_ok(),
        "no close within 15 s ({read:?}), got {answer:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/json"), "{answer}");
    assert!(lower.contains("connection: close"), "{answer}");
    assert!(answer.contains("\"error\":\"invalid_request\""), "{answer}");
    eprintln!("trickled body: 408 after {answered:?}, connection closed after {closed:?}");
}

#[actix_rt::test]
async fn healthz_answers_while_300_connections_trickle_their_bodies_under_a_small_file_limit() {
    let service = Service::start(
        256,
        &[
            ("REQUEST_BODY_TIMEOUT_MS", "1000"),
            ("MAX_CONNECTIONS", "150"),
            ("WORKERS", "1"),
        ],
    );
    let slow: Vec<TcpStream> = (0..300).map(|_| service.trickle()).collect();
    let http = test_support::http::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client");
    let started = Instant::now();
    let response = http
        .get(format!("http://{}/healthz", service.address()))
        .send()
        .await;
    let took = started.elapsed();
    let response = response.unwrap_or_else(|e| panic!("/healthz after {took:?}: {e}"));
    assert_eq!(response.status(), StatusCode::OK);
    eprintln!(
        "/healthz 200 after {took:?} with {} slow connections open",
        slow.len()
    );
}
