//! Linked accounts over real HTTP against the real Fake Social Site: a signed-in My API user
//! links an FSS identity (`POST /users/link-by-token/<backend>/`), sees it at `GET /api/me/`
//! and unlinks it (`DELETE /api/me/identities/<backend>/`); every refusal leaves the links as
//! they were, and two users racing for one identity get one 200 and one 409.

use diesel::prelude::*;
use futures_util::future::join;
use reqwest::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use shared::storage::schema::users;

use crate::helpers::*;

/// `POST /users/link-by-token/<backend>/` as `bearer` with the provider token in a form body.
async fn link(app: &TestApp, bearer: Option<&str>, backend: &str, fss_token: &str) -> Response {
    let mut request = app
        .http
        .post(app.url(&format!("/users/link-by-token/{backend}/")))
        .form(&[("access_token", fss_token)]);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    request.send().await.expect("the link route")
}

/// `GET /api/me/` as `bearer`: the account, never cached.
async fn me(app: &TestApp, bearer: &str) -> Value {
    let response = app.get_api("/api/me/", Some(bearer)).await;
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    json_body(response, StatusCode::OK).await
}

async fn unlink(app: &TestApp, bearer: &str, backend: &str) -> Response {
    let path = format!("/api/me/identities/{backend}/");
    app.request(Method::DELETE, &path, Some(bearer), None).await
}

/// The (backend, uid) pairs of an account as `/api/me/` shows them.
fn identities(account: &Value) -> Vec<(String, String)> {
    array(&account["identities"])
        .iter()
        .map(|i| (string(i, "backend"), string(i, "uid")))
        .collect()
}

/// A local My API user with a password, and their My API token.
async fn local_user(app: &TestApp, name: &str) -> (i64, String) {
    let user = app.create_local_user(name, "correct horse");
    (user.id, app.local_token(name, "correct horse").await)
}

/// A new FSS user and an FSS access token of theirs: (their FSS id, the token).
async fn fss_user(app: &TestApp, name: &str) -> (i64, String) {
    let user = app.create_fss_user(name, "battery staple");
    (user.id, app.fss_token(name, "battery staple").await)
}

