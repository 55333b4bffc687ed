//! The provider's form posts: `POST /o/login/` (username and password, behind the same
//! throttle as the password grant), `POST /o/consent/` (Allow or Deny) and `/o/logout/`.
//! Each form carries the CSRF token (see [`super::session`]) and the authorization request
//! it serves, which is checked again from scratch: a form proves nothing about it.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;

use super::authorize::{self, AuthorizationRequest, Refusal};
use super::form::Params;
use super::oidc::OidcSettings;
use super::pages;
use super::password_grant::check_credentials;
use super::session::{self, CSRF_FIELD, SESSION_COOKIE};
use crate::clock::now;
use crate::oauth2::provider::Provider;
use crate::storage::db::StorageError;
use crate::storage::sessions::{self, Session};
use crate::storage::users;

/// The body of the login and consent forms (application/x-www-form-urlencoded).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LoginFormBody {
    pub csrf_token: String,
    /// The authorization request's query string.
    pub request: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ConsentFormBody {
    pub csrf_token: String,
    pub request: String,
    /// `allow` or `deny`.
    pub decision: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LogoutFormBody {
    pub csrf_token: String,
}

/// What the login and consent form posts read: the request, its body, the provider and the
/// OpenID Connect settings (extracted as each alone would be, so a body too large is refused
/// the same way).
#[derive(Debug)]
pub struct FormPost(
    HttpRequest,
    web::Bytes,
    web::Data<Provider>,
    web::Data<OidcSettings>,
);

impl FromRequest for FormPost {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        type Parts = (web::Bytes, web::Data<Provider>, web::Data<OidcSettings>);
        let parts = Parts::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let (body, provider, settings) = parts.await?;
            Ok(FormPost(req, body, provider, settings))
        })
    }
}

/// The answers the login and consent posts document alike.
#[derive(Debug, utoipa::IntoResponses)]
pub enum FormPostAnswers {
    #[response(status = 303, description = "Back to the redirect URI with a code or an error.",
        headers(("Location" = String)))]
    Redirect,
    #[response(
        status = 400,
        description = "A malformed form or authorization request.",
        content_type = "text/html"
    )]
    Malformed,
    #[response(
        status = 403,
        description = "A missing or wrong CSRF token.",
        content_type = "text/html"
    )]
    Forbidden,
    #[response(
        status = 503,
        description = "The database is unavailable.",
        content_type = "text/html"
    )]
    Unavailable,
}

/// A form post checked for its content type and CSRF token; its authorization request parsed.
async fn checked_form(
    provider: &Provider,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Params, AuthorizationRequest), Refusal> {
    let params = form(req, body)?;
    let request = params
        .required("request")
        .map_err(|e| Refusal::Page(StatusCode::BAD_REQUEST, e.description.into_owned()))?;
    let request = authorize::parse(provider, request).await?;
    Ok((params, request))
}

/// The form's parameters, once its CSRF token matches the cookie.
fn form(req: &HttpRequest, body: &[u8]) -> Result<Params, Refusal> {
    let params = Params::from_form_body(req, body)
        .map_err(|e| Refusal::Page(StatusCode::BAD_REQUEST, e.description.into_owned()))?;
    if !session::csrf_ok(req, params.optional(CSRF_FIELD).ok().flatten()) {
        return Err(Refusal::Page(
            StatusCode::FORBIDDEN,
            "The form has expired or did not come from this site. Go back, reload the page and \
             try again."
                .to_owned(),
        ));
    }
    Ok(params)
}

