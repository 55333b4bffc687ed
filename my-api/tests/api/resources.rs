//! The resource API under `/api/` and the test page at `/`.

use reqwest::header::{CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn ids_and_parents(concepts: &Value) -> Vec<(i64, Option<i64>)> {
    results(concepts)
        .iter()
        .map(|c| (c["id"].as_i64().expect("an id"), c["parent"].as_i64()))
        .collect()
}

#[actix_rt::test]
async fn the_api_root_lists_the_collections_and_the_callers_account() {
    let app = spawn_app().await;
    let root = json_body(app.get_api("/api/", None).await, StatusCode::OK).await;
    assert_eq!(
        root,
        json!({
            "users": app.url("/api/users/"),
            "items": app.url("/api/items/"),
            "concepts": app.url("/api/concepts/"),
            "me": app.url("/api/me/"),
        })
    );
}

#[actix_rt::test]
async fn anyone_can_read_items() {
    let app = spawn_app().await;
    let items = json_body(app.get_api("/api/items/", None).await, StatusCode::OK).await;
    assert_eq!(results(&items).len(), 4);
    assert_eq!(
        results(&items)[0],
        json!({ "id": 1, "url": app.url("/api/items/1/"), "name": "Item A", "owner": "admin" })
    );
    let item = json_body(app.get_api("/api/items/4/", None).await, StatusCode::OK).await;
    assert_eq!(item["name"], "Item D");
    let missing = app.get_api("/api/items/99/", None).await;
    json_body(missing, StatusCode::NOT_FOUND).await;
}

#[actix_rt::test]
async fn an_anonymous_post_is_refused_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let response = app.post_item(None, "Anonymous").await;
    assert_eq!(header(&response, WWW_AUTHENTICATE), r#"Bearer realm="api""#);
    let body = json_body(response, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"].is_string(), "{body}");
    let items = json_body(app.get_api("/api/items/", None).await, StatusCode::OK).await;
    assert_eq!(results(&items).len(), 4);
}

#[actix_rt::test]
async fn an_authenticated_post_creates_an_item_owned_by_the_caller() {
    let app = spawn_app().await;
    app.create_local_user("bob", "bob-password");
    let token = app.local_token("bob", "bob-password").await;
    let response = app.post_item(Some(&token), "  Bob's item ").await;
    let location = header(&response, LOCATION);
    let item = json_body(response, StatusCode::CREATED).await;
    assert_eq!(item["name"], "Bob's item");
    assert_eq!(item["owner"], "bob");
    let id = item["id"].as_i64().expect("an id");
    assert_eq!(item["url"], app.url(&format!("/api/items/{id}/")));
    assert_eq!(location, string(&item, "url"));
    let fetched = app.get_api(&format!("/api/items/{id}/"), None).await;
    assert_eq!(json_body(fetched, StatusCode::OK).await, item);
}

#[actix_rt::test]
async fn an_item_needs_a_name() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    for body in [
        json!({}),
        json!({ "name": "   " }),
        json!({ "name": "x".repeat(201) }),
    ] {
        let response = app
            .request(Method::POST, "/api/items/", Some(&token), Some(&body))
            .await;
        let errors = json_body(response, StatusCode::BAD_REQUEST).await;
        assert!(errors["name"].is_array(), "{errors}");
    }
}

/// Schemathesis once drew this name: SQLite's `length()` stops at the NUL, the CHECK failed
/// and the storage error was answered 500.
#[actix_rt::test]
async fn a_name_with_control_characters_is_a_field_error_and_never_a_500() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    for name in ["\u{0}\u{1e}[q\u{1a}\u{7}", "Item\u{0}", "two\nlines"] {
        for path in [
            "/api/items/",
            "/api/concepts/",
            "/api/items/1/",
            "/api/concepts/1/",
        ] {
            let method = if path.ends_with("1/") {
                Method::PUT
            } else {
                Method::POST
            };
            let response = app
                .request(method, path, Some(&token), Some(&json!({ "name": name })))
                .await;
            let errors = json_body(response, StatusCode::BAD_REQUEST).await;
            assert_eq!(
                errors["name"][0],
                shared::security::text::CONTROL_CHARACTERS,
                "{path} {name:?}"
            );
        }
    }
    app.assert_item_1_is_as_loaded().await;
}

