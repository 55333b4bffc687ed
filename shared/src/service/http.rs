//! HTTP plumbing both services install: JSON error bodies, a log line that carries no
//! secrets, CORS, `/healthz`, and binding the listener.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use actix_cors::Cors;
use actix_web::dev::ServiceResponse;
use actix_web::http::{ConnectionType, Method, StatusCode, header};
use actix_web::middleware::{DefaultHeaders, ErrorHandlerResponse, ErrorHandlers, Logger};
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::oauth2::provider::Provider;
use crate::storage::db::StorageError;

/// Gives every error answer a JSON body, whatever produced it (actix's own 404, 405 and 413
/// answers are plain text or empty otherwise). Answers that are JSON already pass through.
pub fn json_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(to_json)
}

fn to_json<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // JSON answers pass, and so do the HTML error pages an OpenID Connect provider shows
    // people in a browser.
    let is_json = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
    });
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, old) = res.into_parts();
    let mut builder = HttpResponse::build(status);
    if old.head().connection_type() == ConnectionType::Close {
        // An answer that closes its connection (a body that came too slowly) still does.
        builder.force_close();
    }
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            builder.append_header((name.clone(), value.clone()));
        }
    }
    if req.path().starts_with("/o/") {
        crate::oauth2::error::no_store(&mut builder);
    }
    let body = if req.path().starts_with("/o/") {
        json!({ "error": oauth2_code(status), "error_description": detail(status) })
    } else {
        json!({ "detail": detail(status) })
    };
    let res = ServiceResponse::new(req, builder.json(body)).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

fn oauth2_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        500.. => "server_error",
        _ => "invalid_request",
    }
}

fn detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "Not found.",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed.",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body is too large.",
        StatusCode::REQUEST_TIMEOUT => "The request body did not arrive in time.",
        StatusCode::BAD_REQUEST => "Malformed request.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported media type.",
        s if s.is_server_error() => "The server met an unexpected condition.",
        s => s.canonical_reason().unwrap_or("Request refused."),
    }
}

/// Headers every answer carries, errors and 404s included: no content-type sniffing (an
/// error body echoing input is never run as a script or page), and no referrer leaking a URL
/// to another site.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
}

/// An answer for routes that do not exist.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({ "detail": "Not found." }))
}

/// The access log: address, method, path without the query string (a GET exchange carries
/// a token there), status, size, seconds.
pub fn access_log() -> Logger {
    Logger::new(r#"%a "%{method}xi %U" %s %b %T"#)
        .custom_request_replace("method", |req| req.method().to_string())
}

/// CORS for browser clients from `origins` only.
pub fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin.trim_end_matches('/'));
    }
    cors
}

/// `/healthz`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// `ok`, or why the database cannot serve.
    pub database: String,
}

/// `GET /healthz`: 200 when the database answers, else 503 with the reason. The probe has its
/// own short lock wait (see [`crate::storage::db::Db::health`]), so a locked or vanished database is
/// a quick 503, not a request stuck behind the pool's five-second wait.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    summary = "Whether the service and its database answer",
    responses(
        (status = 200, description = "Healthy.", body = Health),
        (status = 503, body = Health,
            description = "The database is locked, missing or failing; the reason is given."),
    )
)]
pub async fn healthz(provider: web::Data<Provider>) -> HttpResponse {
    match provider.db.health().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ok", "database": "ok" })),
        Err(e) => {
            log::warn!("health check failed: {e}");
            // Fixed words only: the causes (an r2d2 or SQLite message) can carry the
            // database's path, and /healthz answers anyone. The log above has the detail.
            let reason = match &e {
                StorageError::Unhealthy(verdict) => verdict.as_str(),
                StorageError::Query(_) => "the database query failed",
                StorageError::Unavailable(_) | StorageError::Migration(_) => {
                    "the database is unavailable"
                }
            };
            HttpResponse::ServiceUnavailable()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({ "status": "unavailable", "database": reason }))
        }
    }
}

/// Binds before anything else starts, so a taken port is one clear error.
pub fn bind(address: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))
}

/// Binds `address` for a service whose public URL is `configured`, refusing first (without
/// binding) a non-loopback address with no public URL: see [`check_public_url`].
pub fn bind_public(address: &str, configured: Option<&str>) -> anyhow::Result<TcpListener> {
    // A name that does not resolve is left to `bind`, which says so.
    if let Ok(addresses) = address.to_socket_addrs() {
        for bound in addresses {
            check_public_url(configured, bound)?;
        }
    }
    bind(address)
}

/// A service reachable from other machines must be told the URL they reach it at: the bound
/// address (`http://0.0.0.0:8005`) would become its tokens' issuer and the base of its links.
pub fn check_public_url(configured: Option<&str>, bound: SocketAddr) -> anyhow::Result<()> {
    if configured.is_none() && !bound.ip().is_loopback() {
        anyhow::bail!(
            "listening on {bound}, which is not a loopback address, needs PUBLIC_URL \
             (--public-url): the URL clients reach this service at, such as \
             https://auth.example.com; it is the tokens' issuer"
        );
    }
    Ok(())
}

/// `PUBLIC_URL`, or the address actually bound (port 0 becomes the real port), which must
/// then be a loopback one.
pub fn public_url(configured: Option<&str>, listener: &TcpListener) -> anyhow::Result<String> {
    let bound = listener.local_addr()?;
    check_public_url(configured, bound)?;
    if let Some(url) = configured {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    Ok(format!("http://{bound}"))
}

/// Blocking threads per HTTP worker. Their work is database calls, which queue for the pool's
/// connections anyway, and password hashes, which queue for their permits: more threads than
/// that only cost memory (each thread that allocates gets its own malloc arena), and under a
/// write storm actix's default of 512 lets hundreds of them pile up.
pub fn blocking_threads(settings: &crate::oauth2::settings::ProviderSettings) -> usize {
    (settings.db_pool_size as usize + settings.hash_permits()).max(2)
}

#[cfg(test)]
mod tests {
    use super::check_public_url;

    #[test]
    fn a_non_loopback_address_needs_a_public_url_and_loopback_ones_do_not() {
        for bound in ["0.0.0.0:8005", "[::]:8000", "192.0.2.1:80"] {
            let error = check_public_url(None, bound.parse().expect("an address"))
                .expect_err(bound)
                .to_string();
            assert!(error.contains("PUBLIC_URL"), "{error}");
            assert!(
                check_public_url(
                    Some("https://a.example"),
                    bound.parse().expect("an address")
                )
                .is_ok()
            );
        }
        for bound in ["127.0.0.1:8005", "127.0.0.2:0", "[::1]:8000"] {
            assert!(check_public_url(None, bound.parse().expect("an address")).is_ok());
        }
    }
}
