//! The exchange against the real Fake Social Site, mostly through the original's
//! `/users/register-by-token/<backend>/` route; the `/o/token/` grants have their own file.

use diesel::prelude::*;
use reqwest::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// FSS's `admin` (id 1) exchanged through `door` with each backend in turn. Each backend keys
/// its own identities, so the same person becomes one local user per backend: `admin2`, then
/// `admin3` (`admin` is the local administrator's name).
async fn exchange_through_each_backend(door: Door) {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    for (backend, local_name) in [(FSS, "admin2"), (FSS_WITH_PARAMS, "admin3")] {
        let username = (backend == FSS_WITH_PARAMS).then_some("admin");
        let response = app.exchange(door, backend, &fss_token, username).await;
        let body = assert_token_answer(response).await;
        let issued_type = body.get("issued_token_type");
        if door == Door::TokenExchange {
            assert_eq!(issued_type, Some(&json!(ACCESS_TOKEN_TYPE)), "{body}");
        } else {
            assert_eq!(issued_type, None, "{body}");
        }
        let token = string(&body, "access_token");

        let me = app.me(&token).await;
        assert_eq!(me["username"], local_name, "{door:?} {backend}");
        assert_eq!(me["first_name"], "Agustin");
        assert_eq!(me["last_name"], "Barto");
        assert_eq!(me["email"], "abarto@rest_oauth_social_test.com");
        let id = me["id"].as_i64().expect("an id");
        assert_eq!(app.linked_users(backend, 1), [id], "{backend}");

        let created = app
            .post_item(Some(&token), "Made with an exchanged token")
            .await;
        let created = json_body(created, StatusCode::CREATED).await;
        assert_eq!(created["owner"], local_name);
    }
    assert_eq!(app.accounts(), (3, 2));
}

/// The register route with the token posted as a form or in the query string (as the
/// original did), RFC 8693 token exchange (which alone names the issued token type) and
/// `convert_token`.
#[actix_rt::test]
async fn every_door_exchanges_a_token_through_each_backend() {
    for door in Door::ALL {
        exchange_through_each_backend(door).await;
    }
}

#[actix_rt::test]
async fn a_second_exchange_of_the_same_person_gives_the_same_user_with_refreshed_names() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let first = app.exchange_token(&fss_token).await;
    let before = app.me(&first).await;
    let accounts = app.accounts();
    assert_eq!(accounts, (2, 1));

    app.set_fss_first_name("admin", "Agustín");
    // Another front door, the same backend: the same identity.
    for door in [Door::RegisterGet, Door::TokenExchange] {
        let response = app.exchange(door, FSS, &fss_token, None).await;
        let token = string(&assert_token_answer(response).await, "access_token");
        let after = app.me(&token).await;
        assert_eq!(after["id"], before["id"], "{door:?}");
        assert_eq!(after["username"], "admin2");
        assert_eq!(after["first_name"], "Agustín");
        assert_eq!(after["last_name"], "Barto");
    }
    assert_eq!(app.accounts(), accounts);
    let id = before["id"].as_i64().expect("an id");
    assert_eq!(app.linked_users(FSS, 1), [id]);
}

#[actix_rt::test]
async fn a_second_exchange_revokes_the_tokens_of_the_first() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let first = assert_token_answer(app.register_by_token(FSS, &fss_token, None).await).await;
    let second = app.exchange_token(&fss_token).await;

    let response = app
        .get_api("/api/users/", Some(&string(&first, "access_token")))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&response, WWW_AUTHENTICATE).contains(r#"error="invalid_token""#));
    let response = app.refresh(&string(&first, "refresh_token")).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;

    assert_eq!(app.me(&second).await["username"], "admin2");
}

#[actix_rt::test]
async fn with_params_and_another_users_name_is_an_unsuccessful_exchange() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let before = app.accounts();
    for username in ["user1", "nobody", "a/b"] {
        for door in Door::REGISTER {
            let response = app
                .exchange(door, FSS_WITH_PARAMS, &fss_token, Some(username))
                .await;
            assert_unsuccessful(response).await;
        }
    }
    assert_eq!(app.accounts(), before);
}

