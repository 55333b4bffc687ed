//! Client secrets kept in Django's slow PBKDF2 format: checked outside any transaction,
//! within the password-hash limit, and upgraded to the fast format once they verify.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use shared::security::password::django_pbkdf2_sha256;
use shared::security::secret::Secret;
use shared::storage::applications::hash_secret;

use crate::helpers::{spawn_app, spawn_app_with};

const LEGACY_CLIENT: &str = "legacy-confidential-client";
const SECRET: &str = "the-legacy-client-secret";

#[actix_rt::test]
async fn slow_client_secret_checks_leave_the_write_lock_and_health_check_alone() {
    // One hash at a time, and each wrong secret costs a few hundred milliseconds: while they
    // queue, the database must stay writable.
    let app = spawn_app_with(|s| s.max_concurrent_hashes = Some(1)).await;
    let hash = django_pbkdf2_sha256(SECRET, "legacysalt", 200_000);
    app.create_confidential_client_with_hash(LEGACY_CLIENT, &hash);
    app.create_user("alice", "right");
    let tokens = app.login("alice", "right").await;

    let finished = Arc::new(AtomicUsize::new(0));
    let slow: Vec<_> = (0..4)
        .map(|i| {
            let request = app
                .http
                .post(app.url("/o/revoke_token/"))
                .basic_auth(LEGACY_CLIENT, Some(format!("wrong-{i}")))
                .form(&[("token", "whatever")]);
            let finished = finished.clone();
            actix_rt::spawn(async move {
                let response = request.send().await.expect("POST /o/revoke_token/");
                finished.fetch_add(1, Ordering::SeqCst);
                response.status()
            })
        })
        .collect();
    // Let the slow checks start.
    actix_rt::time::sleep(Duration::from_millis(100)).await;

    app.assert_healthy().await;
    app.assert_access(&tokens.access_token, StatusCode::OK)
        .await;
    // A write (rotation of a refresh token) completes while the checks are still running.
    assert_eq!(
        app.refresh(&tokens.refresh_token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "the write and the health check did not wait for any secret check"
    );

    for handle in slow {
        assert_eq!(
            handle.await.expect("the request task"),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(app.stored_client_secret_hash(LEGACY_CLIENT), Some(hash));
}

#[actix_rt::test]
async fn a_legacy_client_secret_is_rehashed_to_the_fast_format_after_it_verifies() {
    let app = spawn_app().await;
    app.create_confidential_client_with_hash(
        LEGACY_CLIENT,
        &django_pbkdf2_sha256(SECRET, "legacysalt", 1_000),
    );
    let granted =
        shared::storage::applications::allow_introspection(&mut app.db(), LEGACY_CLIENT, true)
            .expect("allow the client to introspect");
    assert!(granted);
    app.create_user("alice", "right");
    let token = app.login("alice", "right").await.access_token;

    let response = app.introspect(LEGACY_CLIENT, Some(SECRET), &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.stored_client_secret_hash(LEGACY_CLIENT),
        Some(hash_secret(&Secret::from(SECRET))),
        "stored in the fast format"
    );
    // Still the same secret, still checked.
    let response = app.introspect(LEGACY_CLIENT, Some(SECRET), &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.introspect(LEGACY_CLIENT, Some("wrong"), &token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
