//! OpenID Connect ID tokens at every front door, against a second provider with its own keys
//! (`oidc_provider`): each check of the verification refuses a crafted token and writes
//! nothing, a rotated key is picked up by one re-fetch and no more, a provider whose JWKS
//! cannot be had is a JSON 5xx, and a bad backends file stops the real binary on its line.

use std::path::PathBuf;
use std::process::Command;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use shared::storage::tokens::SigningAlg;
use tempfile::TempDir;

use crate::helpers::*;
use crate::oidc_provider::{CLIENT, Jwks, OidcProvider, header_of, new_key, sign, unsigned};

/// The second provider's backend name in My API.
pub const SECOND: &str = "second_provider";
/// A `sub` as Google's look: a number too large for an i64.
const SUB: &str = "110169484474386276334";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// My API (with the real FSS) configured with the second provider as `SECOND`.
pub struct Setup {
    pub app: TestApp,
    pub provider: OidcProvider,
    _dir: TempDir,
}

/// Writes a backends file with `text` and returns its path (kept while `dir` lives).
pub fn backends_file(dir: &TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("backends.toml");
    std::fs::write(&path, text).expect("write the backends file");
    path
}

async fn setup(jwks: Jwks) -> Setup {
    let provider = OidcProvider::start(jwks);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = backends_file(
        &dir,
        &format!(
            "[[backend]]\nname = \"{SECOND}\"\nissuer = \"{}\"\n\
             client_ids = [\"{CLIENT}\", \"second-client\"]\nalgorithms = [\"ES256\", \"RS256\"]\n",
            provider.url
        ),
    );
    let app = spawn_app_configured(|settings| {
        settings.social.backends_file = Some(path);
        if jwks == Jwks::Stalled {
            // Only the stalled provider is waited for, so a short wait keeps the test quick.
            settings.social.social_timeout_ms = 300;
        }
    })
    .await;
    Setup {
        app,
        provider,
        _dir: dir,
    }
}

/// `convert_token` with `id_token` (and `extra`).
async fn convert(app: &TestApp, backend: &str, id_token: &str, extra: &[(&str, &str)]) -> Response {
    let mut form = vec![
        ("grant_type", "convert_token"),
        ("backend", backend),
        ("id_token", id_token),
        ("client_id", MY_API_CLIENT),
    ];
    form.extend_from_slice(extra);
    app.post_token(&form).await
}

/// `POST /users/register-by-token/<backend>/` with `fields`.
async fn register(app: &TestApp, backend: &str, fields: &[(&str, &str)]) -> Response {
    app.http
        .post(app.url(&format!("/users/register-by-token/{backend}/")))
        .form(fields)
        .send()
        .await
        .expect("the register route")
}

/// The links of `SECOND`: (uid, username, email, first name, last name).
fn second_links(app: &TestApp) -> Vec<(String, String, String, String, String)> {
    use diesel::prelude::*;
    use my_api::schema::social_links;
    use shared::storage::schema::users;
    social_links::table
        .inner_join(users::table.on(users::id.eq(social_links::user_id)))
        .filter(social_links::provider.eq(SECOND))
        .select((
            social_links::uid,
            users::username,
            users::email,
            users::first_name,
            users::last_name,
        ))
        .load(&mut app.db())
        .expect("the links")
}

