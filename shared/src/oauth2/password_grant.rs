//! The resource owner password credentials grant (RFC 6749 §4.3; legacy per RFC 9700, kept
//! because the original demo is built on it).

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::web;

use super::client_auth::{authenticate, require_grant};
use super::credentials::ClientCredentials;
use super::error::OAuth2Error;
use super::form::Params;
use super::response::TokenResponse;
use crate::oauth2::provider::Provider;
use crate::security::password::Verified;
use crate::security::scope::Scope;
use crate::security::secret::Secret;
use crate::storage::applications::GrantType;
use crate::storage::db::StorageError;
use crate::storage::throttle::Refused;
use crate::storage::users::{self, User};

/// Django's limit; longer names cannot exist, so they need no lookup.
const MAX_USERNAME: usize = 150;
/// bcrypt reads 72 bytes; anything far beyond is not a password but an attack on the hasher.
const MAX_PASSWORD: usize = 1024;

const INVALID_CREDENTIALS: &str = "Invalid credentials given.";

pub async fn grant(
    provider: web::Data<Provider>,
    client: ClientCredentials,
    params: &Params,
    address: Option<IpAddr>,
) -> Result<TokenResponse, OAuth2Error> {
    let username = params.required("username")?.to_owned();
    let password = params.required_secret("password")?;
    let scope = params.scope()?.unwrap_or_else(Scope::all);
    if username.len() > MAX_USERNAME || password.expose().len() > MAX_PASSWORD {
        return Err(OAuth2Error::invalid_grant(INVALID_CREDENTIALS));
    }
    let app = authenticate(&provider, client).await?;
    require_grant(&app, GrantType::Password)?;
    let (user, rehash) = check_credentials(&provider, username, password, address).await?;
    let tokens = provider.tokens.clone();
    let recorded = provider
        .db
        .write(move |conn| {
            if let Some(hash) = rehash {
                users::set_password(conn, user.id, &hash)?;
            }
            Ok::<_, OAuth2Error>(tokens.record(conn, user.id, &app, &scope, None)?)
        })
        .await?;
    Ok(recorded.sign()?.into())
}

/// Checks a username and password behind the login throttle: the password grant and the
/// provider's login page both log users in through here. Returns the active user and, when
/// the stored hash is in an old format, its replacement for the caller to store.
/// `invalid_grant` for wrong credentials (an unknown user costs what a wrong password does),
/// 429 `temporarily_unavailable` with `Retry-After` while throttled, 503
/// `temporarily_unavailable` when the throttle's store fails.
pub async fn check_credentials(
    provider: &Provider,
    username: String,
    password: Secret,
    address: Option<IpAddr>,
) -> Result<(User, Option<String>), OAuth2Error> {
    // A name no user can have (too long, or holding a NUL, which no database text holds)
    // needs no lookup and no hash, and tells nothing about who exists.
    if username.len() > MAX_USERNAME
        || password.expose().len() > MAX_PASSWORD
        || !crate::storage::db::storable(&username)
    {
        return Err(OAuth2Error::invalid_grant(INVALID_CREDENTIALS));
    }
    // Before any password hashing: a throttled attempt costs the server nothing, and an
    // admitted one counts as a failure until the password is known to be right.
    let attempt = provider
        .throttle
        .admit(&username, address)
        .await
        .map_err(refused)?;
    let user = provider
        .db
        .run(move |conn| Ok::<_, OAuth2Error>(users::find_by_username(conn, &username)?))
        .await?;
    // An unknown user is verified against a dummy hash: same time as a wrong password.
    let stored = user.as_ref().map(|u| u.password.clone());
    let verified = provider.hasher.verify(password, stored).await?;
    match (verified, user) {
        (Verified::Yes { rehash }, Some(user)) if user.is_active => {
            provider
                .throttle
                .succeeded(attempt)
                .await
                .map_err(throttle_unavailable)?;
            Ok((user, rehash))
        }
        _ => {
            provider.throttle.failed(attempt);
            Err(OAuth2Error::invalid_grant(INVALID_CREDENTIALS))
        }
    }
}

fn refused(refused: Refused) -> OAuth2Error {
    match refused {
        Refused::Locked(wait) => too_many_attempts(wait),
        Refused::Storage(e) => throttle_unavailable(e),
    }
}

/// The throttle's counts could not be read or written (whatever the fault, even a query
/// error): the attempt can be neither admitted nor settled, so the client is told to retry,
/// as for the database being down, and no guess goes uncounted.
fn throttle_unavailable(e: StorageError) -> OAuth2Error {
    e.log();
    OAuth2Error::temporarily_unavailable().with_retry_after(1)
}

/// 429 with `Retry-After`: too many failed attempts for this username or address.
fn too_many_attempts(wait: std::time::Duration) -> OAuth2Error {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    OAuth2Error::new(
        "temporarily_unavailable",
        "Too many failed login attempts; retry later.",
        StatusCode::TOO_MANY_REQUESTS,
    )
    .with_retry_after(seconds.max(1))
}
