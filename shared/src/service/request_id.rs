//! Request ids and what is recorded of each request: every answer carries `X-Request-Id`
//! (the caller's own when it is sane, else 128 new random bits in hex), the request's future and the blocking
//! work it starts run as that id (see [`crate::telemetry`]), so each log line of the request
//! names it, and once the answer's head is ready the access log line is written and the HTTP
//! metrics are counted by route template (never the raw path: the label set stays bounded).

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

use crate::telemetry::{self, UNMATCHED_ROUTE};

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id taken from a caller.
pub const MAX_LEN: usize = 64;

/// A caller's id is kept when it is 1 to 64 characters of `[A-Za-z0-9._-]`: anything else
/// could forge log lines or carry a secret into them.
pub fn is_sane(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The id for a request carrying `header`.
pub fn choose(header: Option<&HeaderValue>) -> Arc<str> {
    match header.and_then(|v| v.to_str().ok()) {
        Some(id) if is_sane(id) => Arc::from(id),
        // 128 random bits as 32 hex digits, as a UUID's simple form, from the thread's
        // generator: no system call on every request.
        _ => Arc::from(format!("{:032x}", rand::random::<u128>())),
    }
}

/// The middleware (`actix_web::middleware::from_fn(request_id::observe)`).
///
/// The services inside answer with responses, errors included (handlers' errors and the JSON
/// error bodies become responses below this middleware); an `Err` that still reaches it (the
/// request must not be cloned before routing, so none is at hand to answer with) is counted
/// and logged as an unmatched route and passed on.
pub async fn observe<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let id = choose(req.headers().get(&HEADER));
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let peer = req.peer_addr();
    telemetry::with_request_id(id.clone(), async move {
        match next.call(req).await {
            Ok(mut res) => {
                let elapsed = started.elapsed();
                if let Ok(value) = HeaderValue::from_str(&id) {
                    res.headers_mut().insert(HEADER, value);
                }
                let pattern = res.request().match_pattern();
                let size = match res.response().body().size() {
                    BodySize::Sized(n) => n.to_string(),
                    _ => "-".to_owned(),
                };
                let line = Line {
                    peer,
                    method: &method,
                    path: &path,
                    route: pattern.as_deref().unwrap_or(UNMATCHED_ROUTE),
                    status: res.status().as_u16(),
                    size: &size,
                };
                record(&line, elapsed);
                Ok(res)
            }
            Err(e) => {
                let line = Line {
                    peer,
                    method: &method,
                    path: &path,
                    route: UNMATCHED_ROUTE,
                    status: e.as_response_error().status_code().as_u16(),
                    size: "-",
                };
                record(&line, started.elapsed());
                Err(e)
            }
        }
    })
    .await
}

/// What the access log and the metrics say of one request.
struct Line<'a> {
    peer: Option<std::net::SocketAddr>,
    method: &'a Method,
    path: &'a str,
    route: &'a str,
    status: u16,
    size: &'a str,
}

fn record(line: &Line<'_>, elapsed: std::time::Duration) {
    let Line {
        peer,
        method,
        path,
        route,
        status,
        size,
    } = *line;
    let metrics = telemetry::metrics();
    metrics
        .http_requests
        .with_label_values(&[route, method_label(method), status_label(status)])
        .inc();
    metrics
        .http_latency
        .with_label_values(&[route])
        .observe(elapsed.as_secs_f64());
    let peer = peer.map_or_else(|| "-".to_owned(), |a| a.ip().to_string());
    let latency_ms = elapsed.as_secs_f64() * 1_000.0;
    // The path without its query string: a GET exchange carries a token there.
    log::info!(
        target: "access",
        route = route, status = status, latency_ms = latency_ms;
        r#"{peer} "{} {}" {status} {size} {:.6}"#,
        method,
        path,
        elapsed.as_secs_f64()
    );
}

/// The standard methods by name, any other (a client may invent one) as `other`: labels
/// must stay a bounded set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A status as a label without allocating for the common ones.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        301 => "301",
        302 => "302",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => match other / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced_by_a_uuid() {
        for id in ["abc", "A-b_c.9", &"x".repeat(64)] {
            let header = HeaderValue::from_str(id).expect("a header");
            assert_eq!(&*choose(Some(&header)), id);
        }
        for id in ["", "a b", "a\"b", "é", &"x".repeat(65), "a/b", "a;b"] {
            let header = HeaderValue::from_str(id).ok();
            let chosen = choose(header.as_ref());
            assert_ne!(&*chosen, id);
            assert_eq!(chosen.len(), 32);
            assert!(is_sane(&chosen));
        }
        assert!(is_sane(&choose(None)));
    }

    #[test]
    fn labels_are_a_bounded_set() {
        let invented = Method::from_bytes(b"BREW").expect("a method");
        assert_eq!(method_label(&invented), "other");
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(599), "5xx");
    }
}
