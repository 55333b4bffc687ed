//! Token substitution: My API accepts a Fake Social Site token only if FSS, asked by RFC 7662
//! introspection with My API's own client credentials, says it was issued to a trusted client.

use reqwest::StatusCode;

use crate::helpers::{
    Door, FSS, assert_error, assert_unsuccessful, json_body, spawn_app, spawn_app_configured,
    string,
};

/// FSS's other public client, `fake-social-site-app`: a site My API does not trust.
const OTHER_FSS_CLIENT: &str = "aNARymvEsn21XPdpR9wJ8tPcUyto7rCu1ywo6H1T";

#[actix_rt::test]
async fn a_token_fake_social_site_issued_to_another_client_is_refused_at_every_door() {
    let app = spawn_app().await;
    let response = app
        .fss_password_grant_for(OTHER_FSS_CLIENT, "admin", "admin")
        .await;
    let foreign = string(&json_body(response, StatusCode::OK).await, "access_token");
    let before = app.accounts();
    assert_unsuccessful(app.register_by_token(FSS, &foreign, None).await).await;
    assert_error(
        app.exchange(Door::TokenExchange, FSS, &foreign, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        app.exchange(Door::ConvertToken, FSS, &foreign, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(app.accounts(), before, "nothing written");
    // The same person's token for the trusted client works.
    let trusted = app.fss_token("admin", "admin").await;
    assert_eq!(
        app.exchange(Door::RegisterPost, FSS, &trusted, None)
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_rt::test]
async fn trusted_client_ids_are_configuration() {
    let app = spawn_app_configured(|s| {
        s.social.trusted_client_ids = vec![OTHER_FSS_CLIENT.to_owned()];
    })
    .await;
    let usual = app.fss_token("admin", "admin").await;
    assert_unsuccessful(app.register_by_token(FSS, &usual, None).await).await;
    let response = app
        .fss_password_grant_for(OTHER_FSS_CLIENT, "admin", "admin")
        .await;
    let other = string(&json_body(response, StatusCode::OK).await, "access_token");
    assert_eq!(
        app.register_by_token(FSS, &other, None).await.status(),
        StatusCode::OK
    );
}

#[actix_rt::test]
async fn without_introspection_credentials_every_exchange_is_refused() {
    let app = spawn_app_configured(|s| {
        s.social.fake_social_site_client_id = None;
        s.social.fake_social_site_client_secret = None;
    })
    .await;
    let token = app.fss_token("admin", "admin").await;
    let before = app.accounts();
    assert_error(
        app.register_by_token(FSS, &token, None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;
    assert_eq!(app.accounts(), before);
}

#[actix_rt::test]
async fn wrong_introspection_credentials_are_a_json_502_not_a_refused_user() {
    let app = spawn_app_configured(|s| {
        s.social.fake_social_site_client_secret = Some("not-the-secret".into());
    })
    .await;
    let token = app.fss_token("admin", "admin").await;
    let body = json_body(
        app.register_by_token(FSS, &token, None).await,
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert_eq!(body["error"], "social_provider_bad_response");
}
