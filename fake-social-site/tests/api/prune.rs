//! The periodic prune inside `serve`: revoked and expired tokens go, live ones stay, and so
//! do the rotated refresh tokens of live families (reuse detection needs them).

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{assert_oauth2_error, spawn_app, spawn_app_with};

#[actix_rt::test]
async fn the_periodic_prune_removes_revoked_and_expired_tokens_and_keeps_live_ones() {
    let app = spawn_app_with(|settings| settings.prune_interval_seconds = 1).await;
    app.create_user("pruned", "pruned-password");

    // Revoked by revocation, by rotation, and live.
    let revoked = app.login("pruned", "pruned-password").await;
    assert_eq!(
        app.revoke(&revoked.access_token).await.status(),
        StatusCode::OK
    );
    let rotated = app.login("pruned", "pruned-password").await;
    let response = app.refresh(&rotated.refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let live: crate::helpers::Tokens = response.json().await.expect("a token answer");
    // Three access and three refresh tokens were issued; the prune runs every second from the
    // start, so how many are left at any moment before it settles is not asserted.

    // The rotated refresh token stays beside the live one: its family still lives, and a
    // replay of it must still revoke the family.
    let started = Instant::now();
    while app.count_tokens() != (1, 2) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not pruned: {:?}",
            app.count_tokens()
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let response = app.user_details(&live.access_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.refresh(&live.refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Runs the serving process's prune once, on a pool of our own over the test database.
async fn prune_now(app: &crate::helpers::TestApp) -> usize {
    let db = shared::storage::db::Db::open(&app.db_config(), &[]).expect("open the test database");
    shared::storage::maintenance::prune(&db)
        .await
        .expect("prune")
}

#[actix_rt::test]
async fn a_rotated_refresh_token_presented_after_a_prune_still_revokes_its_family() {
    let app = spawn_app().await;
    app.create_user("victim", "victim-password");
    let first = app.login("victim", "victim-password").await;
    let response = app.refresh(&first.refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: crate::helpers::Tokens = response.json().await.expect("a token answer");

    prune_now(&app).await;

    // The thief replays the rotated token: refused, and the legitimate holder's pair dies too.
    let response = app.refresh(&first.refresh_token).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let response = app.refresh(&second.refresh_token).await;
    assert_oauth2_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    app.assert_access(&second.access_token, StatusCode::UNAUTHORIZED)
        .await;
}

#[actix_rt::test]
async fn the_prune_removes_every_row_of_a_family_once_the_whole_family_has_expired() {
    let app = spawn_app().await;
    app.create_user("expiring", "expiring-password");
    let first = app.login("expiring", "expiring-password").await;
    let response = app.refresh(&first.refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    // A live family keeps its rotated token for reuse detection.
    prune_now(&app).await;
    assert_eq!(app.count_tokens(), (1, 2));

    app.expire_all_tokens();
    prune_now(&app).await;
    assert_eq!(app.count_tokens(), (0, 0));
}
