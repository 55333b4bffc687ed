//! The checks of an ID token (OpenID Connect Core §3.1.3.7) once its key is known: the
//! signature, `iss` exactly, `aud` holding an accepted client id (and, with several
//! audiences, `azp` present and accepted), `exp`, `nbf` and `iat` within the leeway, the
//! `nonce` when the caller sent one, and `at_hash` when an access token came with it. What
//! passes becomes the [`SocialProfile`] of `sub`.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};
use shared::security::secret::Secret;

use super::config::BackendConfig;
use crate::social::{SocialError, SocialProfile};

/// What the caller sent besides the ID token.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected<'a> {
    pub nonce: Option<&'a str>,
    pub access_token: Option<&'a Secret>,
}

/// `aud` is an array of strings or one string (whose value jsonwebtoken has checked).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    Many(Vec<String>),
    One(serde::de::IgnoredAny),
}

/// The claims read here; jsonwebtoken has checked `iss`, `aud`, `exp` and `nbf` already.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    aud: Audience,
    #[serde(default)]
    azp: Option<String>,
    iat: Option<i64>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    at_hash: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn refused(reason: &str) -> SocialError {
    SocialError::InvalidIdToken(reason.to_owned())
}

/// Checks `token`, signed with `alg` (already on the backend's list and fitting `key`).
pub fn verify(
    token: &str,
    alg: Algorithm,
    key: &DecodingKey,
    config: &BackendConfig,
    expected: Expected<'_>,
) -> Result<SocialProfile, SocialError> {
    let mut validation = Validation::new(alg);
    validation.leeway = config.leeway_seconds;
    validation.validate_nbf = true;
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&config.client_ids);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map_err(|e| refused(reason(e.kind())))?
        .claims;
    let now = shared::clock::now();
    let iat = claims
        .iat
        .ok_or_else(|| refused("the iat claim is missing"))?;
    if iat > now + config.leeway_seconds as i64 {
        return Err(refused("the token is issued in the future (iat)"));
    }
    if let Audience::Many(audiences) = &claims.aud
        && audiences.len() > 1
    {
        // Several audiences: the party the token was issued to must be one of ours.
        let accepted = claims
            .azp
            .as_ref()
            .is_some_and(|azp| config.client_ids.contains(azp));
        if !accepted {
            return Err(refused(
                "a token with several audiences needs an accepted azp",
            ));
        }
    }
    if let Some(nonce) = expected.nonce
        && claims.nonce.as_deref() != Some(nonce)
    {
        return Err(refused("the nonce does not match"));
    }
    if let (Some(access_token), Some(at_hash)) = (expected.access_token, &claims.at_hash)
        && access_token_hash(alg, access_token.expose()) != *at_hash
    {
        return Err(refused("the access token does not match the at_hash"));
    }
    if claims.sub.is_empty() {
        return Err(refused("the sub claim is empty"));
    }
    let text = |name: &str| {
        claims
            .rest
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(SocialProfile {
        username: text(&config.username_claim),
        first_name: text("given_name"),
        last_name: text("family_name"),
        email: text("email"),
        uid: claims.sub,
    })
}

/// What failed, for the error description: never the token or a claim's value.
fn reason(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::InvalidSignature => "the signature does not verify",
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
        ErrorKind::InvalidIssuer => "the issuer (iss) is not the configured one",
        ErrorKind::InvalidAudience => "the audience (aud) holds no accepted client id",
        ErrorKind::InvalidAlgorithm => "the algorithm is not allowed for this backend",
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "the exp claim is missing",
            "iss" => "the iss claim is missing",
            "aud" => "the aud claim is missing",
            _ => "the sub claim is missing",
        },
        _ => "the token is malformed",
    }
}

/// OpenID Connect Core §3.1.3.6: the base64url left half of the access token's hash, with the
/// hash of the ID token's algorithm.
pub fn access_token_hash(alg: Algorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        Algorithm::ES384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::HS384 => {
            Sha384::digest(access_token).to_vec()
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 | Algorithm::EdDSA => {
            Sha512::digest(access_token).to_vec()
        }
        _ => Sha256::digest(access_token).to_vec(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        // OpenID Connect Core, Appendix A.3 (the access token of the example, RS256), and
        // what Fake Social Site signs.
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(
            access_token_hash(Algorithm::RS256, token),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(
            access_token_hash(Algorithm::ES256, token),
            shared::oauth2::id_token::at_hash(token)
        );
        assert_eq!(access_token_hash(Algorithm::ES384, token).len(), 32);
    }
}
