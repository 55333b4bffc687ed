//! ID tokens (OpenID Connect Core §2, §3.1.3.6) and the user claims they share with the
//! userinfo endpoint (§5.1, §5.4): `sub` always, the name claims with `profile`, `email` and
//! `email_verified` with `email`.

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::now;
use crate::oauth2::provider::Provider;
use crate::security::scope::{self, Scope};
use crate::security::secret::Secret;
use crate::storage::applications::{self, Application};
use crate::storage::codes::StoredCode;
use crate::storage::tokens::{SigningAlg, keys};
use crate::storage::users::User;

/// The `typ` header of ID tokens (RFC 8725 §3.11 asks for explicit typing; an ID token
/// has no media type of its own, so the generic one).
const ID_TOKEN_TYP: &str = "JWT";

/// How long an ID token is valid: it proves a login to the client once, it is not a session.
pub const ID_TOKEN_TTL: i64 = 3600;

/// The claims about the user a scope grants (OpenID Connect Core §5.4).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserClaims {
    /// The user's id, as a string.
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Fake Social Site never verifies addresses, so this is always false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

impl UserClaims {
    pub fn of(user: &User, scope: &Scope) -> Self {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let profile = scope.contains(scope::PROFILE);
        let email = scope
            .contains(scope::EMAIL)
            .then(|| text(&user.email))
            .flatten();
        let full_name = format!("{} {}", user.first_name, user.last_name);
        UserClaims {
            sub: user.id.to_string(),
            name: profile.then(|| text(full_name.trim())).flatten(),
            given_name: profile.then(|| text(&user.first_name)).flatten(),
            family_name: profile.then(|| text(&user.last_name)).flatten(),
            preferred_username: profile.then(|| user.username.clone()),
            email_verified: email.as_ref().map(|_| false),
            email,
        }
    }
}

/// The claims every claim list names, for the discovery document.
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "email",
    "email_verified",
];

#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    #[serde(flatten)]
    user: UserClaims,
}

/// Signs the ID token for a redeemed code, bound to the access token issued with it.
pub fn issue(
    provider: &Provider,
    app: &Application,
    user: &User,
    scope: &Scope,
    code: &StoredCode,
    access_token: &Secret,
) -> Result<String, jsonwebtoken::errors::Error> {
    let keys = provider.tokens.keys();
    let now = now();
    let claims = IdTokenClaims {
        iss: keys.issuer(),
        aud: &app.client_id,
        azp: &app.client_id,
        exp: now + ID_TOKEN_TTL,
        iat: now,
        auth_time: code.granted.auth_time,
        nonce: code.granted.nonce.as_deref(),
        at_hash: at_hash(access_token.expose()),
        user: UserClaims::of(user, scope),
    };
    // The column only holds ES256 or RS256 (a CHECK constraint); ES256 is the default.
    let alg = app.id_token_alg.parse().unwrap_or(SigningAlg::Es256);
    keys.sign(ID_TOKEN_TYP, &claims, alg)
}

/// Makes sure each algorithm a registered client's ID tokens use has a published key.
/// Keys are otherwise made at their first signature, after a relying party may already have
/// fetched the JWKS: one that only does RS256 would then meet a `kid` it never saw. Cheap
/// when the keys exist; an RSA key is made once, on the first start after such a client is
/// registered (or by `createapplication --id-token-alg RS256`).
pub fn publish_client_keys(provider: &Provider) -> anyhow::Result<()> {
    let mut conn = provider.db.get()?;
    let mut made = false;
    for alg in applications::id_token_algs_in_use(&mut conn)? {
        let alg: SigningAlg = alg.parse().map_err(anyhow::Error::msg)?;
        if !keys::active_algs(&mut conn)?.contains(&alg) {
            keys::ensure_active(&mut conn, alg)?;
            made = true;
        }
    }
    if made {
        provider.tokens.keys().reload(&mut conn)?;
    }
    Ok(())
}

/// OpenID Connect Core §3.1.3.6: the base64url left half of the access token's hash, with the
/// hash of the ID token's algorithm (SHA-256 for ES256 and RS256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_sha256_in_base64url() {
        // OpenID Connect Core, Appendix A.3 (the access token of the example, RS256).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
