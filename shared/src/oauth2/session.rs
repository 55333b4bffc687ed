//! The browser side of the provider's pages: the login session cookie (an opaque random id,
//! stored hashed, see [`crate::storage::sessions`]) and CSRF protection for every form.
//!
//! CSRF uses a double-submit token: a random value in its own `HttpOnly` cookie, repeated in a
//! hidden field of each form, compared in constant time. Another site can make a browser post
//! a form but can neither read nor set the cookie. Both cookies are `SameSite=Lax`, `Path=/`,
//! and `Secure` when the service's public URL is https.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};

use crate::oauth2::provider::Provider;
use crate::security::secret::{Secret, constant_time_eq, random_token};
use crate::storage::db::StorageError;
use crate::storage::sessions::{self, Session};

pub const SESSION_COOKIE: &str = "fss_session";
pub const CSRF_COOKIE: &str = "fss_csrf";
/// The hidden form field that repeats the CSRF cookie.
pub const CSRF_FIELD: &str = "csrf_token";

/// The logged-in session the request's cookie names, if any.
pub async fn current(
    provider: &Provider,
    req: &HttpRequest,
) -> Result<Option<Session>, StorageError> {
    let Some(id) = cookie_value(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    provider
        .db
        .run(move |conn| Ok::<_, StorageError>(sessions::find(conn, &id)?))
        .await
}

/// The value of the cookie `name`, if the request carries a non-empty one.
pub fn cookie_value(req: &HttpRequest, name: &str) -> Option<Secret> {
    req.cookie(name)
        .map(|c| Secret::new(c.value()))
        .filter(|v| !v.is_empty())
}

/// A cookie for `value`, living `max_age` seconds.
pub fn cookie(
    provider: &Provider,
    name: &'static str,
    value: &Secret,
    max_age: i64,
) -> Cookie<'static> {
    build(
        provider.issuer.starts_with("https://"),
        name,
        value,
        max_age,
    )
}

fn build(secure: bool, name: &'static str, value: &Secret, max_age: i64) -> Cookie<'static> {
    Cookie::build(name, value.expose().to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(Duration::seconds(max_age))
        .finish()
}

/// A cookie that deletes `name` in the browser.
pub fn removal(provider: &Provider, name: &'static str) -> Cookie<'static> {
    let mut gone = cookie(provider, name, &Secret::default(), 0);
    gone.make_removal();
    gone
}

/// The CSRF token for a form: the request's CSRF cookie, or a new one with the cookie that
/// must be set on the answer.
pub fn csrf_token(provider: &Provider, req: &HttpRequest) -> (Secret, Option<Cookie<'static>>) {
    if let Some(existing) = cookie_value(req, CSRF_COOKIE).filter(|v| v.expose().len() == 43) {
        return (existing, None);
    }
    let token = Secret::new(random_token(32));
    // As long as a session may last: a form left open is still accepted.
    let set = cookie(provider, CSRF_COOKIE, &token, 24 * 3600);
    (token, Some(set))
}

/// Whether a submitted form's token matches the request's CSRF cookie.
pub fn csrf_ok(req: &HttpRequest, submitted: Option<&str>) -> bool {
    match (cookie_value(req, CSRF_COOKIE), submitted) {
        (Some(cookie), Some(submitted)) => {
            constant_time_eq(cookie.expose().as_bytes(), submitted.as_bytes())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_site_wide_and_secure_behind_https() {
        for secure in [false, true] {
            let shown = build(secure, SESSION_COOKIE, &Secret::from("v"), 60).to_string();
            for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=60"] {
                assert!(shown.contains(attribute), "{shown}");
            }
            assert_eq!(shown.contains("Secure"), secure, "{shown}");
        }
    }
}
