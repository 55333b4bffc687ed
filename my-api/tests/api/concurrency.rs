//! First exchanges racing each other: one person is one user, however many requests arrive
//! at once, and through whichever front door.

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::helpers::*;

#[actix_rt::test]
async fn twenty_concurrent_first_exchanges_of_one_person_make_one_user() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("admin", "admin").await;
    let (users, links) = app.accounts();

    let doors = (0..20).map(|i| Door::ALL[i % Door::ALL.len()]);
    let answers = join_all(doors.map(|door| app.exchange(door, FSS, &fss_token, None))).await;
    let mut tokens = Vec::new();
    for response in answers {
        let body = assert_token_answer(response).await;
        tokens.push(string(&body, "access_token"));
    }

    assert_eq!(app.accounts(), (users + 1, links + 1));
    let linked = app.linked_users(FSS, 1);
    assert_eq!(linked.len(), 1);
    // Each exchange replaces the user's earlier tokens, so exactly one of them still works,
    // and it belongs to the linked user.
    let mut working = Vec::new();
    for token in &tokens {
        let response = app.get_api("/api/users/", Some(token)).await;
        if response.status() == StatusCode::OK {
            working.push(token);
        } else {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(working.len(), 1);
    let me = app.me(working[0]).await;
    assert_eq!(me["id"], linked[0]);
    assert_eq!(me["username"], "admin2");
}

#[actix_rt::test]
async fn concurrent_first_exchanges_of_different_people_make_one_user_each() {
    let app = spawn_app().await;
    let people: Vec<String> = (1..=10).map(|i| format!("person{i}")).collect();
    let mut fss_ids = Vec::new();
    for name in &people {
        fss_ids.push(app.create_fss_user(name, "secret-password").id);
    }
    let fss_tokens = join_all(
        people
            .iter()
            .map(|name| app.fss_token(name, "secret-password")),
    )
    .await;
    let (users, links) = app.accounts();

    let answers = join_all(
        fss_tokens
            .iter()
            .map(|token| app.register_by_token(FSS, token, None)),
    )
    .await;
    let mut local_ids = Vec::new();
    for ((response, name), fss_id) in answers.into_iter().zip(&people).zip(&fss_ids) {
        let body = assert_token_answer(response).await;
        let me = app.me(&string(&body, "access_token")).await;
        assert_eq!(me["username"], name.as_str());
        let id = me["id"].as_i64().expect("an id");
        assert_eq!(app.linked_users(FSS, *fss_id), [id], "{name}");
        local_ids.push(id);
    }
    local_ids.sort_unstable();
    local_ids.dedup();
    assert_eq!(local_ids.len(), people.len());
    assert_eq!(app.accounts(), (users + 10, links + 10));
}
