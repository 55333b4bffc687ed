//! Interop (issue 13, point 6): the `openidconnect` crate, a relying-party library nobody here
//! wrote, walks the whole flow against Fake Social Site over real HTTP: discovery, an
//! authorization URL with PKCE and a nonce, the login and consent forms (driven as a browser
//! would), the code exchange, ID-token verification against the published JWKS (signature,
//! issuer, audience, expiry, nonce, `at_hash`), userinfo and a refresh.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use shared::storage::applications;

use fake_social_site::{Application, Settings};
use shared::oauth2::settings::ProviderSettings;

use crate::helpers::{MY_API_APP, TEST_COST, TestApp, spawn_app};
use crate::oidc_flow::{Browser, REDIRECT_URI, html, redirect_params};

/// The relying party's HTTP client: no redirects followed (the library's advice).
fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::Client::builder()
        .no_proxy()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// The whole flow for `client_id` at the instance `base` serving `app`'s database, whose ID
/// tokens must be signed with `alg`.
async fn relying_party_flow(
    app: &TestApp,
    base: &str,
    client_id: &str,
    alg: CoreJwsSigningAlgorithm,
) {
    let http = rp_http();
    let issuer = IssuerUrl::new(base.to_owned()).expect("an issuer URL");
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("discovery, JWKS included");
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(client_id.to_owned()), None)
            .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).expect("a redirect URL"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".to_owned()))
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("read".to_owned()))
        .set_pkce_challenge(challenge)
        .url();

    // The user, in a browser: the login form, then the consent form.
    let browser = Browser::at(app, base);
    let login = html(browser.get(url.as_str()).await, StatusCode::OK).await;
    let consent = html(
        browser.submit_login(&login, "admin", "admin").await,
        StatusCode::OK,
    )
    .await;
    let params = redirect_params(
        &browser.submit_consent(&consent, "allow").await,
        StatusCode::SEE_OTHER,
    );
    assert_eq!(&params["state"], state.secret(), "the state comes back");

    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .expect("a token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let id_verifier = client.id_token_verifier().set_allowed_algs([alg.clone()]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("a valid ID token: signature by the JWKS, issuer, audience, expiry, nonce");
    assert_eq!(id_token.signing_alg().expect("an algorithm"), &alg);
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("an algorithm"),
        id_token.signing_key(&id_verifier).expect("the key"),
    )
    .expect("hash the access token");
    assert_eq!(&actual, expected, "at_hash matches the access token");
    assert_eq!(claims.subject().as_str(), "1");
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("admin")
    );
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("abarto@rest_oauth_social_test.com")
    );

    let userinfo: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().to_owned(),
            Some(claims.subject().clone()),
        )
        .expect("a userinfo endpoint")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(
        userinfo.preferred_username().map(|u| u.as_str()),
        Some("admin")
    );
    assert_eq!(
        userinfo
            .given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Agustin")
    );

    let refresh_token = tokens.refresh_token().expect("a refresh token");
    let refreshed = client
        .exchange_refresh_token(refresh_token)
        .expect("a token endpoint")
        .request_async(&http)
        .await
        .expect("the refresh");
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );
    let profile = app
        .http
        .get(format!("{base}/user_details/"))
        .bearer_auth(refreshed.access_token().secret())
        .send()
        .await
        .expect("GET /user_details/");
    assert_eq!(profile.status(), StatusCode::OK);
}

#[actix_rt::test]
async fn the_openidconnect_crate_completes_the_flow_with_the_demo_client_and_es256() {
    let app = spawn_app().await;
    let base = app.address.clone();
    relying_party_flow(
        &app,
        &base,
        MY_API_APP,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    )
    .await;
}

#[actix_rt::test]
async fn a_client_registered_for_rs256_gets_rs256_id_tokens_the_crate_verifies() {
    let app = spawn_app().await;
    let mut conn = app.db();
    test_support::db::create_public_client(
        &mut conn,
        "rs256-only",
        "An RS256 relying party",
        "authorization_code refresh_token",
    );
    applications::set_openid_client(&mut conn, "rs256-only", &[REDIRECT_URI.to_owned()], "RS256")
        .expect("register it for RS256");
    // The service publishes an RS256 key from its next start on, before any RS256 ID token, so
    // a relying party that fetches the JWKS once knows the key.
    let base = restart(&app);
    let jwks = app
        .http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("GET the JWKS")
        .text()
        .await
        .expect("the JWKS");
    assert!(jwks.contains("\"RSA\""), "{jwks}");
    relying_party_flow(
        &app,
        &base,
        "rs256-only",
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    )
    .await;
}

/// Starts another instance on `app`'s database (a restart); returns its base URL.
fn restart(app: &TestApp) -> String {
    let settings = Settings {
        bind: "127.0.0.1:0".to_owned(),
        db: app.db_config(),
        provider: ProviderSettings {
            bcrypt_cost: TEST_COST,
            workers: Some(1),
            ..ProviderSettings::default()
        },
        oidc: Default::default(),
    };
    let instance = Application::build(settings).expect("start another instance");
    let base = instance.url().to_owned();
    actix_rt::spawn(instance.run_until_stopped());
    base
}
