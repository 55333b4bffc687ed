//! The authorization endpoint (RFC 6749 §4.1, OpenID Connect Core §3.1.2): parsing and
//! checking an authorization request, the answers it ends in (a code or an error sent back to
//! the client's redirect URI, or an HTML error page on the provider), and `GET /o/authorize/`,
//! which decides between the login page, the consent page and a code.
//!
//! Until the client and its redirect URI are known to match, nothing is redirected: an
//! unknown client or an unregistered redirect URI gets an HTML page here (§4.1.2.1), so the
//! endpoint can never be used as an open redirector.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::form::Params;
use super::oidc::OidcSettings;
use super::pages::{self, ConsentForm, LoginForm};
use super::pkce;
use super::session;
use crate::clock::now;
use crate::oauth2::provider::Provider;
use crate::security::scope::Scope;
use crate::storage::applications::{self, Application, GrantType};
use crate::storage::codes::{self, NewCode};
use crate::storage::consents;
use crate::storage::db::StorageError;
use crate::storage::sessions::{self, Session};

/// Longest `state` and `nonce` kept: far beyond any real one, short enough to store.
const MAX_STATE: usize = 2048;
const MAX_NONCE: usize = 512;

/// `prompt` (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub app: Application,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scope: Scope,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// The query string it came as, carried through the login and consent forms.
    pub query: String,
}

/// How an authorization request ends without a code.
#[derive(Debug)]
pub enum Refusal {
    /// Shown on the provider: the client or its redirect URI cannot be trusted.
    Page(StatusCode, String),
    /// Sent back to the client's redirect URI (§4.1.2.1).
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl Refusal {
    fn page(message: impl Into<String>) -> Self {
        Refusal::Page(StatusCode::BAD_REQUEST, message.into())
    }

    /// The answer: an HTML page or a redirect (`303` after a form post, `302` otherwise).
    pub fn into_response(self, issuer: &str, after_post: bool) -> HttpResponse {
        match self {
            Refusal::Page(status, message) => pages::error(status, &message),
            Refusal::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => redirect(
                &redirect_uri,
                &[
                    ("error", Some(error)),
                    ("error_description", Some(&description)),
                    ("state", state.as_deref()),
                    ("iss", Some(issuer)),
                ],
                after_post,
            ),
        }
    }
}

impl From<StorageError> for Refusal {
    fn from(e: StorageError) -> Self {
        e.log();
        match e {
            StorageError::Unavailable(_) | StorageError::Unhealthy(_) => Refusal::Page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable; try again in a moment.".to_owned(),
            ),
            _ => Refusal::Page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server met an unexpected condition.".to_owned(),
            ),
        }
    }
}

impl From<diesel::result::Error> for Refusal {
    fn from(e: diesel::result::Error) -> Self {
        StorageError::from(e).into()
    }
}

/// Parses and checks an authorization request given as a query string.
pub async fn parse(provider: &Provider, query: &str) -> Result<AuthorizationRequest, Refusal> {
    let params = parse_query(query)?;
    let client_id = client_id(&params)?;
    let app = provider
        .db
        .run(move |conn| Ok::<_, StorageError>(applications::find_by_client_id(conn, &client_id)?))
        .await?;
    check(query, &params, app)
}

fn parse_query(query: &str) -> Result<Params, Refusal> {
    Params::parse(query.as_bytes()).map_err(|_| Refusal::page("The request is not valid UTF-8."))
}

fn client_id(params: &Params) -> Result<String, Refusal> {
    let client_id = params.required("client_id").map_err(page)?;
    Ok(client_id.to_owned())
}

fn page(e: super::OAuth2Error) -> Refusal {
    Refusal::page(e.description.into_owned())
}

/// The scope a request asks for (all of them when it names none); `None` when it names
/// scopes this provider does not know.
fn requested_scope(params: &Params) -> Result<Option<Scope>, super::OAuth2Error> {
    Ok(match params.optional("scope")? {
        None => Some(Scope::all()),
        Some(value) => Scope::requested_openid(value),
    })
}

