//! Signing and verification with an in-memory key set; rotation and reload against a database
//! are in `tokens::tests`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use super::{Claims, JwtKeys, SigningAlg};

const ISSUER: &str = "http://127.0.0.1:8005";

fn claims() -> Claims {
    let now = crate::clock::now();
    Claims {
        iss: ISSUER.to_owned(),
        sub: "1".to_owned(),
        aud: ISSUER.to_owned(),
        client_id: "client".to_owned(),
        scope: "read write".to_owned(),
        iat: now,
        exp: now + 60,
        jti: "jti".to_owned(),
    }
}

fn keys() -> JwtKeys {
    JwtKeys::ephemeral(ISSUER).expect("keys")
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON")
}

/// `token`'s header replaced by `header`, its signature kept (or dropped).
fn with_header(token: &str, header: &Value, signature: Option<&str>) -> String {
    let mut parts = token.split('.');
    let _ = parts.next();
    let claims = parts.next().expect("claims");
    let original = parts.next().expect("signature");
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).expect("JSON"));
    format!("{header}.{claims}.{}", signature.unwrap_or(original))
}

#[test]
fn only_a_token_typed_at_jwt_is_an_access_token() {
    let keys = keys();
    let ours = keys.encode(&claims()).expect("encode");
    assert!(keys.decode(&ours).is_some());
    // RFC 9068 §4 names both forms; media types compare case-insensitively.
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        let token = keys.sign(typ, &claims(), SigningAlg::Es256).expect("sign");
        assert!(keys.decode(&token).is_some(), "{typ}");
    }
    for typ in ["JWT", "jwt", "id_token+jwt", "at+jwt "] {
        let token = keys.sign(typ, &claims(), SigningAlg::Es256).expect("sign");
        assert!(keys.decode(&token).is_none(), "{typ:?}");
        assert!(keys.decode_any_age(&token).is_none(), "{typ:?}");
    }
}

#[test]
fn a_signed_token_names_a_published_key_that_verifies_it_independently() {
    let keys = keys();
    for alg in SigningAlg::ALL {
        let token = keys.sign("JWT", &claims(), alg).expect("sign");
        let header = header_of(&token);
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["typ"], "JWT");
        let kid = header["kid"].as_str().expect("a kid");
        let jwks = keys.jwks();
        let jwk = jwks.find(kid).expect("the kid is published");
        let mut validation = Validation::new(alg.algorithm());
        validation.set_audience(&[ISSUER]);
        let data = jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_jwk(jwk).expect("a usable JWK"),
            &validation,
        )
        .expect("verifies with the published key");
        assert_eq!(data.claims.sub, "1");
    }
    // RS256 was made on first use; ES256 is still the active one for access tokens.
    assert_eq!(keys.jwks().keys.len(), 2);
}

#[test]
fn tokens_with_alg_none_hs256_an_unknown_or_no_kid_or_a_bad_signature_are_refused() {
    let keys = keys();
    let token = keys.encode(&claims()).expect("encode");
    let header = header_of(&token);
    let kid = header["kid"].as_str().expect("a kid").to_owned();

    // alg none, without a signature.
    let none = with_header(
        &token,
        &json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
        Some(""),
    );
    // HS256 keyed with the public key's published form (the classic confusion attack).
    let public = serde_json::to_vec(keys.jwks().find(&kid).expect("published")).expect("JSON");
    let mut hs = Header::new(Algorithm::HS256);
    hs.typ = Some("at+jwt".to_owned());
    hs.kid = Some(kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs,
        &claims(),
        &EncodingKey::from_secret(&public).expect("a key"),
    )
    .expect("sign");
    // The right signature under a header naming another alg of ours, or another kid.
    let rs = with_header(
        &token,
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}),
        None,
    );
    let unknown = with_header(
        &token,
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": "nope"}),
        None,
    );
    let no_kid = with_header(&token, &json!({"alg": "ES256", "typ": "at+jwt"}), None);
    // Another key's signature under our kid.
    let other = JwtKeys::ephemeral(ISSUER)
        .expect("other keys")
        .encode(&claims())
        .expect("sign");
    let forged = format!(
        "{}.{}",
        token.rsplit_once('.').expect("a JWT").0,
        other.rsplit_once('.').expect("a JWT").1
    );
    for (name, bad) in [
        ("none", none),
        ("hs256", hs256),
        ("rs256 header", rs),
        ("unknown kid", unknown),
        ("no kid", no_kid),
        ("forged", forged),
    ] {
        assert!(keys.decode(&bad).is_none(), "{name}");
        assert!(keys.decode_any_age(&bad).is_none(), "{name}");
    }
    assert!(
        keys.decode(&token).is_some(),
        "the genuine token still works"
    );
}

#[test]
fn an_expired_token_is_refused_but_still_recognised_for_revocation() {
    let keys = keys();
    let mut old = claims();
    old.exp = crate::clock::now() - 1;
    let token = keys.encode(&old).expect("encode");
    assert!(keys.decode(&token).is_none());
    assert!(keys.decode_any_age(&token).is_some());
}
