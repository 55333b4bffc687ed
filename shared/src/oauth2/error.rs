//! OAuth2 errors (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8693 §2.2.2) as HTTP answers.
//!
//! Every answer of the token endpoints carries `Cache-Control: no-store` and
//! `Pragma: no-cache`, errors included.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;

use crate::storage::db::StorageError;

#[derive(Debug, Clone)]
pub struct OAuth2Error {
    pub code: &'static str,
    pub description: Cow<'static, str>,
    pub status: StatusCode,
    /// `WWW-Authenticate` value for failed client authentication.
    pub challenge: Option<&'static str>,
    pub retry_after: Option<u64>,
}

// The schema of [`Body`], which borrows.
/// RFC 6749 §5.2 error body, as every `/o/` endpoint and the exchange answer it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OAuth2ErrorBody {
    /// An RFC 6749, 7009, 8693 code, or one of the exchange's `social_provider_*` codes.
    pub error: String,
    pub error_description: String,
}

/// The refusals `/o/token/`, `/o/revoke_token/` and `/o/introspect/` document alike: they
/// authenticate the client from a form body, in a transaction.
#[derive(Debug, utoipa::IntoResponses)]
pub enum ClientFormRefusals {
    #[response(status = 401, description = "invalid_client: client authentication failed.",
        headers(("Cache-Control" = String), ("Pragma" = String)))]
    InvalidClient(OAuth2ErrorBody),
    #[response(status = 413, description = "The body is too large.")]
    TooLarge(OAuth2ErrorBody),
    #[response(
        status = 415,
        description = "The body is not application/x-www-form-urlencoded."
    )]
    NotAForm(OAuth2ErrorBody),
    #[response(
        status = 503,
        description = "The database is unavailable; retry later."
    )]
    Unavailable(OAuth2ErrorBody),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl OAuth2Error {
    pub fn new(
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
        status: StatusCode,
    ) -> Self {
        OAuth2Error {
            code,
            description: description.into(),
            status,
            challenge: None,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_request", description, StatusCode::BAD_REQUEST)
    }

    /// Failed client authentication: the same answer for an unknown and a wrong client.
    pub fn invalid_client() -> Self {
        OAuth2Error {
            challenge: Some(r#"Basic realm="oauth2""#),
            ..Self::new(
                "invalid_client",
                "Client authentication failed.",
                StatusCode::UNAUTHORIZED,
            )
        }
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_grant", description, StatusCode::BAD_REQUEST)
    }

    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("unauthorized_client", description, StatusCode::BAD_REQUEST)
    }

    pub fn unsupported_grant_type() -> Self {
        Self::new(
            "unsupported_grant_type",
            "The grant type is not supported by this server.",
            StatusCode::BAD_REQUEST,
        )
    }

    pub fn invalid_scope() -> Self {
        Self::new(
            "invalid_scope",
            "The requested scope is invalid, unknown, or exceeds what was granted.",
            StatusCode::BAD_REQUEST,
        )
    }

    pub fn server_error() -> Self {
        Self::new(
            "server_error",
            "The server met an unexpected condition.",
            StatusCode::INTERNAL_SERVER_ERROR,
        )
    }

    pub fn temporarily_unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            "The server is temporarily unable to handle the request.",
            StatusCode::SERVICE_UNAVAILABLE,
        )
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl std::fmt::Display for OAuth2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl ResponseError for OAuth2Error {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        no_store(&mut builder);
        if let Some(challenge) = self.challenge {
            builder.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(seconds) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        builder.json(Body {
            error: self.code,
            error_description: &self.description,
        })
    }
}

/// Marks a response as never to be cached (RFC 6749 §5.1).
pub fn no_store(builder: &mut HttpResponseBuilder) {
    builder
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
}

impl From<StorageError> for OAuth2Error {
    fn from(e: StorageError) -> Self {
        e.log();
        match e {
            StorageError::Unavailable(_) | StorageError::Unhealthy(_) => {
                OAuth2Error::temporarily_unavailable().with_retry_after(1)
            }
            StorageError::Query(_) | StorageError::Migration(_) => OAuth2Error::server_error(),
        }
    }
}

impl From<diesel::result::Error> for OAuth2Error {
    fn from(e: diesel::result::Error) -> Self {
        StorageError::from(e).into()
    }
}

impl From<crate::storage::tokens::TokenError> for OAuth2Error {
    fn from(e: crate::storage::tokens::TokenError) -> Self {
        match e {
            crate::storage::tokens::TokenError::Storage(e) => e.into(),
            crate::storage::tokens::TokenError::Signing(e) => {
                log::error!("signing a token failed: {e}");
                OAuth2Error::server_error()
            }
        }
    }
}

impl From<crate::security::password::PasswordError> for OAuth2Error {
    fn from(e: crate::security::password::PasswordError) -> Self {
        log::error!("password hashing failed: {e}");
        OAuth2Error::server_error()
    }
}
