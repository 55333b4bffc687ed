//! The authorization code grant at `/o/token/` (RFC 6749 §4.1.3, RFC 7636 §4.6), registered
//! as an extension grant by the service that serves the authorization endpoint. The code
//! must be this client's, unexpired, unused, sent with the same redirect URI and the PKCE
//! verifier of its challenge. A second use of a code is `invalid_grant` and revokes every
//! token issued from it (§4.1.2). With `openid` in the scope the answer carries an ID token.

use actix_web::web;
use futures_util::future::LocalBoxFuture;

use super::client_auth::{authenticate, require_grant};
use super::credentials::ClientCredentials;
use super::error::OAuth2Error;
use super::form::Params;
use super::id_token;
use super::pkce;
use super::provider::{ExtensionGrant, Provider};
use super::response::TokenResponse;
use crate::clock::now;
use crate::security::scope::{self, Scope};
use crate::security::secret::Secret;
use crate::storage::applications::{Application, GrantType};
use crate::storage::codes::{self, StoredCode};
use crate::storage::db::Connection;
use crate::storage::tokens::{RecordedTokens, TokenError, TokenService, revoke_family};
use crate::storage::users::{self, User};

#[derive(Debug, Default)]
pub struct AuthorizationCodeGrant;

enum Outcome {
    Issued(Box<(RecordedTokens, User, StoredCode)>),
    /// Unknown, expired, another client's, or a check failed.
    Refused(&'static str),
    /// Used before: what was issued from it is revoked now.
    Replayed,
}

impl ExtensionGrant for AuthorizationCodeGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::AuthorizationCode
    }

    fn handle<'a>(
        &'a self,
        provider: web::Data<Provider>,
        client: ClientCredentials,
        params: &'a Params,
    ) -> LocalBoxFuture<'a, Result<TokenResponse, OAuth2Error>> {
        Box::pin(grant(provider, client, params))
    }
}

async fn grant(
    provider: web::Data<Provider>,
    client: ClientCredentials,
    params: &Params,
) -> Result<TokenResponse, OAuth2Error> {
    let code = params.required_secret("code")?;
    let redirect_uri = params.required("redirect_uri")?.to_owned();
    let verifier = params.required_secret("code_verifier")?;
    let app = authenticate(&provider, client).await?;
    require_grant(&app, GrantType::AuthorizationCode)?;
    let tokens = provider.tokens.clone();
    let client = app.clone();
    let outcome = provider
        .db
        .write(move |conn| {
            Ok::<_, OAuth2Error>(redeem(
                conn,
                &tokens,
                &code,
                &client,
                &redirect_uri,
                &verifier,
            )?)
        })
        .await?;
    let (recorded, user, stored) = match outcome {
        Outcome::Issued(issued) => *issued,
        Outcome::Refused(why) => return Err(OAuth2Error::invalid_grant(why)),
        Outcome::Replayed => {
            // Tokens validated a moment ago must not outlive their revocation.
            provider.token_cache.invalidate_all();
            log::warn!("authorization code reuse detected; tokens issued from it revoked");
            return Err(OAuth2Error::invalid_grant(
                "The authorization code was already used.",
            ));
        }
    };
    // Signed now, outside the write transaction (see `RecordedTokens`).
    let issued = recorded.sign()?;
    let scope = Scope::parse(&stored.granted.scope).unwrap_or_else(Scope::all);
    let id_token = if scope.contains(scope::OPENID) {
        let token = id_token::issue(
            &provider,
            &app,
            &user,
            &scope,
            &stored,
            &issued.access_token,
        )
        .map_err(|e| OAuth2Error::from(TokenError::Signing(e)))?;
        Some(token)
    } else {
        None
    };
    Ok(TokenResponse::from(issued).with_id_token(id_token))
}

/// Checks and redeems a code in one write transaction.
fn redeem(
    conn: &mut Connection,
    tokens: &TokenService,
    code: &Secret,
    app: &Application,
    redirect_uri: &str,
    verifier: &Secret,
) -> Result<Outcome, TokenError> {
    const INVALID: &str = "The authorization code is invalid, expired, or was issued to another \
                           client or redirect URI.";
    let Some(stored) = codes::find(conn, code)? else {
        return Ok(Outcome::Refused(INVALID));
    };
    if stored.granted.application_id != app.id {
        return Ok(Outcome::Refused(INVALID));
    }
    if let Some(family) = &stored.family {
        revoke_family(conn, family)?;
        return Ok(Outcome::Replayed);
    }
    if stored.expires <= now() || stored.granted.redirect_uri != redirect_uri {
        return Ok(Outcome::Refused(INVALID));
    }
    if !pkce::verify(verifier.expose(), &stored.granted.code_challenge) {
        return Ok(Outcome::Refused(
            "The code_verifier does not match the code_challenge.",
        ));
    }
    let user = match users::find(conn, stored.granted.user_id)? {
        Some(user) if user.is_active => user,
        _ => return Ok(Outcome::Refused(INVALID)),
    };
    let family = uuid::Uuid::new_v4().to_string();
    if !codes::redeem(conn, code, &family)? {
        // Another redemption won between the read above and this write: a replay too, so
        // what it issued goes as above. Only concurrent writers get here (PostgreSQL's);
        // SQLite's queue, and the later one reads the code used.
        if let Some(winner) = codes::find(conn, code)?.and_then(|c| c.family) {
            revoke_family(conn, &winner)?;
            return Ok(Outcome::Replayed);
        }
        return Ok(Outcome::Refused(INVALID));
    }
    let scope = Scope::parse(&stored.granted.scope).unwrap_or_else(Scope::all);
    let recorded = tokens.record(conn, user.id, app, &scope, Some(&family))?;
    Ok(Outcome::Issued(Box::new((recorded, user, stored))))
}
