//! Loopback sockets for tests that play a peer by hand: a listener on a free port, a URL
//! nothing listens on, and reading one HTTP request off a raw stream and answering it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// A listener on a free loopback port, and its `http://127.0.0.1:<port>`.
///
/// # Panics
/// When no port can be bound.
pub fn loopback_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    let url = format!(
        "http://{}",
        listener.local_addr().expect("the bound address")
    );
    (listener, url)
}

/// A URL nothing listens on: a port that was free a moment ago, its listener dropped.
pub fn refused_url() -> String {
    let (listener, url) = loopback_listener();
    drop(listener);
    url
}

/// Reads a request head and, when it announces one, its body, so that closing the stream
/// afterwards sends a FIN and not a reset. Returns what was read.
pub fn read_request(stream: &mut TcpStream) -> Vec<u8> {
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

/// Writes a whole `200 OK` answer with this JSON body and `connection: close`, ignoring a
/// peer that has gone.
pub fn write_json_answer(stream: &mut TcpStream, body: &str) {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}