fn access_tokens(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    shared::storage::schema::access_tokens::table
        .count()
        .get_result(&mut app.db())
        .expect("a count")
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().expect("an object") {
        if value.is_null() {
            claims.as_object_mut().expect("claims").remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// A refusal case: its name, the token, what else the caller sends, words of the reason.
type Case = (
    &'static str,
    String,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

#[actix_rt::test]
async fn every_check_refuses_a_crafted_token_with_an_oauth2_error_and_writes_nothing() {
    let Setup { app, provider, .. } = setup(Jwks::Served).await;
    // Nothing is fetched before the first token: My API starts whatever the provider's state.
    assert_eq!(
        (provider.discovery_fetches(), provider.jwks_fetches()),
        (0, 0)
    );
    let before = app.accounts();
    let good = provider.claims(SUB);
    let now = shared::clock::now();
    let key = provider.key();
    let impostor = new_key("k1", SigningAlg::Es256);
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("k1".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &good,
        &jsonwebtoken::EncodingKey::from_secret(
            serde_json::to_string(key.jwk()).expect("JSON").as_bytes(),
        )
        .expect("an HMAC key"),
    )
    .expect("an HS256 token");
    let cases: Vec<Case> = vec![
        (
            "bad signature",
            sign(&impostor, &header_of(&key), &good),
            vec![],
            "signature",
        ),
        (
            "alg not allowed",
            format!(
                "{}.c2ln",
                unsigned(&json!({"alg": "ES384", "kid": "k1"}), &good)
            ),
            vec![],
            "not allowed",
        ),
        (
            "alg none",
            format!("{}.", unsigned(&json!({"alg": "none"}), &good)),
            vec![],
            "not allowed",
        ),
        (
            "HS256 with the public key as secret",
            hs256,
            vec![],
            "not allowed",
        ),
        (
            "alg of another key type",
            sign(&key, &json!({"alg": "RS256", "kid": "k1"}), &good),
            vec![],
            "no published key",
        ),
        (
            "wrong iss",
            provider.token(&with(
                good.clone(),
                json!({"iss": "https://elsewhere.example"}),
            )),
            vec![],
            "iss",
        ),
        (
            "wrong aud",
            provider.token(&with(good.clone(), json!({"aud": "someone-else"}))),
            vec![],
            "aud",
        ),
        (
            "several aud without azp",
            provider.token(&with(
                good.clone(),
                json!({"aud": [CLIENT, "someone-else"]}),
            )),
            vec![],
            "azp",
        ),
        (
            "several aud with a bad azp",
            provider.token(&with(
                good.clone(),
                json!({"aud": [CLIENT, "someone-else"], "azp": "someone-else"}),
            )),
            vec![],
            "azp",
        ),
        (
            "expired beyond the leeway",
            provider.token(&with(
                good.clone(),
                json!({"exp": now - 120, "iat": now - 900}),
            )),
            vec![],
            "expired",
        ),
        (
            "iat in the future",
            provider.token(&with(good.clone(), json!({"iat": now + 300}))),
            vec![],
            "future",
        ),
        (
            "not valid yet",
            provider.token(&with(good.clone(), json!({"nbf": now + 300}))),
            vec![],
            "nbf",
        ),
        (
            "no iat",
            provider.token(&with(good.clone(), json!({"iat": null}))),
            vec![],
            "iat",
        ),
        (
            "nonce mismatch",
            provider.token(&with(good.clone(), json!({"nonce": "n-1"}))),
            vec![("nonce", "n-2")],
            "nonce",
        ),
        (
            "nonce missing when sent",
            provider.token(&good),
            vec![("nonce", "n-2")],
            "nonce",
        ),
    ];
    for (case, token, extra, words) in &cases {
        let refused = assert_error(
            convert(&app, SECOND, token, extra).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        let description = refused["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(words), "{case}: {refused}");
        assert!(!description.contains(token.as_str()), "{case}: {refused}");
        // The register route words a refusal its own way.
        let mut fields = vec![("id_token", token.as_str())];
        fields.extend_from_slice(extra);
        let refused = register(&app, SECOND, &fields).await;
        let body = assert_error(
            refused,
            StatusCode::UNAUTHORIZED,
            "unsuccessful_token_exchange",
        )
        .await;
        assert_eq!(body["error_description"], UNSUCCESSFUL, "{case}");
    }
    assert_eq!(app.accounts(), before);
    // The keys were fetched once: every crafted token named a known key (or none).
    assert_eq!(
        (provider.discovery_fetches(), provider.jwks_fetches()),
        (1, 1)
    );
}

#[actix_rt::test]
async fn the_access_token_sent_beside_must_match_the_at_hash() {
    let Setup { app, provider, .. } = setup(Jwks::Served).await;
    let before = app.accounts();
    let access_token = "the-access-token-that-came-with-it";
    let hash = my_api::social::oidc::verify::access_token_hash(
        jsonwebtoken::Algorithm::ES256,
        access_token,
    );
    let token = provider.token(&with(provider.claims(SUB), json!({"at_hash": hash})));
    let fields = [
        ("id_token", token.as_str()),
        ("access_token", "another-token"),
    ];
    let refused = register(&app, SECOND, &fields).await;
    assert_error(
        refused,
        StatusCode::UNAUTHORIZED,
        "unsuccessful_token_exchange",
    )
    .await;
    let refused = convert(&app, SECOND, &token, &[("token", "another-token")]).await;
    let body = assert_error(refused, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("at_hash"),
        "{body}"
    );
    assert_eq!(app.accounts(), before);
    let fields = [("id_token", token.as_str()), ("access_token", access_token)];
    assert_token_answer(register(&app, SECOND, &fields).await).await;
}

#[actix_rt::test]
async fn an_id_token_is_exchanged_at_every_door_for_one_local_user_of_its_sub() {
    let Setup { app, provider, .. } = setup(Jwks::Served).await;
    let (users, links) = app.accounts();
    let token = provider.token(&with(provider.claims(SUB), json!({"nonce": "n-1"})));
    let several = provider.token(&with(
        provider.claims(SUB),
        json!({"aud": ["second-client", "someone-else"], "azp": "second-client"}),
    ));
    // Each exchange replaces the user's previous tokens, so each is used at once.
    for door in 0..5 {
        let answer = match door {
            0 => register(&app, SECOND, &[("id_token", &token), ("nonce", "n-1")]).await,
            1 => app
                .http
                .get(app.url(&format!("/users/register-by-token/{SECOND}/")))
                .query(&[("id_token", &token)])
                .send()
                .await
                .expect("GET"),
            2 => {
                app.post_token(&[
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token", &token),
                    ("subject_token_type", ID_TOKEN_TYPE),
                    ("subject_issuer", SECOND),
                    ("client_id", MY_API_CLIENT),
                ])
                .await
            }
            3 => convert(&app, SECOND, &token, &[]).await,
            _ => convert(&app, SECOND, &several, &[]).await,
        };
        let body = assert_token_answer(answer).await;
        let mine = app.me(&string(&body, "access_token")).await;
        assert_eq!(mine["username"], "ada", "door {door}: {mine}");
    }
    assert_eq!(app.accounts(), (users + 1, links + 1));
    assert_eq!(
        second_links(&app),
        [(
            SUB.to_owned(),
            "ada".to_owned(),
            "ada@example.com".to_owned(),
            "Ada".to_owned(),
            "Lovelace".to_owned()
        )]
    );
    // Another user of the provider with the same email is another account: an email never
    // joins accounts.
    let other = provider.token(&provider.claims("someone-else-entirely"));
    assert_token_answer(convert(&app, SECOND, &other, &[]).await).await;
    assert_eq!(app.accounts(), (users + 2, links + 2));
}

#[actix_rt::test]
async fn each_kind_of_backend_refuses_the_other_kind_of_token_clearly() {
    let Setup { app, provider, .. } = setup(Jwks::Served).await;
    let before = app.accounts();
    let id_token = provider.token(&provider.claims(SUB));
    let fss_token = app.fss_token("admin", "admin").await;
    let refused = register(&app, FSS, &[("id_token", &id_token)]).await;
    let body = assert_error(refused, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("access tokens only"),
        "{body}"
    );
    let refused = register(&app, SECOND, &[("access_token", &fss_token)]).await;
    let body = assert_error(refused, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("ID tokens only"),
        "{body}"
    );
    let refused = app
        .exchange(Door::ConvertToken, SECOND, &fss_token, None)
        .await;
    assert_error(refused, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(app.accounts(), before);
    assert_eq!(provider.jwks_fetches(), 0);
    // The served document has the configured backend's path beside the code backends'.
    let document = json_body(app.get_api("/openapi.json", None).await, StatusCode::OK).await;
    for backend in [SECOND, FSS] {
        let path = format!("/users/register-by-token/{backend}/");
        assert!(document["paths"][&path].is_object(), "{path}");
    }
}

#[actix_rt::test]
async fn a_rotated_key_is_fetched_once_and_an_unknown_kid_no_more_than_once_a_minute() {
    let Setup { app, provider, .. } = setup(Jwks::Served).await;
    assert_token_answer(convert(&app, SECOND, &provider.token(&provider.claims(SUB)), &[]).await)
        .await;
    assert_eq!(provider.jwks_fetches(), 1);
    provider.publish_only(new_key("k2", SigningAlg::Es256));
    for _ in 0..2 {
        let token = provider.token(&provider.claims(SUB));
        assert_token_answer(convert(&app, SECOND, &token, &[]).await).await;
    }
    assert_eq!(provider.jwks_fetches(), 2, "one re-fetch for the new kid");
    // Rotated again within the minute: the new kid is not looked for.
    provider.publish_only(new_key("k3", SigningAlg::Rs256));
    let token = provider.token(&provider.claims(SUB));
    let refused = convert(&app, SECOND, &token, &[]).await;
    let body = assert_error(refused, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("no published key"),
        "{body}"
    );
    assert_eq!(
        (provider.discovery_fetches(), provider.jwks_fetches()),
        (1, 2)
    );
}

#[actix_rt::test]
async fn a_provider_whose_keys_cannot_be_had_is_a_json_5xx_and_nothing_is_written() {
    for (jwks, lie, status, code) in [
        (
            Jwks::Down,
            false,
            StatusCode::SERVICE_UNAVAILABLE,
            "social_provider_unavailable",
        ),
        (
            Jwks::Garbage,
            false,
            StatusCode::BAD_GATEWAY,
            "social_provider_bad_response",
        ),
        (
            Jwks::Served,
            true,
            StatusCode::BAD_GATEWAY,
            "social_provider_bad_response",
        ),
        (
            Jwks::Stalled,
            false,
            StatusCode::GATEWAY_TIMEOUT,
            "social_provider_timeout",
        ),
    ] {
        let Setup { app, provider, .. } = setup(jwks).await;
        if lie {
            provider.lie_about_the_issuer();
        }
        let before = app.accounts();
        let token = provider.token(&provider.claims(SUB));
        let tokens_before = access_tokens(&app);
        for answer in [
            register(&app, SECOND, &[("id_token", &token)]).await,
            convert(&app, SECOND, &token, &[]).await,
        ] {
            assert_error(answer, status, code).await;
        }
        assert_eq!(app.accounts(), before, "{jwks:?}");
        assert_eq!(access_tokens(&app), tokens_before, "{jwks:?}");
    }
}

#[test]
fn a_bad_backends_file_stops_start_up_naming_the_file_and_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = backends_file(
        &dir,
        "[[backend]]\nname = \"google\"\nissuer = \"https://accounts.google.com\"\n\
         client_ids = [\"x.apps.googleusercontent.com\"]\nalgorithms = [\"RS256\", \"HS256\"]\n",
    );
    let db = dir.path().join("my-api.sqlite3");
    let mut command = Command::new(env!("CARGO_BIN_EXE_my-api"));
    test_support::process::serve(&mut command, &db, "127.0.0.1:0")
        .arg("--backends")
        .arg(&path);
    let output = command.output().expect("run my-api");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let place = format!("{}:line 5", path.display());
    assert!(stderr.contains(&place), "{stderr}");
    assert!(stderr.contains("HS256"), "{stderr}");
}

#[actix_rt::test]
async fn a_signed_in_user_links_an_identity_by_its_id_token_and_then_signs_in_with_it() {
    let Setup { app, provider, .. } = setup(Jwks::Served).await;
    let user = app.create_local_user("grace", "correct horse");
    let bearer = app.local_token("grace", "correct horse").await;
    let token = provider.token(&with(provider.claims(SUB), json!({"nonce": "n-2"})));
    let link = |fields: Vec<(&'static str, String)>| {
        app.http
            .post(app.url(&format!("/users/link-by-token/{SECOND}/")))
            .bearer_auth(&bearer)
            .form(&fields)
            .send()
    };
    // The nonce is checked here as at the register route, and a refusal links nothing.
    let refused = link(vec![("id_token", token.clone()), ("nonce", "other".into())])
        .await
        .expect("the link route");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(second_links(&app).is_empty());

    let linked = link(vec![("id_token", token.clone()), ("nonce", "n-2".into())])
        .await
        .expect("the link route");
    let account = json_body(linked, StatusCode::OK).await;
    assert_eq!(account["id"], user.id, "{account}");
    assert_eq!(account["identities"][0]["backend"], SECOND, "{account}");
    assert_eq!(account["identities"][0]["uid"], SUB, "{account}");
    // The linked identity now signs in as grace, not as a new account.
    let (users, links) = app.accounts();
    let body = assert_token_answer(convert(&app, SECOND, &token, &[]).await).await;
    let mine = app.me(&string(&body, "access_token")).await;
    assert_eq!(mine["username"], "grace", "{mine}");
    assert_eq!(app.accounts(), (users, links));
}
