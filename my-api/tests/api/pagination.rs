//! Lists under `/api/` are paginated as DRF's `PageNumberPagination`: `count`, `next`,
//! `previous`, `results`, `?page=` and `?page_size=` up to a maximum; and no user owns more
//! items than the configured cap.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use my_api::schema::items;

use crate::helpers::*;

/// Adds `n` items owned by the fixture's admin (id 1), straight into the database.
fn add_items(app: &TestApp, n: usize) {
    let mut conn = app.db();
    conn.transaction(|conn| {
        for i in 0..n {
            diesel::insert_into(items::table)
                .values((
                    items::name.eq(format!("Bulk {i}")),
                    items::owner_id.eq(1),
                    items::created.eq(0),
                ))
                .execute(conn)?;
        }
        QueryResult::Ok(())
    })
    .expect("insert the items");
}

fn ids(page: &Value) -> Vec<i64> {
    results(page)
        .iter()
        .map(|item| item["id"].as_i64().expect("an id"))
        .collect()
}

async fn page_of(app: &TestApp, path: &str, token: Option<&str>) -> Value {
    json_body(app.get_api(path, token).await, StatusCode::OK).await
}

#[actix_rt::test]
async fn a_list_answers_one_page_with_its_count_and_absolute_links_to_its_neighbours() {
    let app = spawn_app().await;
    add_items(&app, 120);

    // 124 items (the fixture's 4 and ours), 50 a page: pages of 50, 50 and 24.
    let first = page_of(&app, "/api/items/", None).await;
    assert_eq!(first["count"], 124);
    assert_eq!(first["next"], app.url("/api/items/?page=2"));
    assert_eq!(first["previous"], Value::Null);
    assert_eq!(ids(&first), (1..=50).collect::<Vec<_>>());
    assert_eq!(
        results(&first)[0],
        json!({ "id": 1, "url": app.url("/api/items/1/"), "name": "Item A", "owner": "admin" })
    );

    let second = page_of(&app, "/api/items/?page=2", None).await;
    assert_eq!(second["next"], app.url("/api/items/?page=3"));
    // As DRF: the link back to the first page carries no `page`.
    assert_eq!(second["previous"], app.url("/api/items/"));
    assert_eq!(ids(&second), (51..=100).collect::<Vec<_>>());

    let last = page_of(&app, "/api/items/?page=3", None).await;
    assert_eq!(last["next"], Value::Null);
    assert_eq!(last["previous"], app.url("/api/items/?page=2"));
    assert_eq!(ids(&last), (101..=124).collect::<Vec<_>>());
}

#[actix_rt::test]
async fn every_list_under_api_is_paginated() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    for (path, count) in [
        ("/api/items/", 4),
        ("/api/concepts/", 4),
        ("/api/users/", 1),
    ] {
        let page = page_of(&app, path, Some(&token)).await;
        assert_eq!(page["count"], count, "{path}: {page}");
        assert_eq!(page["next"], Value::Null, "{path}: {page}");
        assert_eq!(page["previous"], Value::Null, "{path}: {page}");
        assert_eq!(results(&page).len(), count, "{path}: {page}");
    }
}

#[actix_rt::test]
async fn page_size_is_honoured_up_to_the_maximum_and_kept_in_the_links() {
    let app = spawn_app().await;
    add_items(&app, 296);

    let page = page_of(&app, "/api/items/?page_size=10&page=2", None).await;
    assert_eq!(ids(&page), (11..=20).collect::<Vec<_>>());
    assert_eq!(page["next"], app.url("/api/items/?page=3&page_size=10"));
    assert_eq!(page["previous"], app.url("/api/items/?page_size=10"));

    // More than the maximum gets the maximum (100), as DRF's max_page_size.
    let page = page_of(&app, "/api/items/?page_size=100000", None).await;
    assert_eq!(page["count"], 300);
    assert_eq!(results(&page).len(), 100);

    for bad in ["0", "-1", "ten", ""] {
        let response = app
            .get_api(&format!("/api/items/?page_size={bad}"), None)
            .await;
        let body = json_body(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(body, json!({ "detail": "Invalid page size." }), "{bad:?}");
    }
}

#[actix_rt::test]
async fn the_page_size_settings_are_applied() {
    let app = spawn_app_configured(|settings| {
        settings.api.page_size = 2;
        settings.api.max_page_size = 3;
    })
    .await;
    let page = page_of(&app, "/api/items/", None).await;
    assert_eq!(ids(&page), vec![1, 2]);
    assert_eq!(page["next"], app.url("/api/items/?page=2"));
    let page = page_of(&app, "/api/items/?page_size=50", None).await;
    assert_eq!(ids(&page), vec![1, 2, 3]);
}

#[actix_rt::test]
async fn an_invalid_or_out_of_range_page_is_a_404_invalid_page() {
    let app = spawn_app().await;
    let token = app.local_token("admin", "admin").await;
    for path in [
        "/api/items/?page=2",
        "/api/items/?page=0",
        "/api/items/?page=-1",
        "/api/items/?page=last",
        "/api/items/?page=1.5",
        "/api/items/?page=99999999999999999999999",
        "/api/concepts/?page=7",
        "/api/users/?page=x",
    ] {
        let response = app.get_api(path, Some(&token)).await;
        let body = json_body(response, StatusCode::NOT_FOUND).await;
        assert_eq!(body, json!({ "detail": "Invalid page." }), "{path}");
    }
    // The first page exists even when the list is empty (DRF's allow_empty_first_page).
    app.db()
        .batch_execute("DELETE FROM items")
        .expect("empty the items");
    let page = page_of(&app, "/api/items/?page=1", None).await;
    assert_eq!(
        page,
        json!({ "count": 0, "next": null, "previous": null, "results": [] })
    );
}

#[actix_rt::test]
async fn three_thousand_items_answer_an_anonymous_caller_with_one_bounded_page() {
    let app = spawn_app().await;
    add_items(&app, 2996);
    let response = app.get_api("/api/items/?page_size=1000000", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.expect("the body");
    let page: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(page["count"], 3000);
    assert_eq!(results(&page).len(), 100);
    assert!(body.len() < 16 * 1024, "{} bytes", body.len());
}

#[actix_rt::test]
async fn a_user_cannot_own_more_items_than_the_cap() {
    let app = spawn_app_configured(|settings| settings.api.max_items_per_user = 3).await;
    app.create_local_user("bob", "bob-password");
    let bob = app.local_token("bob", "bob-password").await;
    let mut urls = Vec::new();
    for i in 0..3 {
        let response = app.post_item(Some(&bob), &format!("Bob {i}")).await;
        let item = json_body(response, StatusCode::CREATED).await;
        urls.push(string(&item, "url"));
    }

    let response = app.post_item(Some(&bob), "One too many").await;
    let body = json_body(response, StatusCode::FORBIDDEN).await;
    assert_eq!(
        body,
        json!({ "detail": "You may own at most 3 items; delete one before creating another." })
    );
    assert_eq!(
        page_of(&app, "/api/items/", None).await["count"],
        4 + 3,
        "nothing was written"
    );

    // The cap is per user: the admin (who owns 4 of the fixture's items) is already past it,
    // bob gets room back by deleting one.
    let admin = app.local_token("admin", "admin").await;
    let response = app.post_item(Some(&admin), "Admin's fifth").await;
    json_body(response, StatusCode::FORBIDDEN).await;
    let path = urls[0].trim_start_matches(&app.address).to_owned();
    let response = app
        .request(reqwest::Method::DELETE, &path, Some(&bob), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.post_item(Some(&bob), "Room again").await;
    json_body(response, StatusCode::CREATED).await;
}
