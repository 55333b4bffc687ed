//! JWT access tokens with RFC 9068 claims, signed with HS256 by the issuing service.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// RFC 9068 claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Same checks minus expiry: revocation must find expired tokens too.
    validation_any_age: Validation,
    issuer: String,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(key: &[u8], issuer: &str) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let mut validation_any_age = validation.clone();
        validation_any_age.validate_exp = false;
        validation_any_age.set_required_spec_claims(&["iss", "aud", "sub"]);
        Ok(JwtKeys {
            encoding: EncodingKey::from_secret(key)?,
            decoding: DecodingKey::from_secret(key)?,
            validation,
            validation_any_age,
            issuer: issuer.to_owned(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn encode(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// Signs any claims with the service's key, with `typ` in the header.
    pub fn sign<C: Serialize>(
        &self,
        typ: &str,
        claims: &C,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// The claims of an access token this service signed and that has not expired.
    pub fn decode(&self, token: &str) -> Option<Claims> {
        decode_access_token(token, &self.decoding, &self.validation)
    }

    /// The claims of an access token this service signed, expired or not.
    pub fn decode_any_age(&self, token: &str) -> Option<Claims> {
        decode_access_token(token, &self.decoding, &self.validation_any_age)
    }
}

/// RFC 9068 §4: a resource server must check that `typ` is `at+jwt` (or its full media type
/// `application/at+jwt`), so that another JWT signed with the same key (an ID token, say) is
/// never taken for an access token. `Validation` does not look at `typ`, so it is checked here.
/// Media types compare case-insensitively.
fn decode_access_token(token: &str, key: &DecodingKey, validation: &Validation) -> Option<Claims> {
    let data = jsonwebtoken::decode::<Claims>(token, key, validation).ok()?;
    let typ = data.header.typ.as_deref()?;
    let typ = typ
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
        .then_some(data.claims)
}

/// The `typ` header of our access tokens (RFC 9068 §2.1).
const ACCESS_TOKEN_TYP: &str = "at+jwt";

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use super::{Claims, JwtKeys};

    const KEY: &[u8] = b"a signing key of the test, 32 bytes or more";
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

    fn signed_as(typ: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = typ.map(str::to_owned);
        let key = EncodingKey::from_secret(KEY).expect("a key");
        jsonwebtoken::encode(&header, &claims(), &key).expect("sign")
    }

    #[test]
    fn only_a_token_typed_at_jwt_is_an_access_token() {
        let keys = JwtKeys::new(KEY, ISSUER).expect("keys");
        let ours = keys.encode(&claims()).expect("encode");
        assert!(keys.decode(&ours).is_some());
        // RFC 9068 §4 names both forms; media types compare case-insensitively.
        for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
            assert!(keys.decode(&signed_as(Some(typ))).is_some(), "{typ}");
        }
        for typ in [
            Some("JWT"),
            Some("jwt"),
            Some("id_token+jwt"),
            Some("at+jwt "),
            None,
        ] {
            let token = signed_as(typ);
            assert!(keys.decode(&token).is_none(), "{typ:?}");
            assert!(keys.decode_any_age(&token).is_none(), "{typ:?}");
        }
    }
}
