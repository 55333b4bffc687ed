//! The Bearer token extractor for protected resources (RFC 6750).
//!
//! - no credentials: 401 with `WWW-Authenticate: Bearer realm="api"` and no error code;
//! - a token that is malformed, forged, expired, revoked, or whose user is inactive: 401 with
//!   `error="invalid_token"`;
//! - a malformed header, several `Authorization` headers, or a token in the query string
//!   (RFC 6750 §2.3 is not supported: URLs end up in logs): 400 `invalid_request`;
//! - a valid token without the needed scope: 403 `insufficient_scope` (see
//!   [`BearerUser::require_scope`]).
//!
//! Bodies are DRF-style `{"detail": ...}` JSON.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use serde_json::json;

use crate::oauth2::provider::Provider;
use crate::storage::db::StorageError;
use crate::storage::tokens::AccessGrant;

pub const REALM: &str = "api";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    Missing,
    InvalidToken,
    InvalidRequest(&'static str),
    InsufficientScope(&'static str),
    Unavailable,
    Internal,
}

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.detail())
    }
}

impl std::error::Error for BearerError {}

impl BearerError {
    fn detail(&self) -> &'static str {
        match self {
            BearerError::Missing => "Authentication credentials were not provided.",
            BearerError::InvalidToken => "The access token is invalid, expired or revoked.",
            BearerError::InvalidRequest(why) => why,
            BearerError::InsufficientScope(_) => {
                "The access token does not carry the scope this request needs."
            }
            BearerError::Unavailable => "The service is temporarily unavailable.",
            BearerError::Internal => "The server met an unexpected condition.",
        }
    }

    fn challenge(&self) -> Option<String> {
        let base = format!(r#"Bearer realm="{REALM}""#);
        match self {
            BearerError::Missing => Some(base),
            BearerError::InvalidToken => Some(format!(
                r#"{base}, error="invalid_token", error_description="{}""#,
                self.detail()
            )),
            BearerError::InvalidRequest(_) => Some(format!(r#"{base}, error="invalid_request""#)),
            BearerError::InsufficientScope(scope) => Some(format!(
                r#"{base}, error="insufficient_scope", scope="{scope}""#
            )),
            BearerError::Unavailable | BearerError::Internal => None,
        }
    }
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self {
            BearerError::Missing | BearerError::InvalidToken => StatusCode::UNAUTHORIZED,
            BearerError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            BearerError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            BearerError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            BearerError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.challenge()
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            builder.insert_header((header::WWW_AUTHENTICATE, value));
        }
        builder.json(json!({ "detail": self.detail() }))
    }
}

impl From<StorageError> for BearerError {
    fn from(e: StorageError) -> Self {
        e.log();
        match e {
            StorageError::Unavailable(_) => BearerError::Unavailable,
            _ => BearerError::Internal,
        }
    }
}

impl From<diesel::result::Error> for BearerError {
    fn from(e: diesel::result::Error) -> Self {
        StorageError::from(e).into()
    }
}

/// The authenticated caller of a protected resource.
#[derive(Debug, Clone)]
pub struct BearerUser(pub Arc<AccessGrant>);

impl BearerUser {
    pub fn require_scope(&self, scope: &'static str) -> Result<(), BearerError> {
        if self.0.scope.contains(scope) {
            Ok(())
        } else {
            Err(BearerError::InsufficientScope(scope))
        }
    }
}

impl std::ops::Deref for BearerUser {
    type Target = AccessGrant;
    fn deref(&self) -> &AccessGrant {
        &self.0
    }
}

/// Like [`BearerUser`] for resources anyone may read: `None` without credentials, but bad
/// credentials are still refused.
#[derive(Debug, Clone)]
pub struct MaybeBearerUser(pub Option<BearerUser>);

/// The token from the request, `Ok(None)` when none was sent.
fn token_from_request(req: &HttpRequest) -> Result<Option<String>, BearerError> {
    let in_query = req
        .query_string()
        .split('&')
        .any(|pair| pair.split('=').next() == Some("access_token"));
    if in_query {
        return Err(BearerError::InvalidRequest(
            "Access tokens are not accepted in the query string; use the Authorization header.",
        ));
    }
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(BearerError::InvalidRequest(
            "More than one Authorization header.",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| BearerError::InvalidRequest("Malformed Authorization header."))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme is not an attempt at this one: answer with the challenge alone.
        return Ok(None);
    }
    let token = token.trim();
    if token.is_empty() || !is_b64token(token) {
        return Err(BearerError::InvalidRequest(
            "Malformed Authorization header.",
        ));
    }
    Ok(Some(token.to_owned()))
}

/// RFC 6750 §2.1 `b64token`.
pub fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

async fn authenticate(req: HttpRequest) -> Result<Option<BearerUser>, BearerError> {
    let Some(token) = token_from_request(&req)? else {
        return Ok(None);
    };
    let provider = req
        .app_data::<web::Data<Provider>>()
        .ok_or(BearerError::Internal)?
        .clone();
    // A token validated a moment ago: no signature check, no database (see `tokens::cache`).
    if let Some(grant) = provider.token_cache.get(&token) {
        return Ok(Some(BearerUser(grant)));
    }
    // Signature and expiry first, on the worker: forged tokens never reach the database.
    let claims = provider
        .tokens
        .keys()
        .decode(&token)
        .ok_or(BearerError::InvalidToken)?;
    let generation = provider.token_cache.generation();
    let seconds_left = claims.exp - crate::clock::now();
    let tokens = provider.tokens.clone();
    let grant = provider
        .db
        .run(move |conn| Ok::<_, BearerError>(tokens.authenticate(conn, &claims)?))
        .await?
        .ok_or(BearerError::InvalidToken)?;
    let grant = Arc::new(grant);
    provider
        .token_cache
        .insert(&token, grant.clone(), generation, seconds_left);
    Ok(Some(BearerUser(grant)))
}

impl FromRequest for BearerUser {
    type Error = BearerError;
    type Future = LocalBoxFuture<'static, Result<Self, BearerError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await?.ok_or(BearerError::Missing) })
    }
}

impl FromRequest for MaybeBearerUser {
    type Error = BearerError;
    type Future = LocalBoxFuture<'static, Result<Self, BearerError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(MaybeBearerUser(authenticate(req).await?)) })
    }
}
