//! `/healthz` tells the truth about the database: a write lock held past the check's short
//! wait, or a database file deleted under the service, is a JSON 503 with the reason, quickly,
//! and the service goes on answering. Both are SQLite's own failures, so these run on SQLite.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use reqwest::StatusCode;

use crate::helpers::{connect, json_body, spawn_sqlite_app};

#[actix_rt::test]
async fn healthz_is_a_quick_json_503_while_another_connection_holds_the_write_lock() {
    let app = spawn_sqlite_app().await;
    app.assert_healthy().await;

    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let path = app.sqlite_path();
    let holder = std::thread::spawn(move || {
        let mut conn = connect(&path);
        conn.batch_execute("BEGIN IMMEDIATE")
            .expect("take the write lock");
        locked_tx.send(()).expect("signal the lock");
        // Held until the test is done with the locked database, 10 s at most.
        let _ = release_rx.recv_timeout(Duration::from_secs(10));
        conn.batch_execute("ROLLBACK").expect("release the lock");
    });
    locked_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the lock was taken");

    let started = Instant::now();
    let body = json_body(app.healthz().await, StatusCode::SERVICE_UNAVAILABLE).await;
    let took = started.elapsed();
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["database"], "the database is locked", "{body}");
    // The check waits ~200 ms for the lock, not the pool's 5 s.
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // What needs no write lock goes on working, and the check stays honest.
    assert_eq!(app.metadata().await.status(), StatusCode::OK);
    assert_eq!(
        app.healthz().await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    release_tx.send(()).expect("release the lock");
    holder.join().expect("the lock holder");
    app.assert_healthy().await;
}

#[actix_rt::test]
async fn healthz_is_a_json_503_once_the_database_file_is_gone_and_the_service_keeps_answering() {
    let app = spawn_sqlite_app().await;
    app.assert_healthy().await;

    std::fs::remove_file(app.sqlite_path()).expect("delete the database file");
    for _ in 0..3 {
        let body = json_body(app.healthz().await, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(body["status"], "unavailable", "{body}");
        let reason = body["database"].as_str().expect("a reason");
        assert!(reason.contains("missing"), "{reason}");
    }
    assert_eq!(app.metadata().await.status(), StatusCode::OK);
}

#[actix_rt::test]
async fn healthz_never_shows_a_file_path() {
    let app = spawn_sqlite_app().await;
    std::fs::remove_file(app.sqlite_path()).expect("delete the database file");
    let response = app.healthz().await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = response.text().await.expect("a body");
    let path = app.sqlite_path();
    let dir = path.parent().expect("a directory").to_string_lossy();
    assert!(!text.contains(dir.as_ref()), "{text}");
    assert!(!text.contains(".sqlite3"), "{text}");
    assert!(text.contains("missing"), "{text}");
}
