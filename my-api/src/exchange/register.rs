//! `GET|POST /users/register-by-token/<backend>/`: the original demo's exchange route.
//!
//! Takes `access_token` (and `username` for `fake_social_site_with_params`), or for an OpenID
//! Connect backend `id_token` (and optionally `nonce`, and `access_token` checked against the
//! ID token's `at_hash`), from a form body or, as the original did, the query string. POST
//! with a body is preferred: a query string ends up in logs and browser history.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use shared::oauth2::OAuth2Error;
use shared::oauth2::error::OAuth2ErrorBody;
use shared::oauth2::form::Params;
use shared::oauth2::provider::Provider;
use shared::oauth2::response::TokenResponse;
use shared::security::scope::Scope;

use super::subject::{Door, SubjectToken};
use super::{Client, ExchangeError, Exchanger};
use crate::social::{ExchangeParams, SocialError};

/// The original's answer when the provider refuses the token, kept word for word.
const UNSUCCESSFUL: &str = "Unable to complete token exchange with social backend.";

/// The register route's answer to a failed exchange: as the original for an unknown backend
/// and a refused token, otherwise the exchange's one mapping.
fn register_error(e: ExchangeError) -> OAuth2Error {
    match e {
        ExchangeError::UnknownBackend => unknown_backend(),
        ExchangeError::Social(SocialError::Rejected | SocialError::InvalidIdToken(_))
        | ExchangeError::Inactive => OAuth2Error::new(
            "unsuccessful_token_exchange",
            UNSUCCESSFUL,
            StatusCode::UNAUTHORIZED,
        ),
        other => other.into(),
    }
}

/// The answer for a backend name My API does not have, as the original gave it (a 404); the
/// link route answers the same.
pub(super) fn unknown_backend() -> OAuth2Error {
    OAuth2Error::new(
        "unknown_backend",
        "No such social backend.",
        StatusCode::NOT_FOUND,
    )
}

/// Documented once for every backend: `openapi::document` adds each backend's path, operation
/// ids and parameters.
#[utoipa::path(
    method(get, post),
    path = "/users/register-by-token/{backend}/",
    tag = "exchange",
    responses(
        (status = 200, body = TokenResponse, headers(("Cache-Control" = String), ("Pragma" = String)),
            description = "The My API tokens; the local user is created on first use."),
        (status = 400, body = OAuth2ErrorBody,
            description = "A missing, repeated or empty parameter, or a body that is no form."),
        (status = 401, body = OAuth2ErrorBody,
            description = "unsuccessful_token_exchange: the provider refused the token."),
        (status = 413, description = "The body is too large.", body = OAuth2ErrorBody),
        (status = 502, body = OAuth2ErrorBody,
            description = "social_provider_bad_response: the provider's answer is unusable."),
        (status = 503, description = "The database is unavailable; retry later.",
            body = OAuth2ErrorBody),
        (status = 504, body = OAuth2ErrorBody,
            description = "social_provider_timeout: the provider did not answer in time."),
    )
)]
pub async fn register_by_token(
    req: HttpRequest,
    body: web::Bytes,
    backend: web::Path<String>,
    provider: web::Data<Provider>,
    exchanger: web::Data<Exchanger>,
) -> Result<HttpResponse, OAuth2Error> {
    if !exchanger.has_backend(&backend) {
        return Err(register_error(ExchangeError::UnknownBackend));
    }
    let params = if body.is_empty() {
        Params::parse(req.query_string().as_bytes())?
    } else {
        Params::from_form_body(&req, &body)?
    };
    let token = SubjectToken::from_params(&params, Door::Register)?;
    let extra = ExchangeParams::from_params(&params)?;
    let issued = exchanger
        .exchange(
            &provider,
            &backend,
            &token,
            &extra,
            Client::Named,
            Scope::all(),
        )
        .await
        .map_err(register_error)?;
    // Counted with the grants of /o/token/, under the route's own name.
    shared::telemetry::metrics()
        .tokens_issued
        .with_label_values(&["register_by_token"])
        .inc();
    let mut response = TokenResponse::from(issued).into_response();
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Authorization"));
    Ok(response)
}
