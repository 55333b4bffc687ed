//! No token, secret or password reaches the logs, human or JSON (`LOG_FORMAT=json`). A
//! logger that keeps every record in both forms is installed for the whole test binary, so
//! this test only looks for its own secrets.

use base64::Engine;
use reqwest::StatusCode;

use crate::helpers::{json_body, spawn_app};

#[actix_rt::test]
async fn no_token_secret_or_password_reaches_the_logs() {
    test_support::logs::capture();
    let app = spawn_app().await;
    let password = "correct-horse-battery-staple-7f3a9c";
    let wrong_password = "incorrect-donkey-battery-staple-2b8e1d";
    let client_secret = "resource-server-secret-5d41402abc4b2a76";
    app.create_user("logged-user", password);
    app.create_introspection_client("log-resource-server", client_secret);

    let tokens = app.login("logged-user", password).await;
    let response = app.password_grant("logged-user", wrong_password).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app.user_details(&tokens.access_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .user_details_by_username(&tokens.access_token, "logged-user")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed = json_body(app.refresh(&tokens.refresh_token).await, StatusCode::OK).await;
    let new_access = refreshed["access_token"].as_str().expect("an access token");
    let new_refresh = refreshed["refresh_token"]
        .as_str()
        .expect("a refresh token");
    // Reuse detection logs a warning; it must not name the token.
    let response = app.refresh(&tokens.refresh_token).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app
        .introspect("log-resource-server", Some(client_secret), new_access)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .introspect("log-resource-server", Some("wrong-secret"), new_access)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .get(&format!("/user_details/?access_token={new_access}"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.revoke(new_refresh).await.status(), StatusCode::OK);
    assert_eq!(app.revoke(new_access).await.status(), StatusCode::OK);

    let logs = test_support::logs::captured();
    assert!(
        logs.contains(r#""POST /o/token/""#),
        "no access log line: {logs}"
    );
    assert!(
        logs.contains(r#""GET /user_details/""#),
        "no access log line: {logs}"
    );
    let json = test_support::logs::captured_json();
    for line in json.lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        for key in ["time", "level", "target", "message", "request_id"] {
            assert!(record.get(key).is_some(), "no {key} in {line}");
        }
    }
    assert!(
        json.lines()
            .any(|line| line.contains(r#""route":"/o/token/""#)
                && line.contains(r#""status":200"#)
                && line.contains(r#""latency_ms":"#)),
        "no JSON access line for /o/token/: {json}"
    );
    let basic_credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("log-resource-server:{client_secret}"));
    let secrets = [
        ("the access token", tokens.access_token.as_str()),
        ("the refresh token", tokens.refresh_token.as_str()),
        ("the refreshed access token", new_access),
        ("the refreshed refresh token", new_refresh),
        ("the password", password),
        ("the wrong password", wrong_password),
        ("the client secret", client_secret),
        ("the client's Basic credentials", basic_credentials.as_str()),
    ];
    for logs in [&logs, &json] {
        for (what, secret) in secrets {
            assert!(!logs.contains(secret), "{what} is in the logs");
        }
        // The header itself, in any rendering ("authorization: ..." or a debugged header map).
        let lowercase = logs.to_lowercase();
        for leak in ["authorization:", "\"authorization\"", "bearer ey"] {
            assert!(!lowercase.contains(leak), "{leak:?} is in the logs");
        }
    }
}
