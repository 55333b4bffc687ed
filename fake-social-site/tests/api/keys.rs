//! Asymmetric signing keys: the JWK Set, `SIGNING_KEY_FILE`, `rotatekeys` while serving, and
//! tokens that name a key or an algorithm they must not. Verification here uses jsonwebtoken
//! and keys made by openssl, never the service's own checks.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::StatusCode;
use reqwest::header::CACHE_CONTROL;
use serde_json::{Value, json};
use shared::oauth2::settings::ProviderSettings;
use test_support::testdb::TestDb;

use crate::helpers::{TestApp, header, json_body, spawn_app, spawn_app_with, www_authenticate};
use crate::readme_promises::{run, run_to_exit};

/// A key from the tests' key folder (made by openssl; see its README).
pub fn test_key(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/src/storage/tokens/test-keys")
        .join(name)
}

/// Reloads the keys on every use and caches no token, so each request sees the database.
fn eager(settings: &mut ProviderSettings) {
    settings.signing_keys_reload_seconds = 0;
    settings.token_cache_seconds = 0;
}

impl TestApp {
    async fn jwks(&self) -> JwkSet {
        let response = self.get("/.well-known/jwks.json").await;
        serde_json::from_value(json_body(response, StatusCode::OK).await).expect("a JWK Set")
    }

    async fn admin_token(&self) -> String {
        self.login("admin", "admin").await.access_token
    }
}

fn header_of(token: &str) -> Value {
    let part = token.split('.').next().expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().expect("a kid").to_owned()
}

fn kids(jwks: &JwkSet) -> Vec<String> {
    let mut kids: Vec<String> = jwks
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    kids.sort();
    kids
}

/// Verifies `token` with `jwk` alone, as a relying party would.
fn verifies_with(token: &str, jwk: &Jwk, issuer: &str) -> bool {
    let alg: Algorithm = header_of(token)["alg"]
        .as_str()
        .expect("an alg")
        .parse()
        .expect("a known alg");
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[issuer]);
    let key = DecodingKey::from_jwk(jwk).expect("a usable JWK");
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

