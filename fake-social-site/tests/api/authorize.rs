//! `GET /o/authorize/` and the login and consent pages (issue 13, points 1 and 2).

use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use shared::storage::schema::login_sessions;

use crate::helpers::{MY_API_APP, spawn_app, spawn_app_with};
use crate::oidc_flow::{Browser, NONCE, STATE, hidden, html, redirect_params};

#[actix_rt::test]
async fn a_logged_out_user_gets_a_login_page_that_cannot_be_framed_and_carries_a_csrf_token() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let response = browser.authorize(&[]).await;
    let csrf_cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ASCII").to_owned())
        .find(|c| c.starts_with("fss_csrf="))
        .expect("a CSRF cookie");
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"));
    let page = html(response, StatusCode::OK).await;
    assert!(page.contains("my-api-app"), "names the client: {page}");
    assert_eq!(hidden(&page, "csrf_token").len(), 43);
    assert!(!page.contains("<script"), "no scripts");
    assert!(!page.contains("src=\"http"), "no external assets");
}

#[actix_rt::test]
async fn an_unknown_client_or_an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    for changes in [
        vec![("client_id", "no-such-client")],
        vec![("redirect_uri", "http://127.0.0.1:8000/evil")],
        vec![("redirect_uri", "http://127.0.0.1:8000")],
        vec![("redirect_uri", "https://attacker.example/")],
        vec![("redirect_uri", "")],
        vec![("client_id", "")],
        // Even with every other error present: still no redirect.
        vec![("client_id", "nope"), ("response_type", "token")],
    ] {
        let response = browser.authorize(&changes).await;
        assert!(response.headers().get(LOCATION).is_none(), "{changes:?}");
        html(response, StatusCode::BAD_REQUEST).await;
    }
}

#[actix_rt::test]
async fn other_errors_go_back_to_the_redirect_uri_with_error_description_and_state() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    for (changes, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge", "too-short")], "invalid_request"),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("prompt", "sometimes")], "invalid_request"),
        (vec![("max_age", "-1")], "invalid_request"),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
    ] {
        let params = redirect_params(&browser.authorize(&changes).await, StatusCode::FOUND);
        assert_eq!(params["error"], error, "{changes:?}");
        assert!(!params["error_description"].is_empty());
        assert_eq!(params["state"], STATE, "state comes back unchanged");
        assert_eq!(params["iss"], app.address);
        assert!(!params.contains_key("code"));
    }
}

#[actix_rt::test]
async fn login_then_allow_redirects_with_a_code_and_the_state() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let login = html(browser.authorize(&[]).await, StatusCode::OK).await;
    let response = browser.submit_login(&login, "admin", "admin").await;
    let session_cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ASCII").to_owned())
        .find(|c| c.starts_with("fss_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    assert!(
        !session_cookie.contains("Secure"),
        "the service is plain http here"
    );
    let consent = html(response, StatusCode::OK).await;
    for shown in [
        "my-api-app",
        "admin",
        "openid",
        "profile",
        "email",
        "read",
        "Allow",
        "Deny",
    ] {
        assert!(consent.contains(shown), "{shown}: {consent}");
    }
    let params = redirect_params(
        &browser.submit_consent(&consent, "allow").await,
        StatusCode::SEE_OTHER,
    );
    assert_eq!(params["state"], STATE);
    assert_eq!(params["iss"], app.address);
    assert!(params["code"].len() >= 43, "at least 256 bits");
    // The session cookie is stored only as a hash.
    let stored: Vec<String> = login_sessions::table
        .select(login_sessions::id_hash)
        .load(&mut app.db())
        .expect("read sessions");
    let value = session_cookie
        .trim_start_matches("fss_session=")
        .split(';')
        .next()
        .expect("a value");
    assert_eq!(stored, vec![shared::security::secret::sha256_hex(value)]);
}

#[actix_rt::test]
async fn deny_sends_access_denied_to_the_client() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let login = html(browser.authorize(&[]).await, StatusCode::OK).await;
    let consent = html(
        browser.submit_login(&login, "admin", "admin").await,
        StatusCode::OK,
    )
    .await;
    let params = redirect_params(
        &browser.submit_consent(&consent, "deny").await,
        StatusCode::SEE_OTHER,
    );
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], STATE);
    assert!(!params.contains_key("code"));
}

#[actix_rt::test]
async fn a_consent_is_remembered_per_user_client_and_scopes() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    browser.log_in_and_allow("admin", "admin").await;
    // Same scopes, or fewer: a code at once.
    for scope in ["openid profile email read", "openid read"] {
        let params = redirect_params(
            &browser.authorize(&[("scope", scope)]).await,
            StatusCode::FOUND,
        );
        assert!(params.contains_key("code"), "{scope}");
    }
    // A scope not allowed yet: asked again.
    let page = html(
        browser.authorize(&[("scope", "openid write")]).await,
        StatusCode::OK,
    )
    .await;
    assert!(page.contains("value=\"allow\""), "{page}");
    // prompt=consent asks again even when remembered.
    let page = html(
        browser.authorize(&[("prompt", "consent")]).await,
        StatusCode::OK,
    )
    .await;
    assert!(page.contains("value=\"allow\""), "{page}");
    // Another user of the same browser has not allowed anything.
    let other = Browser::new(&app);
    app.create_user("alice", "pw");
    let login = html(other.authorize(&[]).await, StatusCode::OK).await;
    let page = html(
        other.submit_login(&login, "alice", "pw").await,
        StatusCode::OK,
    )
    .await;
    assert!(page.contains("value=\"allow\""), "{page}");
}