#[actix_rt::test]
async fn a_linked_identity_is_shown_at_me_and_linking_it_again_changes_nothing() {
    let app = spawn_app().await;
    let (alice, token) = local_user(&app, "alice").await;
    let (uid, fss_token) = fss_user(&app, "alice_fss").await;
    let before = me(&app, &token).await;
    assert_eq!(before["id"], alice);
    assert_eq!(before["username"], "alice");
    assert_eq!(before["has_usable_password"], true);
    assert_eq!(before["url"], app.url(&format!("/api/users/{alice}/")));
    assert!(identities(&before).is_empty(), "{before}");

    let response = link(&app, Some(&token), FSS, &fss_token).await;
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    let linked = json_body(response, StatusCode::OK).await;
    assert_eq!(identities(&linked), [(FSS.to_owned(), uid.to_string())]);
    let created = string(&linked["identities"][0], "created");
    assert!(created.ends_with('Z') && created.contains('T'), "{created}");
    assert_eq!(me(&app, &token).await, linked);
    assert_eq!(app.linked_users(FSS, uid), [alice]);

    let (users, links) = app.accounts();
    let again = json_body(
        link(&app, Some(&token), FSS, &fss_token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again, linked);
    assert_eq!(app.accounts(), (users, links));

    // Signing in with the identity now signs in to alice's account.
    let social = app.exchange_token(&fss_token).await;
    assert_eq!(me(&app, &social).await["id"], alice);
    assert_eq!(app.accounts(), (users, links));
}

#[actix_rt::test]
async fn an_identity_of_another_account_is_a_409_and_nothing_changes() {
    let app = spawn_app().await;
    let (_, token) = local_user(&app, "alice").await;
    let (uid, fss_token) = fss_user(&app, "bob_fss").await;
    // Bob signs in with it first: his account owns the identity.
    let bob = app.exchange_token(&fss_token).await;
    let owner = app.linked_users(FSS, uid);
    let before = app.accounts();

    let response = link(&app, Some(&token), FSS, &fss_token).await;
    assert_error(response, StatusCode::CONFLICT, "identity_linked_elsewhere").await;
    assert_eq!(app.accounts(), before);
    assert_eq!(app.linked_users(FSS, uid), owner);
    assert!(identities(&me(&app, &token).await).is_empty());
    assert_eq!(identities(&me(&app, &bob).await).len(), 1);
}

#[actix_rt::test]
async fn a_second_identity_at_the_same_backend_is_a_409_until_the_first_is_unlinked() {
    let app = spawn_app().await;
    let (alice, token) = local_user(&app, "alice").await;
    let (first, first_token) = fss_user(&app, "first").await;
    let (second, second_token) = fss_user(&app, "second").await;
    json_body(
        link(&app, Some(&token), FSS, &first_token).await,
        StatusCode::OK,
    )
    .await;
    let before = app.accounts();

    let response = link(&app, Some(&token), FSS, &second_token).await;
    let body = assert_error(response, StatusCode::CONFLICT, "backend_already_linked").await;
    assert!(
        string(&body, "error_description").contains("unlink"),
        "{body}"
    );
    assert_eq!(app.accounts(), before);
    assert!(app.linked_users(FSS, second).is_empty());

    assert_eq!(
        unlink(&app, &token, FSS).await.status(),
        StatusCode::NO_CONTENT
    );
    let linked = json_body(
        link(&app, Some(&token), FSS, &second_token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(identities(&linked), [(FSS.to_owned(), second.to_string())]);
    assert!(app.linked_users(FSS, first).is_empty());
    assert_eq!(app.linked_users(FSS, second), [alice]);
}

#[actix_rt::test]
async fn after_an_unlink_signing_in_with_that_identity_creates_a_new_account() {
    let app = spawn_app().await;
    let (alice, token) = local_user(&app, "alice").await;
    let (uid, fss_token) = fss_user(&app, "carol").await;
    json_body(
        link(&app, Some(&token), FSS, &fss_token).await,
        StatusCode::OK,
    )
    .await;
    let (users, links) = app.accounts();

    assert_eq!(
        unlink(&app, &token, FSS).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.accounts(), (users, links - 1));
    assert!(identities(&me(&app, &token).await).is_empty());
    // Gone: a second unlink has nothing to remove.
    let again = json_body(unlink(&app, &token, FSS).await, StatusCode::NOT_FOUND).await;
    assert!(again["detail"].is_string(), "{again}");

    let social = app.exchange_token(&fss_token).await;
    let account = me(&app, &social).await;
    assert_ne!(account["id"], alice);
    assert_eq!(account["has_usable_password"], false);
    assert_eq!(identities(&account), [(FSS.to_owned(), uid.to_string())]);
    assert_eq!(app.accounts(), (users + 1, links));
}

#[actix_rt::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let app = spawn_app().await;
    let (uid, fss_token) = fss_user(&app, "dave").await;
    // An account made by a social sign-in has no usable password.
    let social = app.exchange_token(&fss_token).await;
    assert_eq!(me(&app, &social).await["has_usable_password"], false);

    let response = unlink(&app, &social, FSS).await;
    let body = json_body(response, StatusCode::CONFLICT).await;
    assert!(string(&body, "detail").contains("last way"), "{body}");
    assert_eq!(app.linked_users(FSS, uid).len(), 1);
    let none_there = unlink(&app, &social, FSS_WITH_PARAMS).await;
    json_body(none_there, StatusCode::NOT_FOUND).await;

    // With a second identity linked, the first may go.
    let (other, other_token) = fss_user(&app, "dave_too").await;
    let response = app
        .http
        .post(app.url(&format!("/users/link-by-token/{FSS_WITH_PARAMS}/")))
        .bearer_auth(&social)
        .form(&[
            ("access_token", other_token.as_str()),
            ("username", "dave_too"),
        ])
        .send()
        .await
        .expect("the link route");
    let linked = json_body(response, StatusCode::OK).await;
    assert_eq!(identities(&linked).len(), 2, "{linked}");
    assert_eq!(
        unlink(&app, &social, FSS).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(app.linked_users(FSS, uid).is_empty());
    assert_eq!(app.linked_users(FSS_WITH_PARAMS, other).len(), 1);
    let response = unlink(&app, &social, FSS_WITH_PARAMS).await;
    json_body(response, StatusCode::CONFLICT).await;
}

#[actix_rt::test]
async fn an_unknown_backend_is_a_404_as_the_register_route_answers_it() {
    let app = spawn_app().await;
    let (_, token) = local_user(&app, "alice").await;
    let fss_token = app.fss_token("user1", "user1").await;
    let before = app.accounts();
    let response = link(&app, Some(&token), "nope", &fss_token).await;
    assert_error(response, StatusCode::NOT_FOUND, "unknown_backend").await;
    let register = app.register_by_token("nope", &fss_token, None).await;
    assert_error(register, StatusCode::NOT_FOUND, "unknown_backend").await;
    assert_eq!(app.accounts(), before);
}

#[actix_rt::test]
async fn linking_needs_a_valid_bearer_token_with_the_write_scope() {
    let app = spawn_app().await;
    let fss_token = app.fss_token("user1", "user1").await;
    app.create_local_user("reader", "correct horse");
    let before = app.accounts();
    for bearer in [None, Some("not-a-token")] {
        let response = link(&app, bearer, FSS, &fss_token).await;
        assert!(
            !header(&response, WWW_AUTHENTICATE).is_empty(),
            "{bearer:?}"
        );
        let body = json_body(response, StatusCode::UNAUTHORIZED).await;
        assert!(body["detail"].is_string(), "{bearer:?}: {body}");
        for (method, path) in [
            (Method::GET, "/api/me/"),
            (Method::DELETE, "/api/me/identities/fake_social_site/"),
        ] {
            let response = app.request(method, path, bearer, None).await;
            json_body(response, StatusCode::UNAUTHORIZED).await;
        }
    }
    let response = app
        .local_password_grant_with_scope("reader", "correct horse", "read")
        .await;
    let read_only = string(&json_body(response, StatusCode::OK).await, "access_token");
    let response = link(&app, Some(&read_only), FSS, &fss_token).await;
    json_body(response, StatusCode::FORBIDDEN).await;
    let response = unlink(&app, &read_only, FSS).await;
    json_body(response, StatusCode::FORBIDDEN).await;
    assert_eq!(me(&app, &read_only).await["username"], "reader");
    assert_eq!(app.accounts(), before);
}

#[actix_rt::test]
async fn a_deactivated_account_links_nothing() {
    let app = spawn_app().await;
    let (alice, token) = local_user(&app, "alice").await;
    let (uid, fss_token) = fss_user(&app, "erin").await;
    // Its token has been seen, so a token cache would still hold it.
    me(&app, &token).await;
    let updated = diesel::update(users::table.filter(users::id.eq(alice)))
        .set(users::is_active.eq(false))
        .execute(&mut app.db())
        .expect("deactivate alice");
    assert_eq!(updated, 1);
    let response = link(&app, Some(&token), FSS, &fss_token).await;
    json_body(response, StatusCode::UNAUTHORIZED).await;
    assert!(app.linked_users(FSS, uid).is_empty());
}

#[actix_rt::test]
async fn a_refused_provider_token_or_a_missing_one_is_a_400_and_nothing_is_written() {
    let app = spawn_app().await;
    let (_, token) = local_user(&app, "alice").await;
    let before = app.accounts();
    let response = link(&app, Some(&token), FSS, "not-an-fss-token").await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "unsuccessful_token_exchange",
    )
    .await;
    let response = app
        .http
        .post(app.url("/users/link-by-token/fake_social_site/"))
        .bearer_auth(&token)
        .form(&[("username", "alice")])
        .send()
        .await
        .expect("the link route");
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(app.accounts(), before);
}

#[actix_rt::test]
async fn a_provider_that_is_down_is_a_503_and_nothing_is_written() {
    let app = spawn_app().await;
    let (_, token) = local_user(&app, "alice").await;
    let fss_token = app.fss_token("user1", "user1").await;
    app.stop_fss().await;
    let before = app.accounts();
    let response = link(&app, Some(&token), FSS, &fss_token).await;
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "social_provider_unavailable",
    )
    .await;
    assert_eq!(app.accounts(), before);
    assert!(identities(&me(&app, &token).await).is_empty());
}

#[actix_rt::test]
async fn two_users_linking_one_identity_at_once_get_one_200_and_one_409() {
    let app = spawn_app().await;
    let (alice, alice_token) = local_user(&app, "alice").await;
    let (bob, bob_token) = local_user(&app, "bob").await;
    for round in 0..8 {
        let (uid, fss_token) = fss_user(&app, &format!("contested{round}")).await;
        let (a, b) = join(
            link(&app, Some(&alice_token), FSS, &fss_token),
            link(&app, Some(&bob_token), FSS, &fss_token),
        )
        .await;
        let statuses = [a.status(), b.status()];
        let winner = match statuses {
            [StatusCode::OK, StatusCode::CONFLICT] => alice,
            [StatusCode::CONFLICT, StatusCode::OK] => bob,
            other => panic!("round {round}: {other:?}"),
        };
        let loser = if statuses[0] == StatusCode::CONFLICT {
            a
        } else {
            b
        };
        assert_error(loser, StatusCode::CONFLICT, "identity_linked_elsewhere").await;
        assert_eq!(app.linked_users(FSS, uid), [winner], "round {round}");
        // Free the backend again for the next round.
        let token = if winner == alice {
            &alice_token
        } else {
            &bob_token
        };
        assert_eq!(
            unlink(&app, token, FSS).await.status(),
            StatusCode::NO_CONTENT
        );
    }
}
