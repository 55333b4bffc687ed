//! My API's own users: the password grant and what its token opens.

use reqwest::StatusCode;

use crate::helpers::*;

#[actix_rt::test]
async fn the_local_admin_logs_in_with_the_password_grant_and_reads_items_and_users() {
    let app = spawn_app().await;

    let response = app.local_password_grant("admin", "admin").await;
    let token = string(&assert_token_answer(response).await, "access_token");

    let items = json_body(
        app.get_api("/api/items/", Some(&token)).await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = results(&items)
        .iter()
        .map(|item| item["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["Item A", "Item B", "Item C", "Item D"]);
    assert!(results(&items).iter().all(|item| item["owner"] == "admin"));

    let me = app.me(&token).await;
    assert_eq!(me["id"], 1);
    assert_eq!(me["username"], "admin");
    assert_eq!(me["email"], "admin@my_api_test.com");
    assert_eq!(me["url"], app.url("/api/users/1/"));
}

#[actix_rt::test]
async fn a_wrong_local_password_is_refused_with_invalid_grant() {
    let app = spawn_app().await;
    for (username, password) in [("admin", "wrong"), ("nobody", "admin")] {
        let response = app.local_password_grant(username, password).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
}

#[actix_rt::test]
async fn a_fake_social_site_password_does_not_log_in_to_my_api() {
    let app = spawn_app().await;
    // user1 exists on FSS only.
    let response = app.local_password_grant("user1", "user1").await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_rt::test]
async fn a_local_refresh_token_buys_a_new_working_access_token() {
    let app = spawn_app().await;
    let login = assert_token_answer(app.local_password_grant("admin", "admin").await).await;
    let response = app.refresh(&string(&login, "refresh_token")).await;
    let refreshed = assert_token_answer(response).await;
    let token = string(&refreshed, "access_token");
    assert_ne!(token, string(&login, "access_token"));
    assert_eq!(app.me(&token).await["username"], "admin");
}

#[actix_rt::test]
async fn the_demo_accounts_log_in_with_the_fixture_hashes_as_shipped() {
    let app = spawn_app_with_fixture_hashes().await;
    let local = app.local_token("admin", "admin").await;
    assert_eq!(app.me(&local).await["id"], 1);
    let fss_token = app.fss_token("admin", "admin").await;
    let social = app.exchange_token(&fss_token).await;
    assert_eq!(app.me(&social).await["username"], "admin2");
}