/// As DRF: PUT replaces, so it needs the name; PATCH changes only what it is given.
#[actix_rt::test]
async fn a_put_needs_the_name_and_a_patch_changes_only_what_it_names() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    for path in ["/api/items/1/", "/api/concepts/4/"] {
        let before = json_body(app.get_api(path, Some(&token)).await, StatusCode::OK).await;
        let response = app
            .request(Method::PUT, path, Some(&token), Some(&json!({})))
            .await;
        let errors = json_body(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(errors["name"][0], "This field is required.", "{path}");

        let response = app
            .request(Method::PATCH, path, Some(&token), Some(&json!({})))
            .await;
        assert_eq!(json_body(response, StatusCode::OK).await, before, "{path}");

        for method in [Method::PUT, Method::PATCH] {
            let response = app
                .request(method, path, Some(&token), Some(&json!({ "name": null })))
                .await;
            let errors = json_body(response, StatusCode::BAD_REQUEST).await;
            assert_eq!(errors["name"][0], "This field may not be null.", "{path}");
        }

        let long = format!(" {} ", "x".repeat(199));
        let response = app
            .request(
                Method::PATCH,
                path,
                Some(&token),
                Some(&json!({ "name": long })),
            )
            .await;
        let errors = json_body(response, StatusCode::BAD_REQUEST).await;
        assert!(errors["name"].is_array(), "{path}: {errors}");

        let response = app
            .request(
                Method::PUT,
                path,
                Some(&token),
                Some(&json!({ "name": " Put " })),
            )
            .await;
        let after = json_body(response, StatusCode::OK).await;
        assert_eq!(after["name"], "Put", "{path}");
        if let Some(parent) = before.get("parent") {
            assert_eq!(&after["parent"], parent, "a PUT without parent keeps it");
        }
    }
}

#[actix_rt::test]
async fn only_the_owner_can_change_or_delete_an_item() {
    let app = spawn_app().await;
    app.create_local_user("bob", "bob-password");
    let bob = app.local_token("bob", "bob-password").await;
    let admin = app.local_token("admin", "admin").await;
    let rename = json!({ "name": "Renamed" });

    app.assert_item_1_is_not_changed_by(&bob, &rename).await;

    let response = app
        .request(Method::PUT, "/api/items/1/", Some(&admin), Some(&rename))
        .await;
    assert_eq!(json_body(response, StatusCode::OK).await["name"], "Renamed");
    let patch = json!({ "name": "Patched" });
    let response = app
        .request(Method::PATCH, "/api/items/1/", Some(&admin), Some(&patch))
        .await;
    let patched = json_body(response, StatusCode::OK).await;
    assert_eq!(
        (&patched["name"], &patched["owner"]),
        (&json!("Patched"), &json!("admin"))
    );
    let response = app
        .request(Method::DELETE, "/api/items/1/", Some(&admin), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let gone = app.get_api("/api/items/1/", None).await;
    json_body(gone, StatusCode::NOT_FOUND).await;
}

#[actix_rt::test]
async fn concepts_are_not_readable_anonymously() {
    let app = spawn_app().await;
    for path in ["/api/concepts/", "/api/concepts/1/"] {
        let response = app.get_api(path, None).await;
        assert_eq!(header(&response, WWW_AUTHENTICATE), r#"Bearer realm="api""#);
        json_body(response, StatusCode::UNAUTHORIZED).await;
    }
}

#[actix_rt::test]
async fn the_concept_list_shows_the_tree() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    let concepts = app.get_api("/api/concepts/", Some(&token)).await;
    let concepts = json_body(concepts, StatusCode::OK).await;
    assert_eq!(
        ids_and_parents(&concepts),
        [(1, None), (2, None), (3, None), (4, Some(1))]
    );
    assert_eq!(
        results(&concepts)[3],
        json!({ "id": 4, "url": app.url("/api/concepts/4/"), "name": "Concept A.1", "parent": 1 })
    );
}

#[actix_rt::test]
async fn a_concept_can_be_created_under_a_parent_and_moved() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    let response = app
        .post_concept(&token, &json!({ "name": "Concept B.1", "parent": 2 }))
        .await;
    let created = json_body(response, StatusCode::CREATED).await;
    assert_eq!(created["parent"], 2);
    let path = format!("/api/concepts/{}/", created["id"]);
    let response = app
        .request(
            Method::PATCH,
            &path,
            Some(&token),
            Some(&json!({ "parent": 4 })),
        )
        .await;
    let moved = json_body(response, StatusCode::OK).await;
    assert_eq!(
        (&moved["name"], &moved["parent"]),
        (&json!("Concept B.1"), &json!(4))
    );
    let response = app
        .request(
            Method::PATCH,
            &path,
            Some(&token),
            Some(&json!({ "parent": null })),
        )
        .await;
    assert_eq!(
        json_body(response, StatusCode::OK).await["parent"],
        Value::Null
    );
}

#[actix_rt::test]
async fn a_concept_with_a_missing_parent_is_a_bad_request() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    let response = app
        .post_concept(&token, &json!({ "name": "Orphan", "parent": 999 }))
        .await;
    let errors = json_body(response, StatusCode::BAD_REQUEST).await;
    assert!(errors["parent"].is_array(), "{errors}");
    let concepts = app.get_api("/api/concepts/", Some(&token)).await;
    assert_eq!(results(&json_body(concepts, StatusCode::OK).await).len(), 4);
}