/// Checks the request against its client, `app` as the database knows it (`None`: unknown).
fn check(
    query: &str,
    params: &Params,
    app: Option<Application>,
) -> Result<AuthorizationRequest, Refusal> {
    let app = app.ok_or_else(|| Refusal::page("Unknown client."))?;
    let redirect_uri = params.required("redirect_uri").map_err(page)?.to_owned();
    if !app.has_redirect_uri(&redirect_uri) {
        return Err(Refusal::page(
            "The redirect_uri is not registered for this client.",
        ));
    }
    // From here on, errors go back to the client.
    let state = params.optional("state").ok().flatten().map(str::to_owned);
    let refuse = |error: &'static str, description: &str| Refusal::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description: description.to_owned(),
    };
    let invalid = |e: super::OAuth2Error| refuse("invalid_request", &e.description);
    if params.optional("state").is_err() || state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        return Err(refuse("invalid_request", "The state parameter is invalid."));
    }
    match params.required("response_type").map_err(invalid)? {
        "code" => {}
        _ => {
            return Err(refuse(
                "unsupported_response_type",
                "Only response_type=code is supported.",
            ));
        }
    }
    if !app.allows_grant(GrantType::AuthorizationCode) {
        return Err(refuse(
            "unauthorized_client",
            "This client may not use the authorization code flow.",
        ));
    }
    if params.optional("request").map_err(invalid)?.is_some() {
        return Err(refuse(
            "request_not_supported",
            "Request objects are not supported.",
        ));
    }
    if params.optional("request_uri").map_err(invalid)?.is_some() {
        return Err(refuse(
            "request_uri_not_supported",
            "request_uri is not supported.",
        ));
    }
    let scope = requested_scope(params).map_err(invalid)?.ok_or_else(|| {
        refuse(
            "invalid_scope",
            "The requested scope is invalid or unknown.",
        )
    })?;
    let code_challenge = params
        .optional("code_challenge")
        .map_err(invalid)?
        .ok_or_else(|| {
            refuse(
                "invalid_request",
                "PKCE is required: send code_challenge and code_challenge_method=S256.",
            )
        })?;
    if params.optional("code_challenge_method").map_err(invalid)? != Some(pkce::S256) {
        return Err(refuse(
            "invalid_request",
            "Only code_challenge_method=S256 is supported.",
        ));
    }
    if !pkce::is_challenge(code_challenge) {
        return Err(refuse(
            "invalid_request",
            "The code_challenge is not an S256 challenge.",
        ));
    }
    let nonce = params.optional("nonce").map_err(invalid)?;
    if nonce.is_some_and(|n| n.len() > MAX_NONCE || n.chars().any(char::is_control)) {
        return Err(refuse("invalid_request", "The nonce is invalid."));
    }
    let prompt = parse_prompt(params.optional("prompt").map_err(invalid)?)
        .ok_or_else(|| refuse("invalid_request", "The prompt parameter is invalid."))?;
    let max_age = match params.optional("max_age").map_err(invalid)? {
        None => None,
        Some(value) => Some(
            value
                .parse::<u32>()
                .map_err(|_| refuse("invalid_request", "max_age must be a number of seconds."))?
                .into(),
        ),
    };
    Ok(AuthorizationRequest {
        code_challenge: code_challenge.to_owned(),
        nonce: nonce.map(str::to_owned),
        app,
        redirect_uri,
        state,
        scope,
        prompt,
        max_age,
        query: query.to_owned(),
    })
}

/// `none` alone, or any of `login`, `consent`, `select_account` (one account here: ignored).
fn parse_prompt(value: Option<&str>) -> Option<Prompt> {
    let mut prompt = Prompt::default();
    for word in value
        .unwrap_or_default()
        .split(' ')
        .filter(|w| !w.is_empty())
    {
        match word {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => {}
            _ => return None,
        }
    }
    let alone = !(prompt.login || prompt.consent) || !prompt.none;
    alone.then_some(prompt)
}