#[actix_rt::test]
async fn with_params_reaches_usernames_with_unusual_characters() {
    let app = spawn_app().await;
    for name in ["jo.doe+tag@mail-x_y", "agustín", "100%"] {
        let fss_id = app.create_fss_user(name, "secret-password").id;
        let fss_token = app.fss_token(name, "secret-password").await;
        let response = app
            .register_by_token(FSS_WITH_PARAMS, &fss_token, Some(name))
            .await;
        let token = string(&assert_token_answer(response).await, "access_token");
        let me = app.me(&token).await;
        let id = me["id"].as_i64().expect("an id");
        assert_eq!(app.linked_users(FSS_WITH_PARAMS, fss_id), [id], "{name}");
        assert_eq!(me["last_name"], name);
    }
}

#[actix_rt::test]
async fn with_params_without_a_username_is_a_bad_request() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let before = app.accounts();
    for door in Door::REGISTER {
        let response = app.exchange(door, FSS_WITH_PARAMS, &fss_token, None).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let response = app
        .register_by_token(FSS_WITH_PARAMS, &fss_token, Some(""))
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(app.accounts(), before);
}

#[actix_rt::test]
async fn a_garbage_token_is_an_unsuccessful_exchange() {
    let app = spawn_app().await;
    let before = app.accounts();
    for backend in BACKENDS {
        let username = (backend == FSS_WITH_PARAMS).then_some("admin");
        for token in ["garbage", "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"] {
            for door in Door::REGISTER {
                let response = app.exchange(door, backend, token, username).await;
                assert_unsuccessful(response).await;
            }
        }
    }
    assert_eq!(app.accounts(), before);
}

#[actix_rt::test]
async fn a_revoked_fake_social_site_token_is_an_unsuccessful_exchange() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let response = app
        .http
        .post(format!("{}/o/revoke_token/", app.fss().address))
        .form(&[("token", fss_token.as_str()), ("client_id", FSS_CLIENT)])
        .send()
        .await
        .expect("POST FSS /o/revoke_token/");
    assert_eq!(response.status(), StatusCode::OK);
    assert_unsuccessful(app.register_by_token(FSS, &fss_token, None).await).await;
    assert_eq!(app.accounts(), (1, 0));
}

#[actix_rt::test]
async fn an_unknown_backend_is_a_json_404() {
    let app = spawn_app().await;
    let response = app.register_by_token("facebook", "token", None).await;
    assert_error(response, StatusCode::NOT_FOUND, "unknown_backend").await;
    let response = app
        .exchange(Door::RegisterGet, "facebook", "token", None)
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "unknown_backend").await;
}

#[actix_rt::test]
async fn a_missing_access_token_is_a_json_400() {
    let app = spawn_app().await;
    let path = "/users/register-by-token/fake_social_site/";
    let response = app
        .http
        .post(app.url(path))
        .form(&[("username", "admin")])
        .send()
        .await
        .expect("POST without a token");
    let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        string(&body, "error_description").contains("access_token"),
        "{body}"
    );
    let response = app.http.get(app.url(path)).send().await.expect("GET");
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    // The token in a JSON body is not read: the route takes forms and query strings.
    let response = app
        .http
        .post(app.url(path))
        .json(&json!({ "access_token": "token" }))
        .send()
        .await
        .expect("POST JSON");
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[actix_rt::test]
async fn an_oversized_register_body_is_refused_with_json_before_the_provider_is_asked() {
    let app = spawn_app().await;
    let huge = "x".repeat(64 * 1024);
    let response = app.register_by_token(FSS, &huge, None).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_json(&response);
    assert_eq!(app.accounts(), (1, 0));
}

#[actix_rt::test]
async fn a_stopped_fake_social_site_is_a_json_503_and_nothing_is_written() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    app.stop_fss().await;
    let before = app.accounts();
    for door in Door::ALL {
        let response = app.exchange(door, FSS, &fss_token, None).await;
        assert_eq!(header(&response, CACHE_CONTROL), "no-store", "{door:?}");
        let body = json_body(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(body["error"], "social_provider_unavailable", "{door:?}");
    }
    assert_eq!(app.accounts(), before);
    assert_eq!(before, (1, 0));
}

#[actix_rt::test]
async fn fake_social_site_stopping_after_an_exchange_is_a_json_503_too() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    // My API now holds a kept-alive connection to FSS, which the stop closes.
    app.exchange_token(&fss_token).await;
    app.stop_fss().await;
    let before = app.accounts();
    for door in Door::ALL {
        let response = app.exchange(door, FSS, &fss_token, None).await;
        let body = json_body(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(body["error"], "social_provider_unavailable", "{door:?}");
    }
    assert_eq!(app.accounts(), before);
}

