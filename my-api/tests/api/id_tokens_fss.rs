//! Fake Social Site as a configured OpenID Connect backend, end to end: a user signs in at
//! FSS's real login and consent pages (authorization code flow with PKCE, `state` and
//! `nonce`, as the demo's client), and the ID token FSS issues is exchanged at My API.

use std::collections::HashMap;

use reqwest::header::LOCATION;
use reqwest::{StatusCode, Url};
use serde_json::Value;
use shared::oauth2::pkce::challenge_of;
use test_support::http::hidden;

use crate::helpers::*;

/// The demo's name for FSS as an OpenID Connect backend.
const FSS_OIDC: &str = "fake_social_site_oidc";
/// A registered redirect URI of FSS's `my-api-app`.
const REDIRECT_URI: &str = "http://127.0.0.1:8000/";
const NONCE: &str = "n-0S6_WzA2Mj";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// My API with FSS declared as `FSS_OIDC` in a backends file, in the shape of the issue.
async fn spawn_with_fss_oidc() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("backends.toml");
    let app = spawn_app_configured(|settings| {
        let text = format!(
            "[[backend]]\nname = \"{FSS_OIDC}\"\nissuer = \"{}\"\n\
             client_ids = [\"{FSS_CLIENT}\"]\nalgorithms = [\"ES256\", \"RS256\"]\n",
            settings.social.fake_social_site_url
        );
        std::fs::write(&path, text).expect("write the backends file");
        settings.social.backends_file = Some(path.clone());
    })
    .await;
    (app, dir)
}

/// Signs `username` in at FSS's pages as a browser would and redeems the code: FSS's token
/// answer, with `id_token`.
async fn sign_in_at_fss(app: &TestApp, username: &str, password: &str) -> Value {
    let fss = &app.fss().address;
    let browser = test_support::http::builder()
        .cookie_store(true)
        .build()
        .expect("a client with cookies");
    let challenge = challenge_of(VERIFIER);
    let authorize = Url::parse_with_params(
        &format!("{fss}/o/authorize/"),
        [
            ("response_type", "code"),
            ("client_id", FSS_CLIENT),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid profile email"),
            ("state", "s-1"),
            ("nonce", NONCE),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .expect("a URL");
    let login = browser.get(authorize).send().await.expect("the login page");
    let login = login.text().await.expect("a page");
    let form = |page: &str, fields: &[(&str, &str)]| {
        let mut all = vec![
            ("csrf_token".to_owned(), hidden(page, "csrf_token")),
            ("request".to_owned(), hidden(page, "request")),
        ];
        all.extend(
            fields
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        all
    };
    let answer = browser
        .post(format!("{fss}/o/login/"))
        .form(&form(
            &login,
            &[("username", username), ("password", password)],
        ))
        .send()
        .await
        .expect("log in");
    let answer = if answer.status() == StatusCode::SEE_OTHER {
        answer
    } else {
        let consent = answer.text().await.expect("the consent page");
        browser
            .post(format!("{fss}/o/consent/"))
            .form(&form(&consent, &[("decision", "allow")]))
            .send()
            .await
            .expect("allow")
    };
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = header(&answer, LOCATION);
    let query: HashMap<String, String> = Url::parse(&location)
        .expect("a redirect")
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(query.get("state").map(String::as_str), Some("s-1"));
    let redeemed = app
        .http
        .post(format!("{fss}/o/token/"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", FSS_CLIENT),
        ])
        .send()
        .await
        .expect("redeem the code");
    json_body(redeemed, StatusCode::OK).await
}

#[actix_rt::test]
async fn an_fss_id_token_from_its_real_pages_is_exchanged_for_a_my_api_user() {
    let (app, _dir) = spawn_with_fss_oidc().await;
    let (users, links) = app.accounts();
    let fss = sign_in_at_fss(&app, "user1", "user1").await;
    let id_token = string(&fss, "id_token");
    let access_token = string(&fss, "access_token");
    let fields = [
        ("id_token", id_token.as_str()),
        ("access_token", access_token.as_str()),
        ("nonce", NONCE),
    ];
    let response = app
        .http
        .post(app.url(&format!("/users/register-by-token/{FSS_OIDC}/")))
        .form(&fields)
        .send()
        .await
        .expect("the register route");
    let body = assert_token_answer(response).await;
    let me = app.me(&string(&body, "access_token")).await;
    assert_eq!(me["username"], "user1", "{me}");
    assert_eq!(app.accounts(), (users + 1, links + 1));
    // The same FSS user again, by RFC 8693 this time: the same local user.
    let response = app
        .post_token(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", &id_token),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
            ("subject_issuer", FSS_OIDC),
            ("client_id", MY_API_CLIENT),
        ])
        .await;
    assert_token_answer(response).await;
    assert_eq!(app.accounts(), (users + 1, links + 1));
    // A nonce other than the one FSS signed is refused.
    let refused = app
        .post_token(&[
            ("grant_type", "convert_token"),
            ("backend", FSS_OIDC),
            ("id_token", &id_token),
            ("nonce", "another"),
            ("client_id", MY_API_CLIENT),
        ])
        .await;
    assert_error(refused, StatusCode::BAD_REQUEST, "invalid_request").await;
}
