//! No token, secret or password reaches My API's logs, human or JSON (`LOG_FORMAT=json`), over every flow: local login, the
//! exchange through each door (the original's GET with the token in the query included),
//! failures, refresh, revocation and resource calls. A logger that keeps every record is
//! installed for this whole test binary, so the test only looks for its own secrets.

use reqwest::StatusCode;

use crate::helpers::{Door, FSS, FSS_WITH_PARAMS, MY_API_CLIENT, json_body, spawn_app, string};

#[actix_rt::test]
async fn no_token_secret_or_password_reaches_my_apis_logs() {
    test_support::logs::capture();
    let app = spawn_app().await;
    let fss_password = "fss-correct-horse-battery-3c9d";
    let local_password = "local-correct-horse-battery-8e1f";
    let wrong_password = "wrong-donkey-battery-77aa";
    app.create_fss_user("logged-fss-user", fss_password);
    app.create_local_user("logged-local-user", local_password);

    let fss_token = app.fss_token("logged-fss-user", fss_password).await;
    let mut issued = Vec::new();
    for door in Door::ALL {
        let response = app.exchange(door, FSS, &fss_token, None).await;
        issued.push(json_body(response, StatusCode::OK).await);
    }
    let response = app
        .exchange(
            Door::RegisterGet,
            FSS_WITH_PARAMS,
            &fss_token,
            Some("logged-fss-user"),
        )
        .await;
    issued.push(json_body(response, StatusCode::OK).await);
    let response = app
        .exchange(Door::RegisterGet, FSS, "garbage-token-9f8e7d", None)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let local = json_body(
        app.local_password_grant("logged-local-user", local_password)
            .await,
        StatusCode::OK,
    )
    .await;
    let response = app
        .local_password_grant("logged-local-user", wrong_password)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let access = string(&local, "access_token");
    let refresh = string(&local, "refresh_token");
    assert_eq!(
        app.get_api("/api/items/", Some(&access)).await.status(),
        StatusCode::OK
    );
    let refreshed = json_body(
        app.post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", MY_API_CLIENT),
        ])
        .await,
        StatusCode::OK,
    )
    .await;
    // Reuse of the rotated token: a warning is logged, without the token.
    let reuse = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", MY_API_CLIENT),
        ])
        .await;
    assert_eq!(reuse.status(), StatusCode::BAD_REQUEST);
    issued.push(local);
    issued.push(refreshed);

    let logs = test_support::logs::captured();
    assert!(
        logs.contains(r#""GET /users/register-by-token/fake_social_site/""#),
        "no access log line for the exchange: {logs}"
    );
    let mut secrets = vec![
        ("the FSS token", fss_token.clone()),
        ("the FSS password", fss_password.to_owned()),
        ("the local password", local_password.to_owned()),
        ("the wrong password", wrong_password.to_owned()),
        ("the garbage token", "garbage-token-9f8e7d".to_owned()),
        (
            "My API's client secret at FSS",
            app.introspection_secret.clone(),
        ),
    ];
    for body in &issued {
        secrets.push(("an issued access token", string(body, "access_token")));
        secrets.push(("an issued refresh token", string(body, "refresh_token")));
    }
    let json = test_support::logs::captured_json();
    for line in json.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("a JSON log line");
    }
    assert!(
        json.lines().any(
            |line| line.contains(r#""route":"/users/register-by-token/{backend}/""#)
                && line.contains(r#""status":200"#)
        ),
        "no JSON access line for the exchange: {json}"
    );
    for logs in [&logs, &json] {
        for (what, secret) in &secrets {
            assert!(!logs.contains(secret.as_str()), "{what} is in the logs");
        }
        let lowercase = logs.to_lowercase();
        for leak in ["authorization:", "\"authorization\"", "bearer ey", "basic "] {
            assert!(!lowercase.contains(leak), "{leak:?} is in the logs");
        }
    }
}