#[utoipa::path(
    post,
    path = "/o/login/",
    operation_id = "login",
    tag = "openid-connect",
    summary = "The login form's post: signs the user in, then continues the authorization request",
    request_body(content = LoginFormBody, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The consent page, or the login page again with a message.",
            content_type = "text/html"),
        FormPostAnswers,
        (status = 429, description = "Too many failed logins: the login page with a message.",
            content_type = "text/html", headers(("Retry-After" = String))),
    )
)]
pub async fn login(FormPost(req, body, provider, settings): FormPost) -> HttpResponse {
    let result = async {
        let (params, request) = checked_form(&provider, &req, &body).await?;
        let username = params
            .optional("username")
            .ok()
            .flatten()
            .unwrap_or_default();
        let password = params
            .optional_secret("password")
            .ok()
            .flatten()
            .unwrap_or_default();
        let shown = username.chars().take(150).collect::<String>();
        let again = |status, message: &str| {
            authorize::login_page(&provider, &req, &request, status, &shown, Some(message))
        };
        if username.is_empty() || password.is_empty() {
            return Ok(again(StatusCode::OK, "Enter your username and password."));
        }
        let address = provider.trusted_proxies.client(&req);
        let checked = check_credentials(&provider, username.to_owned(), password, address).await;
        let (user, rehash) = match checked {
            Ok(found) => found,
            Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
                let wait = e.retry_after.unwrap_or(1);
                let mut page = again(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("Too many failed attempts. Try again in {wait} seconds."),
                );
                if let Ok(value) = header::HeaderValue::from_str(&wait.to_string()) {
                    page.headers_mut().insert(header::RETRY_AFTER, value);
                }
                return Ok(page);
            }
            Err(e) if e.code == "invalid_grant" => {
                return Ok(again(StatusCode::OK, "Invalid username or password."));
            }
            Err(e) => return Err(Refusal::Page(e.status, e.description.into_owned())),
        };
        let ttl = settings.login_session_seconds;
        let user_id = user.id;
        let id = provider
            .db
            .write(move |conn| {
                if let Some(hash) = rehash {
                    users::set_password(conn, user_id, &hash)?;
                }
                Ok::<_, StorageError>(sessions::create(conn, user_id, ttl)?)
            })
            .await?;
        let session = Session {
            user,
            auth_time: now(),
        };
        let mut response = authorize::proceed(
            &provider,
            &settings,
            &req,
            request,
            Some(session),
            true,
            None,
        )
        .await?;
        let cookie = session::cookie(&provider, SESSION_COOKIE, &id, ttl);
        authorize::add_cookie(&mut response, Some(cookie));
        Ok(response)
    }
    .await;
    result.unwrap_or_else(|refusal: Refusal| refusal.into_response(&provider.issuer, true))
}

#[utoipa::path(
    post,
    path = "/o/consent/",
    operation_id = "consent",
    tag = "openid-connect",
    summary = "The consent form's post: Allow sends a code, Deny sends access_denied",
    request_body(content = ConsentFormBody, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The login page: the session has ended.", content_type = "text/html"),
        FormPostAnswers,
    )
)]
pub async fn consent(FormPost(req, body, provider, settings): FormPost) -> HttpResponse {
    let result = async {
        let (params, request) = checked_form(&provider, &req, &body).await?;
        let Some(session) = session::current(&provider, &req).await? else {
            return Ok(authorize::login_page(
                &provider,
                &req,
                &request,
                StatusCode::OK,
                "",
                Some("Your session has ended. Sign in again."),
            ));
        };
        match params.optional("decision").ok().flatten() {
            Some("allow") => {
                authorize::issue_code(&provider, &settings, &request, &session, true, true).await
            }
            Some("deny") => Err(authorize::refusal(
                &request,
                "access_denied",
                "The user denied the request.",
            )),
            _ => Err(Refusal::Page(
                StatusCode::BAD_REQUEST,
                "Choose Allow or Deny.".to_owned(),
            )),
        }
    }
    .await;
    result.unwrap_or_else(|refusal| refusal.into_response(&provider.issuer, true))
}

#[utoipa::path(
    get,
    path = "/o/logout/",
    operation_id = "logout_page",
    tag = "openid-connect",
    summary = "The logout page (a form, so no link elsewhere can log anyone out)",
    responses(
        (status = 200, description = "The logout page.", content_type = "text/html"),
        (status = 503, description = "The database is unavailable.", content_type = "text/html"),
    )
)]
pub async fn logout_page(req: HttpRequest, provider: web::Data<Provider>) -> HttpResponse {
    let session = match session::current(&provider, &req).await {
        Ok(session) => session,
        Err(e) => return Refusal::from(e).into_response(&provider.issuer, false),
    };
    let (csrf, set_cookie) = session::csrf_token(&provider, &req);
    let mut response = pages::logout(
        csrf.expose(),
        session.as_ref().map(|s| s.user.username.as_str()),
    );
    authorize::add_cookie(&mut response, set_cookie);
    response
}

#[utoipa::path(
    post,
    path = "/o/logout/",
    operation_id = "logout",
    tag = "openid-connect",
    summary = "Ends the login session",
    request_body(content = LogoutFormBody, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Signed out.", content_type = "text/html"),
        (status = 400, description = "A malformed form.", content_type = "text/html"),
        (status = 403, description = "A missing or wrong CSRF token.", content_type = "text/html"),
        (status = 503, description = "The database is unavailable.", content_type = "text/html"),
    )
)]
pub async fn logout(
    req: HttpRequest,
    body: web::Bytes,
    provider: web::Data<Provider>,
) -> HttpResponse {
    let result = async {
        form(&req, &body)?;
        if let Some(id) = session::cookie_value(&req, SESSION_COOKIE) {
            provider
                .db
                .write(move |conn| Ok::<_, StorageError>(sessions::delete(conn, &id)?))
                .await?;
        }
        let mut response = pages::logged_out();
        authorize::add_cookie(
            &mut response,
            Some(session::removal(&provider, SESSION_COOKIE)),
        );
        Ok::<_, Refusal>(response)
    }
    .await;
    result.unwrap_or_else(|refusal| refusal.into_response(&provider.issuer, true))
}
