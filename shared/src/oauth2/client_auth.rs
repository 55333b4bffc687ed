//! Client authentication at the token endpoints (RFC 6749 §2.3): the credentials a request
//! carries ([`super::credentials`]) checked against the registered application. A public
//! client names itself with `client_id`; any failure is the same 401 `invalid_client`.

use actix_web::HttpRequest;

use super::credentials::{ClientCredentials, credentials};
use super::error::OAuth2Error;
use super::form::Params;
use crate::oauth2::provider::Provider;
use crate::security::secret::Secret;
use crate::storage::applications::{self, Application, GrantType};
use crate::storage::db::StorageError;

/// A request about one token (RFC 7009 §2.1, RFC 7662 §2.1): its `token`, and the client
/// that sent it, authenticated. `token_type_hint` is checked for form only: it could only
/// speed up a lookup, and both kinds are always searched.
pub async fn token_request(
    req: &HttpRequest,
    body: &[u8],
    provider: &Provider,
) -> Result<(Secret, Application), OAuth2Error> {
    let params = Params::from_request(req, body)?;
    let token = params.required_secret("token")?;
    params.optional("token_type_hint")?;
    let client = credentials(req, &params)?;
    Ok((token, authenticate(provider, client).await?))
}

/// Looks the client up and checks its secret, outside any transaction: a secret in one of
/// Django's slow formats is checked like a password (within the hash limit, on the blocking
/// pool), then stored again in the fast format so the cost is paid once.
pub async fn authenticate(
    provider: &Provider,
    creds: ClientCredentials,
) -> Result<Application, OAuth2Error> {
    let ClientCredentials { client_id, secret } = creds;
    let found = provider
        .db
        .run(move |conn| Ok::<_, OAuth2Error>(applications::find_by_client_id(conn, &client_id)?))
        .await?;
    let Some(mut app) = found else {
        if let Some(secret) = &secret {
            applications::verify_against_dummy(secret);
        }
        return Err(OAuth2Error::invalid_client());
    };
    if !app.is_confidential() {
        return Ok(app);
    }
    let secret = secret.ok_or_else(OAuth2Error::invalid_client)?;
    if !app.has_slow_secret() {
        return if app.verify_secret(&secret) {
            Ok(app)
        } else {
            Err(OAuth2Error::invalid_client())
        };
    }
    let checked = app.clone();
    let (ok, secret) = provider
        .hasher
        .run(move || (checked.verify_secret(&secret), secret))
        .await?;
    if !ok {
        return Err(OAuth2Error::invalid_client());
    }
    let new = applications::hash_secret(&secret);
    if let Some(old) = app.client_secret_hash.replace(new.clone()) {
        let id = app.id;
        let upgraded = provider
            .db
            .write(move |conn| {
                Ok::<_, StorageError>(applications::replace_secret_hash(conn, id, &old, &new)?)
            })
            .await;
        // The client is authenticated either way; the next check retries the upgrade.
        if let Err(e) = upgraded {
            log::warn!("could not store client {id}'s secret in the fast format: {e}");
        }
    }
    Ok(app)
}

/// Refuses a grant the client is not registered for.
pub fn require_grant(app: &Application, grant: GrantType) -> Result<(), OAuth2Error> {
    if app.allows_grant(grant) {
        Ok(())
    } else {
        Err(OAuth2Error::unauthorized_client(
            "This client is not allowed to use this grant type.",
        ))
    }
}
