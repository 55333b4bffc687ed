//! The authorization code flow as a browser walks it: a client with a cookie jar that shows
//! redirects rather than following them, the authorization request of the demo client
//! `my-api-app` with PKCE, reading forms from the provider's pages, and the code exchange.

use std::collections::HashMap;

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Response, StatusCode, Url};
use shared::oauth2::pkce::challenge_of;

pub use test_support::http::hidden;

use crate::helpers::{MY_API_APP, TestApp, header};

/// A registered redirect URI of `my-api-app` (My API's test page on the demo port).
pub const REDIRECT_URI: &str = "http://127.0.0.1:8000/";
pub const STATE: &str = "af0ifjsldkj&x=1";
pub const NONCE: &str = "n-0S6_WzA2Mj";
/// A PKCE verifier (43 unreserved characters).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A browser: its own cookie jar, redirects shown.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub http: reqwest::Client,
    /// The service's base URL (`app`'s, or another instance's on its database).
    base: String,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self::at(app, &app.address)
    }

    /// A browser that visits the instance at `base`.
    pub fn at(app: &'a TestApp, base: &str) -> Self {
        let http = test_support::http::builder()
            .cookie_store(true)
            .build()
            .expect("a client with cookies");
        Browser {
            app,
            http,
            base: base.to_owned(),
        }
    }

    pub async fn get(&self, url: &str) -> Response {
        self.http.get(url).send().await.expect("GET")
    }

    /// `GET /o/authorize/` with the default request, `changes` applied (an empty value
    /// removes a parameter).
    pub async fn authorize(&self, changes: &[(&str, &str)]) -> Response {
        self.get(&authorize_url(self.app, changes)).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .expect("POST a form")
    }

    /// Submits the login form of `page` (the login page's HTML).
    pub async fn submit_login(&self, page: &str, username: &str, password: &str) -> Response {
        let csrf = hidden(page, "csrf_token");
        let request = hidden(page, "request");
        self.post_form(
            "/o/login/",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Submits the consent form of `page` with `decision` (`allow` or `deny`).
    pub async fn submit_consent(&self, page: &str, decision: &str) -> Response {
        let csrf = hidden(page, "csrf_token");
        let request = hidden(page, "request");
        self.post_form(
            "/o/consent/",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("decision", decision),
            ],
        )
        .await
    }

    /// Logs in from the login page the default request shows and allows the client (unless
    /// allowed before); returns the redirect's parameters.
    pub async fn log_in_and_allow(
        &self,
        username: &str,
        password: &str,
    ) -> HashMap<String, String> {
        self.log_in_and_allow_with(&[], username, password).await
    }

    pub async fn log_in_and_allow_with(
        &self,
        changes: &[(&str, &str)],
        username: &str,
        password: &str,
    ) -> HashMap<String, String> {
        let login = html(self.authorize(changes).await, StatusCode::OK).await;
        assert!(login.contains("name=\"password\""), "{login}");
        let response = self.submit_login(&login, username, password).await;
        if response.status() == StatusCode::SEE_OTHER {
            // Allowed before: the code comes at once.
            return redirect_params(&response, StatusCode::SEE_OTHER);
        }
        let consent = html(response, StatusCode::OK).await;
        assert!(consent.contains("value=\"allow\""), "{consent}");
        redirect_params(
            &self.submit_consent(&consent, "allow").await,
            StatusCode::SEE_OTHER,
        )
    }
}

/// The default authorization request of `my-api-app`, `changes` applied.
pub fn authorize_url(app: &TestApp, changes: &[(&str, &str)]) -> String {
    let challenge = challenge_of(VERIFIER);
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", MY_API_APP),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile email read"),
        ("state", STATE),
        ("nonce", NONCE),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in changes {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    Url::parse_with_params(&app.url("/o/authorize/"), &params)
        .expect("a URL")
        .to_string()
}

/// Asserts an HTML page with `status` that cannot be framed; returns it.
pub async fn html(response: Response, status: StatusCode) -> String {
    let actual = response.status();
    let content_type = header(&response, CONTENT_TYPE);
    let csp = header(&response, reqwest::header::CONTENT_SECURITY_POLICY);
    let text = response.text().await.expect("a page");
    assert_eq!(actual, status, "{text}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    text
}

/// Asserts a redirect with `status` to the default redirect URI; returns its query.
pub fn redirect_params(response: &Response, status: StatusCode) -> HashMap<String, String> {
    assert_eq!(response.status(), status, "{:?}", response.headers());
    let location = header(response, LOCATION);
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let url = Url::parse(&location).expect("an absolute Location");
    url.query_pairs().into_owned().collect()
}

/// `POST /o/token/` with `grant_type=authorization_code` for `my-api-app`.
pub async fn exchange(app: &TestApp, code: &str, verifier: &str) -> Response {
    app.post_token(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
        ("client_id", MY_API_APP),
    ])
    .await
}