/// `GET /o/authorize/`: the code for a logged-in user who already allowed this client these
/// scopes; otherwise the login or consent page (or, with `prompt=none`, an error).
#[utoipa::path(
    get,
    path = "/o/authorize/",
    operation_id = "authorize",
    tag = "openid-connect",
    summary = "Authorization endpoint: authorization code flow with PKCE (RFC 6749 §4.1, OpenID Connect Core §3.1)",
    params(
        ("response_type" = String, Query, description = "`code`", min_length = 1),
        ("client_id" = String, Query, min_length = 1),
        ("redirect_uri" = String, Query, min_length = 1,
            description = "One of the client's registered redirect URIs, exactly."),
        ("scope" = Option<String>, Query, min_length = 1,
            description = "Space-separated: openid profile email read write."),
        ("state" = Option<String>, Query, min_length = 1),
        ("nonce" = Option<String>, Query, min_length = 1),
        ("code_challenge" = String, Query, min_length = 43, max_length = 43,
            description = "RFC 7636 S256 challenge."),
        ("code_challenge_method" = String, Query, description = "`S256`", min_length = 1),
        ("prompt" = Option<String>, Query, min_length = 1,
            description = "`none`, or any of `login`, `consent`."),
        ("max_age" = Option<u32>, Query),
    ),
    responses(
        (status = 200, description = "The login or consent page.", content_type = "text/html"),
        (status = 302, description = "Back to the redirect URI with a code or an error.",
            headers(("Location" = String))),
        (status = 400, description = "Unknown client or redirect URI: an error page.",
            content_type = "text/html"),
        (status = 503, description = "The database is unavailable.", content_type = "text/html"),
    )
)]
pub async fn authorize(
    req: HttpRequest,
    provider: web::Data<Provider>,
    settings: web::Data<OidcSettings>,
) -> HttpResponse {
    let result = async {
        // The client, the session and its consent in one trip to the database: this is the
        // path of every signed-in user's return.
        let query = req.query_string();
        let params = parse_query(query)?;
        let client_id = client_id(&params)?;
        let session_id = session::cookie_value(&req, session::SESSION_COOKIE);
        let scope = requested_scope(&params).ok().flatten();
        let (app, session, consent) = provider
            .db
            .run(move |conn| {
                let app = applications::find_by_client_id(conn, &client_id)?;
                let session = match &session_id {
                    Some(id) => sessions::find(conn, id)?,
                    None => None,
                };
                let consent = match (&app, &session, &scope) {
                    (Some(app), Some(session), Some(scope)) => {
                        Some(consents::covers(conn, session.user.id, app.id, scope)?)
                    }
                    _ => None,
                };
                Ok::<_, StorageError>((app, session, consent))
            })
            .await?;
        let request = check(query, &params, app)?;
        proceed(&provider, &settings, &req, request, session, false, consent).await
    }
    .await;
    result.unwrap_or_else(|refusal| refusal.into_response(&provider.issuer, false))
}

/// Where a checked request goes for `session`: login, consent, or a code. `fresh` says the
/// user has just logged in (no second login for `prompt=login` or `max_age`); `after_post`
/// picks the redirect status. `consent` is whether the session's user has allowed the
/// request's client and scope, when the caller has already looked it up.
pub async fn proceed(
    provider: &Provider,
    settings: &OidcSettings,
    req: &HttpRequest,
    request: AuthorizationRequest,
    session: Option<Session>,
    fresh: bool,
    consent: Option<bool>,
) -> Result<HttpResponse, Refusal> {
    let too_old = |s: &Session| request.max_age.is_some_and(|max| now() - s.auth_time > max);
    let session = match session {
        Some(s) if fresh || !(request.prompt.login || too_old(&s)) => s,
        _ if request.prompt.none => {
            return Err(refusal(
                &request,
                "login_required",
                "The user is not logged in.",
            ));
        }
        _ => {
            return Ok(login_page(
                provider,
                req,
                &request,
                StatusCode::OK,
                "",
                None,
            ));
        }
    };
    let (user_id, app_id, scope) = (session.user.id, request.app.id, request.scope.clone());
    let remembered = !request.prompt.consent
        && match consent {
            Some(known) => known,
            None => {
                provider
                    .db
                    .run(move |conn| {
                        Ok::<_, StorageError>(consents::covers(conn, user_id, app_id, &scope)?)
                    })
                    .await?
            }
        };
    if remembered {
        return issue_code(provider, settings, &request, &session, fresh, false).await;
    }
    if request.prompt.none {
        return Err(refusal(
            &request,
            "consent_required",
            "The user has not allowed this client.",
        ));
    }
    let (csrf, set_cookie) = session::csrf_token(provider, req);
    let mut response = pages::consent(&ConsentForm {
        client_name: &request.app.name,
        username: &session.user.username,
        scope: &request.scope,
        request: &request.query,
        csrf: csrf.expose(),
    });
    add_cookie(&mut response, set_cookie);
    Ok(response)
}