#[actix_rt::test]
async fn the_social_admin_does_not_get_the_local_admins_rights() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let social = app.exchange_token(&fss_token).await;
    let local = app.local_token("admin", "admin").await;

    let me = app.me(&social).await;
    assert_ne!(me["id"], 1);
    assert_eq!(me["username"], "admin2");
    let admin = app.get_api("/api/users/1/", Some(&social)).await;
    let admin = json_body(admin, StatusCode::OK).await;
    assert_eq!(admin["username"], "admin");
    assert_eq!(admin.get("email"), None, "{admin}");

    let rename = json!({ "name": "Taken over" });
    app.assert_item_1_is_not_changed_by(&social, &rename).await;

    let response = app
        .request(Method::PATCH, "/api/items/1/", Some(&local), Some(&rename))
        .await;
    assert_eq!(
        json_body(response, StatusCode::OK).await["name"],
        "Taken over"
    );
    let response = app
        .request(Method::DELETE, "/api/items/1/", Some(&local), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[actix_rt::test]
async fn an_exchange_never_joins_a_local_account_with_the_same_email_or_name() {
    let app = spawn_app().await;
    // FSS's user1 is John Doe, jdoe@rest_oauth_social_test.com.
    let local = app.create_local_user("user1", "local-password");
    {
        use shared::storage::schema::users;
        diesel::update(users::table.find(local.id))
            .set(users::email.eq("jdoe@rest_oauth_social_test.com"))
            .execute(&mut app.db())
            .expect("give the local user FSS user1's email");
    }
    let fss_token = app.fss_token("user1", "user1").await;
    let token = app.exchange_token(&fss_token).await;
    let me = app.me(&token).await;
    assert_ne!(me["id"], local.id);
    assert_eq!(me["username"], "user12");
    assert_eq!(me["first_name"], "John");
    let local_token = app.local_token("user1", "local-password").await;
    assert_eq!(app.me(&local_token).await["id"], local.id);
}

#[actix_rt::test]
async fn a_social_link_loaded_from_a_django_fixture_is_honoured() {
    let app = spawn_app().await;
    let fixture = r#"[{"model": "social_django.usersocialauth", "pk": 7, "fields": {
        "user": ["admin"], "provider": "fake_social_site", "uid": "2",
        "extra_data": "{\"id\": 2}"}}]"#;
    shared::storage::fixtures::load_json(&mut app.db(), "link", fixture, my_api::fixtures::LOADERS)
        .expect("load the link");
    let fss_token = app.fss_token("user1", "user1").await;
    let token = app.exchange_token(&fss_token).await;
    let me = app.me(&token).await;
    assert_eq!((&me["id"], &me["username"]), (&json!(1), &json!("admin")));
    // The provider's names win, as on any later login.
    assert_eq!(me["first_name"], "John");
    assert_eq!(app.accounts(), (1, 1));
}

#[actix_rt::test]
async fn a_fake_social_site_token_opens_nothing_on_my_api_by_itself() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let response = app.get_api("/api/users/", Some(&fss_token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&response, WWW_AUTHENTICATE).contains(r#"error="invalid_token""#));
    let response = app.post_item(Some(&fss_token), "Sneaked in").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[actix_rt::test]
async fn an_exchange_into_a_deactivated_account_is_refused() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let token = app.exchange_token(&fss_token).await;
    let id = app.me(&token).await["id"].as_i64().expect("an id");
    {
        use shared::storage::schema::users;
        diesel::update(users::table.find(id))
            .set(users::is_active.eq(false))
            .execute(&mut app.db())
            .expect("deactivate the user");
    }
    assert_unsuccessful(app.register_by_token(FSS, &fss_token, None).await).await;
    let response = app
        .exchange(Door::TokenExchange, FSS, &fss_token, None)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let response = app.get_api("/api/items/", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.accounts(), (2, 1));
}

/// A method the route does not serve gets a JSON error too, not actix's plain text.
#[actix_rt::test]
async fn the_register_route_answers_other_methods_with_json() {
    let app = spawn_app().await;
    let response = app
        .request(
            Method::PUT,
            "/users/register-by-token/fake_social_site/",
            None,
            Some(&Value::Null),
        )
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_json(&response);
    let allow = header(&response, reqwest::header::ALLOW);
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}