fn rotatekeys(db: &TestDb, extra: &[&str]) -> String {
    let db = db.url_arg();
    let args: Vec<&str> = ["--database", db.as_str(), "rotatekeys"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let output = run(Path::new("."), &[], &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[actix_rt::test]
async fn the_jwks_lists_the_active_key_with_kid_alg_and_use_sig_and_the_metadata_names_it() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/jwks.json").await;
    let cache = header(&response, CACHE_CONTROL);
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let body = json_body(response, StatusCode::OK).await;
    let keys = body["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{body}");
    let key = &keys[0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
        (
            &json!("EC"),
            &json!("P-256"),
            &json!("ES256"),
            &json!("sig")
        )
    );
    assert!(
        key["kid"].as_str().is_some_and(|kid| kid.len() >= 16),
        "{key}"
    );
    assert!(key.get("d").is_none(), "no private part: {key}");

    let metadata = json_body(app.metadata().await, StatusCode::OK).await;
    assert_eq!(metadata["jwks_uri"], app.url("/.well-known/jwks.json"));
}

#[actix_rt::test]
async fn a_tokens_kid_is_published_and_its_public_key_verifies_it() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let header = header_of(&token);
    assert_eq!(
        (&header["alg"], &header["typ"]),
        (&json!("ES256"), &json!("at+jwt"))
    );
    let jwks = app.jwks().await;
    let jwk = jwks
        .find(&kid_of(&token))
        .expect("the token's kid is published");
    assert!(verifies_with(&token, jwk, &app.address));
}

#[actix_rt::test]
async fn rotatekeys_while_serving_changes_the_signing_key_without_logging_anyone_out() {
    let app = spawn_app_with(eager).await;
    let before = app.admin_token().await;
    let old = kid_of(&before);

    let printed = rotatekeys(&app.db, &[]);
    assert!(
        printed.contains("ES256") && printed.contains(&old),
        "{printed}"
    );

    let after = app.admin_token().await;
    let new = kid_of(&after);
    assert_ne!(new, old, "new tokens carry the new key");
    let jwks = app.jwks().await;
    let mut both = vec![old.clone(), new.clone()];
    both.sort();
    assert_eq!(kids(&jwks), both, "both keys are published");
    assert!(verifies_with(
        &after,
        jwks.find(&new).expect("new"),
        &app.address
    ));
    for token in [&before, &after] {
        json_body(app.user_details(token).await, StatusCode::OK).await;
    }

    // Once every token of the old key has expired (set here rather than waited for), it
    // leaves the set, tokens naming it are refused, and the prune deletes it.
    {
        use diesel::prelude::*;
        use shared::storage::schema::signing_keys;
        diesel::update(signing_keys::table.find(&old))
            .set(signing_keys::expires.eq(Some(shared::clock::now())))
            .execute(&mut app.db())
            .expect("expire the old key");
    }
    assert_eq!(kids(&app.jwks().await), vec![new.clone()]);
    let response = app.user_details(&before).await;
    assert!(www_authenticate(&response).contains("invalid_token"));
    json_body(app.user_details(&after).await, StatusCode::OK).await;
    let db = shared::storage::db::Db::open(&app.db_config(), &[]).expect("open");
    shared::storage::maintenance::prune(&db)
        .await
        .expect("prune");
    let left: i64 = {
        use diesel::prelude::*;
        shared::storage::schema::signing_keys::table
            .count()
            .get_result(&mut app.db())
            .expect("count keys")
    };
    assert_eq!(left, 1);
}

#[actix_rt::test]
async fn rotatekeys_with_alg_rs256_makes_an_rs256_key_that_is_published_too() {
    let app = spawn_app_with(eager).await;
    let printed = rotatekeys(&app.db, &["--alg", "RS256"]);
    assert!(printed.starts_with("RS256: key "), "{printed}");
    let jwks = app.jwks().await;
    let algs: Vec<Value> = jwks
        .keys
        .iter()
        .map(|k| serde_json::to_value(k).expect("JSON")["alg"].clone())
        .collect();
    assert_eq!(algs.len(), 2, "{algs:?}");
    assert!(algs.contains(&json!("RS256")) && algs.contains(&json!("ES256")));
    // Access tokens stay ES256.
    assert_eq!(header_of(&app.admin_token().await)["alg"], "ES256");
}

#[actix_rt::test]
async fn a_configured_ec_key_signs_the_tokens_and_verifies_with_its_openssl_public_half() {
    let app = spawn_app_with(|s| s.signing_key_file = Some(test_key("p256.pem"))).await;
    let token = app.admin_token().await;
    let public = std::fs::read(test_key("p256.pub.pem")).expect("the public key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[&app.address]);
    jsonwebtoken::decode::<Value>(
        &token,
        &DecodingKey::from_ec_pem(&public).expect("PEM"),
        &validation,
    )
    .expect("verifies with the configured key");
    let jwks = app.jwks().await;
    assert_eq!(kids(&jwks), vec![kid_of(&token)]);
}

#[actix_rt::test]
async fn a_configured_rsa_key_is_published_as_the_rs256_key() {
    let app = spawn_app_with(|s| s.signing_key_file = Some(test_key("rsa2048.pem"))).await;
    let jwks = app.jwks().await;
    let rsa = jwks
        .keys
        .iter()
        .find(|k| serde_json::to_value(k).expect("JSON")["alg"] == "RS256")
        .expect("an RS256 key");
    // Something signed with the file's key (by jsonwebtoken, from the PEM) verifies with the
    // published key, so it is that key.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = rsa.common.key_id.clone();
    let pem = std::fs::read(test_key("rsa2048.pem")).expect("the key");
    let claims = json!({"iss": app.address, "aud": app.address, "sub": "1", "exp": shared::clock::now() + 60});
    let signed = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(&pem).expect("PEM"),
    )
    .expect("sign");
    assert!(verifies_with(&signed, rsa, &app.address));
    // Access tokens are still ES256, with a generated key.
    let token = app.admin_token().await;
    assert_eq!(header_of(&token)["alg"], "ES256");
    assert!(verifies_with(
        &token,
        jwks.find(&kid_of(&token)).expect("published"),
        &app.address
    ));
}

#[actix_rt::test]
async fn a_bad_signing_key_file_stops_start_up_with_a_message_that_does_not_show_the_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sec1 = dir.path().join("sec1.pem");
    std::fs::write(
        &sec1,
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBSECRETSECRETSECRET\n-----END EC PRIVATE KEY-----\n",
    )
    .expect("write");
    let cases = [
        (test_key("rsa1024.pem"), "RSA key of 2048 bits or more"),
        (test_key("p384.pem"), "P-256"),
        (sec1, "PKCS#8"),
        (dir.path().join("missing.pem"), "No such file"),
    ];
    for (file, reason) in cases {
        let path = file.to_str().expect("UTF-8").to_owned();
        let output = run_to_exit(
            dir.path(),
            &[("SIGNING_KEY_FILE", path.as_str())],
            &[
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--database",
                "bad.sqlite3",
            ],
        );
        assert!(!output.status.success(), "{path}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("SIGNING_KEY_FILE") && stderr.contains(&path),
            "{stderr}"
        );
        assert!(stderr.contains(reason), "{path}: {stderr}");
        let body = std::fs::read_to_string(&file).unwrap_or_default();
        for line in body.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!stderr.contains(line), "the key is shown: {stderr}");
        }
    }
}

#[actix_rt::test]
async fn tokens_signed_with_alg_none_hs256_or_an_unknown_kid_are_refused() {
    let app = spawn_app_with(eager).await;
    let token = app.admin_token().await;
    let kid = kid_of(&token);
    let claims = token.split('.').nth(1).expect("claims");
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"));

    let none = format!(
        "{}.{claims}.",
        encode(&json!({"alg": "none", "typ": "at+jwt", "kid": kid}))
    );
    // HS256 keyed with the published public key: the algorithm-confusion attack.
    let claims_json: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("JSON");
    let jwks = app.jwks().await;
    let public = serde_json::to_vec(jwks.find(&kid).expect("published")).expect("JSON");
    let mut hs = Header::new(Algorithm::HS256);
    hs.typ = Some("at+jwt".to_owned());
    hs.kid = Some(kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs,
        &claims_json,
        &EncodingKey::from_secret(&public).expect("key"),
    )
    .expect("sign");
    // The genuine signature under a header naming a kid nobody published.
    let signature = token.rsplit('.').next().expect("signature");
    let unknown = format!(
        "{}.{claims}.{signature}",
        encode(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "unknown"}))
    );
    for (name, bad) in [("none", none), ("hs256", hs256), ("unknown kid", unknown)] {
        let response = app.user_details(&bad).await;
        assert!(
            www_authenticate(&response).contains("invalid_token"),
            "{name}"
        );
        json_body(response, StatusCode::UNAUTHORIZED).await;
    }
    json_body(app.user_details(&token).await, StatusCode::OK).await;
}