#[actix_rt::test]
async fn prompt_none_answers_login_required_then_consent_required_then_a_code() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let none = [("prompt", "none")];
    let params = redirect_params(&browser.authorize(&none).await, StatusCode::FOUND);
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], STATE);
    let login = html(browser.authorize(&[]).await, StatusCode::OK).await;
    html(
        browser.submit_login(&login, "admin", "admin").await,
        StatusCode::OK,
    )
    .await;
    let params = redirect_params(&browser.authorize(&none).await, StatusCode::FOUND);
    assert_eq!(params["error"], "consent_required");
    let consent = html(browser.authorize(&[]).await, StatusCode::OK).await;
    redirect_params(
        &browser.submit_consent(&consent, "allow").await,
        StatusCode::SEE_OTHER,
    );
    let params = redirect_params(&browser.authorize(&none).await, StatusCode::FOUND);
    assert!(params.contains_key("code"), "{params:?}");
}

#[actix_rt::test]
async fn prompt_login_and_an_exceeded_max_age_ask_for_the_password_again() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    browser.log_in_and_allow("admin", "admin").await;
    let page = html(
        browser.authorize(&[("prompt", "login")]).await,
        StatusCode::OK,
    )
    .await;
    assert!(page.contains("name=\"password\""), "{page}");
    // Logging in again continues to the code (no loop back to the login page).
    let response = browser.submit_login(&page, "admin", "admin").await;
    assert!(redirect_params(&response, StatusCode::SEE_OTHER).contains_key("code"));
    // A login 100 seconds old: too old for max_age=10, young enough for max_age=1000.
    diesel::update(login_sessions::table)
        .set(login_sessions::auth_time.eq(login_sessions::auth_time - 100))
        .execute(&mut app.db())
        .expect("age the sessions");
    let page = html(
        browser.authorize(&[("max_age", "10")]).await,
        StatusCode::OK,
    )
    .await;
    assert!(page.contains("name=\"password\""), "{page}");
    let params = redirect_params(
        &browser.authorize(&[("max_age", "1000")]).await,
        StatusCode::FOUND,
    );
    assert!(params.contains_key("code"));
}

#[actix_rt::test]
async fn a_wrong_password_shows_a_message_and_the_throttle_shows_its_429() {
    let app = spawn_app_with(|s| s.login_failures_before_throttle = 1).await;
    let browser = Browser::new(&app);
    let login = html(browser.authorize(&[]).await, StatusCode::OK).await;
    let page = html(
        browser.submit_login(&login, "admin", "wrong").await,
        StatusCode::OK,
    )
    .await;
    assert!(page.contains("Invalid username or password."), "{page}");
    assert!(page.contains("value=\"admin\""), "the username is kept");
    let mut throttled = None;
    for _ in 0..4 {
        let response = browser.submit_login(&page, "admin", "wrong").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .is_some()
            );
            throttled = Some(html(response, StatusCode::TOO_MANY_REQUESTS).await);
            break;
        }
    }
    let page = throttled.expect("the throttle answers 429 after a few failures");
    assert!(page.contains("Too many failed attempts"), "{page}");
    // The password grant shares the throttle.
    let response = app.password_grant("admin", "admin").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_rt::test]
async fn a_form_without_the_right_csrf_token_is_refused_with_403() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let login = html(browser.authorize(&[]).await, StatusCode::OK).await;
    let request = hidden(&login, "request");
    for csrf in ["", "forged-token-forged-token-forged-token-abc"] {
        let mut form = vec![
            ("request", request.as_str()),
            ("username", "admin"),
            ("password", "admin"),
        ];
        if !csrf.is_empty() {
            form.push(("csrf_token", csrf));
        }
        let response = browser.post_form("/o/login/", &form).await;
        html(response, StatusCode::FORBIDDEN).await;
    }
    // A browser without the cookie (another site's form) is refused with the right token too.
    let stranger = Browser::new(&app);
    let response = stranger.submit_login(&login, "admin", "admin").await;
    html(response, StatusCode::FORBIDDEN).await;
    assert_eq!(app.count_tokens(), (0, 0));
}

#[actix_rt::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    browser.log_in_and_allow("admin", "admin").await;
    let page = html(browser.get(&app.url("/o/logout/")).await, StatusCode::OK).await;
    assert!(page.contains("admin"), "{page}");
    let csrf = hidden(&page, "csrf_token");
    let response = browser
        .post_form("/o/logout/", &[("csrf_token", &csrf)])
        .await;
    html(response, StatusCode::OK).await;
    let count: i64 = login_sessions::table
        .count()
        .get_result(&mut app.db())
        .expect("count sessions");
    assert_eq!(count, 0);
    let page = html(browser.authorize(&[]).await, StatusCode::OK).await;
    assert!(page.contains("name=\"password\""), "logged out: {page}");
}

#[actix_rt::test]
async fn the_request_carried_by_a_form_is_checked_again() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let login = html(browser.authorize(&[]).await, StatusCode::OK).await;
    let csrf = hidden(&login, "csrf_token");
    let forged = format!(
        "response_type=code&client_id={MY_API_APP}&redirect_uri=https%3A%2F%2Fattacker.example%2F\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256\
         &nonce={NONCE}"
    );
    let response = browser
        .post_form(
            "/o/login/",
            &[
                ("csrf_token", &csrf),
                ("request", &forged),
                ("username", "admin"),
                ("password", "admin"),
            ],
        )
        .await;
    assert!(response.headers().get(LOCATION).is_none());
    html(response, StatusCode::BAD_REQUEST).await;
}
