//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14).

use actix_web::web;

use super::client_auth::{authenticate, require_grant};
use super::credentials::ClientCredentials;
use super::error::OAuth2Error;
use super::form::Params;
use super::response::TokenResponse;
use crate::oauth2::provider::Provider;
use crate::storage::applications::GrantType;
use crate::storage::tokens::RefreshOutcome;

pub async fn grant(
    provider: web::Data<Provider>,
    client: ClientCredentials,
    params: &Params,
) -> Result<TokenResponse, OAuth2Error> {
    let presented = params.required_secret("refresh_token")?;
    let scope = params.scope()?;
    let app = authenticate(&provider, client).await?;
    require_grant(&app, GrantType::RefreshToken)?;
    let tokens = provider.tokens.clone();
    let outcome = provider
        .db
        .write(move |conn| {
            Ok::<_, OAuth2Error>(tokens.refresh(conn, &presented, &app, scope.as_ref())?)
        })
        .await?;
    // Rotation revoked the old access token; reuse, a whole family.
    provider.token_cache.invalidate_all();
    match outcome {
        RefreshOutcome::Rotated(recorded) => Ok(recorded.sign()?.into()),
        RefreshOutcome::Refused => Err(OAuth2Error::invalid_grant(
            "The refresh token is invalid, expired, revoked, or was issued to another client.",
        )),
        RefreshOutcome::ScopeTooWide => Err(OAuth2Error::invalid_scope()),
    }
}
