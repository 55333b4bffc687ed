//! The periodic prune inside `serve`: revoked and expired tokens go, live ones stay.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::spawn_app_with;

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
    assert_eq!(app.count_tokens(), (3, 3));

    let started = Instant::now();
    while app.count_tokens() != (1, 1) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
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