#[actix_rt::test]
async fn a_concept_cannot_become_its_own_ancestor() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    // Concept A under its own child A.1, and under itself.
    for parent in [4, 1] {
        let body = json!({ "parent": parent });
        let response = app
            .request(Method::PATCH, "/api/concepts/1/", Some(&token), Some(&body))
            .await;
        let errors = json_body(response, StatusCode::BAD_REQUEST).await;
        assert!(errors["parent"].is_array(), "{errors}");
    }
    let concepts = app.get_api("/api/concepts/", Some(&token)).await;
    let concepts = json_body(concepts, StatusCode::OK).await;
    assert_eq!(
        ids_and_parents(&concepts),
        [(1, None), (2, None), (3, None), (4, Some(1))]
    );
}

#[actix_rt::test]
async fn the_users_list_never_shows_another_users_email() {
    let app = spawn_app().await;
    let anonymous = app.get_api("/api/users/", None).await;
    json_body(anonymous, StatusCode::UNAUTHORIZED).await;

    app.create_local_user("bob", "bob-password");
    let bob = app.local_token("bob", "bob-password").await;
    let admin = app.local_token("admin", "admin").await;
    for (token, own) in [(&admin, "admin"), (&bob, "bob")] {
        let users = app.get_api("/api/users/", Some(token)).await;
        let users = json_body(users, StatusCode::OK).await;
        assert_eq!(results(&users).len(), 2);
        for user in results(&users) {
            let shows_email = user.get("email").is_some();
            assert_eq!(shows_email, user["username"] == own, "{own} sees {user}");
        }
    }
    let admin_seen_by_bob = app.get_api("/api/users/1/", Some(&bob)).await;
    let admin_seen_by_bob = json_body(admin_seen_by_bob, StatusCode::OK).await;
    assert_eq!(admin_seen_by_bob["username"], "admin");
    assert_eq!(admin_seen_by_bob.get("email"), None, "{admin_seen_by_bob}");
    assert_eq!(app.me(&bob).await["email"], "bob@example.com");
}

#[actix_rt::test]
async fn a_read_only_token_reads_but_cannot_write() {
    let app = spawn_app().await;
    let response = app
        .local_password_grant_with_scope("admin", "admin", "read")
        .await;
    let body = json_body(response, StatusCode::OK).await;
    assert_eq!(body["scope"], "read");
    let token = string(&body, "access_token");

    let concepts = app.get_api("/api/concepts/", Some(&token)).await;
    json_body(concepts, StatusCode::OK).await;
    let writes = [
        (Method::POST, "/api/items/", Some(json!({ "name": "New" }))),
        (
            Method::PATCH,
            "/api/items/1/",
            Some(json!({ "name": "New" })),
        ),
        (Method::DELETE, "/api/items/1/", None),
        (
            Method::POST,
            "/api/concepts/",
            Some(json!({ "name": "New" })),
        ),
        (Method::DELETE, "/api/concepts/3/", None),
    ];
    for (method, path, body) in writes {
        let response = app
            .request(method.clone(), path, Some(&token), body.as_ref())
            .await;
        let challenge = header(&response, WWW_AUTHENTICATE);
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{method} {path}: {challenge}"
        );
        json_body(response, StatusCode::FORBIDDEN).await;
    }
    app.assert_item_1_is_as_loaded().await;
}

#[actix_rt::test]
async fn a_malformed_json_body_is_a_json_400() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    for path in ["/api/items/", "/api/concepts/"] {
        let response = app
            .http
            .post(app.url(path))
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "application/json")
            .body(r#"{"name": "#)
            .send()
            .await
            .expect("POST a broken body");
        let body = json_body(response, StatusCode::BAD_REQUEST).await;
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
}

#[actix_rt::test]
async fn unknown_paths_are_json_404s() {
    let app = spawn_app().await;
    for path in ["/api/nothing/", "/nothing", "/api/items/not-a-number/"] {
        let response = app.get_api(path, None).await;
        json_body(response, StatusCode::NOT_FOUND).await;
    }
}

#[actix_rt::test]
async fn the_test_page_has_the_fake_social_site_url_filled_in() {
    let app = spawn_app_configured(|s| s.demo = true).await;
    let response = app.get_api("/", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, CONTENT_TYPE).starts_with("text/html"));
    let html = response.text().await.expect("the page");
    assert!(!html.contains("{{FAKE_SOCIAL_SITE_URL}}"));
    let meta = format!(
        r#"<meta name="fake-social-site-url" content="{}">"#,
        app.fss().address
    );
    assert!(html.contains(&meta), "{html}");
}
