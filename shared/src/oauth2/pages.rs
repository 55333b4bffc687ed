//! The provider's own HTML pages: login, consent, logout and errors. Rendered on the server
//! with maud, which escapes every interpolated value (usernames, client names and scopes come
//! from users). No external assets, one inline style; every page forbids framing
//! (`frame-ancestors 'none'`, against clickjacking of the Allow button) and caching.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder};
use maud::{DOCTYPE, Markup, html};

use super::session::CSRF_FIELD;
use crate::security::scope::Scope;

/// The pages' Content Security Policy: nothing loads from anywhere, forms post to this
/// origin only, and no page can be framed.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
                       frame-ancestors 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;\
padding:0 1rem;color:#222}h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}\
input[type=text],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}\
button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}.error{color:#a00;font-weight:bold}\
li{margin:.3rem 0}.muted{color:#666;font-size:.9rem}";

/// What the login form shows and carries.
#[derive(Debug)]
pub struct LoginForm<'a> {
    pub client_name: &'a str,
    /// The authorization request's query string, carried through the form.
    pub request: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

/// What the consent form shows and carries.
#[derive(Debug)]
pub struct ConsentForm<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub scope: &'a Scope,
    pub request: &'a str,
    pub csrf: &'a str,
}

pub fn login(status: StatusCode, form: &LoginForm<'_>) -> HttpResponse {
    page(
        status,
        "Sign in",
        html! {
            h1 { "Sign in to Fake Social Site" }
            p { "to continue to " strong { (form.client_name) } }
            @if let Some(error) = form.error {
                p.error role="alert" { (error) }
            }
            form method="post" action="/o/login/" {
                input type="hidden" name=(CSRF_FIELD) value=(form.csrf);
                input type="hidden" name="request" value=(form.request);
                label for="username" { "Username" }
                input #username type="text" name="username" value=(form.username)
                    autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password"
                    autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub fn consent(form: &ConsentForm<'_>) -> HttpResponse {
    page(
        StatusCode::OK,
        "Allow access",
        html! {
            h1 { "Allow " (form.client_name) " to use your account?" }
            p.muted { "Signed in as " strong { (form.username) } }
            p { (form.client_name) " asks to:" }
            ul {
                @for scope in form.scope.iter() {
                    li { (describe(scope)) " " span.muted { "(" (scope) ")" } }
                }
            }
            form method="post" action="/o/consent/" {
                input type="hidden" name=(CSRF_FIELD) value=(form.csrf);
                input type="hidden" name="request" value=(form.request);
                button type="submit" name="decision" value="allow" { "Allow" }
                button type="submit" name="decision" value="deny" { "Deny" }
            }
        },
    )
}

/// An error shown on the provider itself: the client cannot be trusted with a redirect.
pub fn error(status: StatusCode, message: &str) -> HttpResponse {
    page(
        status,
        "Error",
        html! {
            h1 { "This request cannot be completed" }
            p.error { (message) }
            p.muted { "Go back to the application you came from and try again." }
        },
    )
}

/// The logout page: a form, so that a link on another site cannot log anyone out.
pub fn logout(csrf: &str, username: Option<&str>) -> HttpResponse {
    page(
        StatusCode::OK,
        "Sign out",
        html! {
            h1 { "Sign out of Fake Social Site" }
            @if let Some(username) = username {
                p { "Signed in as " strong { (username) } "." }
                form method="post" action="/o/logout/" {
                    input type="hidden" name=(CSRF_FIELD) value=(csrf);
                    button type="submit" { "Sign out" }
                }
            } @else {
                p { "You are not signed in." }
            }
        },
    )
}

pub fn logged_out() -> HttpResponse {
    page(
        StatusCode::OK,
        "Signed out",
        html! {
            h1 { "Signed out" }
            p { "You are signed out of Fake Social Site." }
        },
    )
}

/// What a scope lets the client do, in words.
fn describe(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are (your user id)",
        "profile" => "See your name and username",
        "email" => "See your email address",
        "read" => "Read your data",
        "write" => "Change your data",
        _ => "An unknown permission",
    }
}

fn page(status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Fake Social Site" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    };
    let mut builder = HttpResponseBuilder::new(status);
    html_headers(&mut builder);
    builder.body(markup.into_string())
}

/// Headers of every page: HTML, no framing, no caching (pages carry CSRF tokens).
pub fn html_headers(builder: &mut HttpResponseBuilder) {
    builder
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")));
    super::error::no_store(builder);
}