/// The login page for `request`, with a message after a failed attempt.
pub fn login_page(
    provider: &Provider,
    req: &HttpRequest,
    request: &AuthorizationRequest,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let (csrf, set_cookie) = session::csrf_token(provider, req);
    let mut response = pages::login(
        status,
        &LoginForm {
            client_name: &request.app.name,
            request: &request.query,
            csrf: csrf.expose(),
            username,
            error,
        },
    );
    add_cookie(&mut response, set_cookie);
    response
}

/// Stores a code for `session`'s user (remembering the consent when `remember`) and sends it
/// to the client.
pub async fn issue_code(
    provider: &Provider,
    settings: &OidcSettings,
    request: &AuthorizationRequest,
    session: &Session,
    after_post: bool,
    remember: bool,
) -> Result<HttpResponse, Refusal> {
    let new = NewCode {
        application_id: request.app.id,
        user_id: session.user.id,
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.to_string(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        auth_time: session.auth_time,
    };
    let scope = request.scope.clone();
    let ttl = settings.authorization_code_expire_seconds;
    let code = provider
        .db
        .write(move |conn| {
            if remember {
                consents::remember(conn, new.user_id, new.application_id, &scope)?;
            }
            Ok::<_, Refusal>(codes::create(conn, &new, ttl)?)
        })
        .await?;
    Ok(redirect(
        &request.redirect_uri,
        &[
            ("code", Some(code.expose())),
            ("state", request.state.as_deref()),
            ("iss", Some(&provider.issuer)),
        ],
        after_post,
    ))
}

/// An error for the client, at its redirect URI.
pub fn refusal(request: &AuthorizationRequest, error: &'static str, description: &str) -> Refusal {
    Refusal::Redirect {
        redirect_uri: request.redirect_uri.clone(),
        state: request.state.clone(),
        error,
        description: description.to_owned(),
    }
}

/// Characters left as they are in a query value: RFC 3986 unreserved.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A redirect to `uri` with `params` added to its query (RFC 6749 §3.1.2: a registered URI
/// may have a query of its own, which is kept).
fn redirect(uri: &str, params: &[(&str, Option<&str>)], after_post: bool) -> HttpResponse {
    let mut location = uri.to_owned();
    let mut separator = if uri.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        if let Some(value) = value {
            location.push(separator);
            location.push_str(name);
            location.push('=');
            location.extend(utf8_percent_encode(value, QUERY_VALUE));
            separator = '&';
        }
    }
    let status = if after_post {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    let mut builder = HttpResponse::build(status);
    super::error::no_store(&mut builder);
    match HeaderValue::from_str(&location) {
        Ok(value) => builder.insert_header((header::LOCATION, value)).finish(),
        // Percent-encoding leaves only visible ASCII, and the URI was checked when registered.
        Err(_) => pages::error(StatusCode::BAD_REQUEST, "The redirect URI is not usable."),
    }
}

/// Sets `cookie` on `response`, if there is one.
pub fn add_cookie(response: &mut HttpResponse, cookie: Option<actix_web::cookie::Cookie<'static>>) {
    if let Some(cookie) = cookie
        && let Err(e) = response.add_cookie(&cookie)
    {
        log::error!("cannot set a cookie: {e}");
    }
}
