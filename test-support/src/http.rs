//! The HTTP side of the tests: one way to build the client, and the assertions every suite
//! makes on an answer (status, JSON content type, headers, RFC 6749 errors, fields).

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderName};
use reqwest::{Response, StatusCode};
use serde_json::Value;

/// The tests' client: no proxy, redirects shown rather than followed, and a timeout so that
/// a hung service fails its test instead of hanging the suite. Adjust it before `build`.
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
}

/// [`builder`], built.
///
/// # Panics
/// When the client cannot be built.
pub fn client() -> reqwest::Client {
    builder().build().expect("build the HTTP client")
}

/// The value of a header that must be there, as text.
///
/// # Panics
/// When the header is missing or not ASCII.
pub fn header(response: &Response, name: HeaderName) -> String {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header on {}", response.url().path()))
        .to_str()
        .expect("an ASCII header value")
        .to_owned()
}

/// Asserts a JSON content type.
pub fn assert_json(response: &Response) {
    let content_type = header(response, CONTENT_TYPE);
    assert!(
        content_type.starts_with("application/json"),
        "{} answered with content type {content_type}",
        response.url().path()
    );
}

/// Asserts the status and a JSON content type; returns the body. A failure shows the body.
///
/// # Panics
/// When the answer is not as expected.
pub async fn json_body(response: Response, status: StatusCode) -> Value {
    let path = response.url().path().to_owned();
    let actual = response.status();
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    let text = response.text().await.expect("a response body");
    assert_eq!(actual, status, "status of {path}; body: {text}");
    assert!(
        content_type.is_some_and(|v| v.as_bytes().starts_with(b"application/json")),
        "{path} did not answer JSON: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

/// Asserts an RFC 6749 error answer `{"error": code, "error_description": ...}` with this
/// status; returns the body.
pub async fn assert_oauth2_error(response: Response, status: StatusCode, code: &str) -> Value {
    let body = json_body(response, status).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

/// A string field that must be there.
///
/// # Panics
/// When it is not.
pub fn string(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field} in {body}"))
        .to_owned()
}

/// A body that must be an array.
///
/// # Panics
/// When it is not.
pub fn array(body: &Value) -> &Vec<Value> {
    body.as_array()
        .unwrap_or_else(|| panic!("not an array: {body}"))
}

/// POSTs `form` to `url`.
///
/// # Panics
/// When the request gets no answer.
pub async fn post_form(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Response {
    http.post(url)
        .form(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// Asserts the headers every answer of both services carries, errors and 404s included:
/// no content-type sniffing, no referrer.
pub fn assert_security_headers(response: &Response) {
    let what = format!("{} {}", response.status(), response.url().path());
    let headers = response.headers();
    assert_eq!(
        headers.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..]),
        "X-Content-Type-Options on {what}"
    );
    assert_eq!(
        headers.get("referrer-policy").map(|v| v.as_bytes()),
        Some(&b"no-referrer"[..]),
        "Referrer-Policy on {what}"
    );
}

/// The form of an RFC 6749 password grant for the public client `client_id`; push a
/// `scope` (or anything else) onto it as needed.
pub fn password_form<'a>(
    client_id: &'a str,
    username: &'a str,
    password: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
        ("client_id", client_id),
    ]
}

/// The value of the hidden form field `name` in an HTML page, unescaped; panics without one.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {page}"))
        + marker.len();
    let end = start + page[start..].find('"').expect("the value's end");
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
