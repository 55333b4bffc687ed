//! `GET|POST /users/register-by-token/<backend>/`: the original demo's exchange route.
//!
//! Takes `access_token` (and `username` for `fake_social_site_with_params`) from a form body
//! or, as the original did, the query string. POST with a body is preferred: a query string
//! ends up in logs and browser history.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use diesel::prelude::*;
use serde_json::json;
use shared::applications::Application;
use shared::oauth2::error::no_store;
use shared::oauth2::form::Params;
use shared::oauth2::response::TokenResponse;
use shared::provider::Provider;
use shared::scope::Scope;

use super::{ExchangeError, Exchanger};
use crate::social::{ExchangeParams, SocialError};

/// The original's answer when the provider refuses the token, kept word for word.
const UNSUCCESSFUL: &str = "Unable to complete token exchange with social backend.";

#[derive(Debug)]
pub struct RegisterError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl std::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl RegisterError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        RegisterError {
            status,
            code,
            description: description.into(),
        }
    }
}

impl ResponseError for RegisterError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        no_store(&mut builder);
        builder.json(json!({ "error": self.code, "error_description": self.description }))
    }
}

impl From<shared::oauth2::OAuth2Error> for RegisterError {
    fn from(e: shared::oauth2::OAuth2Error) -> Self {
        RegisterError::new(e.status, e.code, e.description)
    }
}

impl From<ExchangeError> for RegisterError {
    fn from(e: ExchangeError) -> Self {
        match e {
            ExchangeError::UnknownBackend => RegisterError::new(
                StatusCode::NOT_FOUND,
                "unknown_backend",
                "No such social backend.",
            ),
            ExchangeError::Social(SocialError::Rejected) | ExchangeError::Inactive => {
                RegisterError::new(
                    StatusCode::UNAUTHORIZED,
                    "unsuccessful_token_exchange",
                    UNSUCCESSFUL,
                )
            }
            ExchangeError::Social(SocialError::MissingParameter(name)) => RegisterError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("The {name} parameter is missing or invalid."),
            ),
            ExchangeError::Social(social) => {
                log::warn!("token exchange failed: {social}");
                let status =
                    StatusCode::from_u16(social.status()).unwrap_or(StatusCode::BAD_GATEWAY);
                RegisterError::new(status, social.code(), provider_fault(&social))
            }
            ExchangeError::NotConfigured => not_configured(),
            ExchangeError::Storage(e) => shared::oauth2::OAuth2Error::from(e).into(),
            ExchangeError::Token(e) => shared::oauth2::OAuth2Error::from(e).into(),
        }
    }
}

fn not_configured() -> RegisterError {
    RegisterError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "The token exchange is not configured on this server.",
    )
}

/// A description for a provider fault that says what happened without internals.
pub fn provider_fault(e: &SocialError) -> &'static str {
    match e {
        SocialError::Timeout => "The social provider did not answer in time.",
        SocialError::Unreachable(_) => "The social provider cannot be reached.",
        _ => "The social provider gave an unusable answer.",
    }
}

pub async fn register_by_token(
    req: HttpRequest,
    body: web::Bytes,
    backend: web::Path<String>,
    provider: web::Data<Provider>,
    exchanger: web::Data<Exchanger>,
) -> Result<HttpResponse, RegisterError> {
    if !exchanger.has_backend(&backend) {
        return Err(ExchangeError::UnknownBackend.into());
    }
    let params = if body.is_empty() {
        Params::parse(req.query_string().as_bytes())?
    } else {
        Params::from_form_body(&req, &body)?
    };
    let token = params.required_secret("access_token")?;
    let extra = ExchangeParams {
        username: params.optional("username")?.map(str::to_owned),
    };
    let name = exchanger.application_name.clone();
    let app = provider
        .db
        .run(move |conn| Ok::<_, ExchangeError>(application_named(conn, &name)?))
        .await?
        .ok_or_else(|| {
            log::error!(
                "the exchange application {:?} does not exist",
                exchanger.application_name
            );
            RegisterError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The token exchange is not configured.",
            )
        })?;
    let issued = exchanger
        .exchange(&provider, &backend, &token, &extra, app, Scope::all())
        .await?;
    let mut response = TokenResponse::from(issued).into_response();
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Authorization"));
    Ok(response)
}

fn application_named(
    conn: &mut shared::db::Connection,
    name: &str,
) -> QueryResult<Option<Application>> {
    use shared::schema::applications;
    applications::table
        .filter(applications::name.eq(name))
        .order(applications::id)
        .select(Application::as_select())
        .get_result(conn)
        .optional()
}
