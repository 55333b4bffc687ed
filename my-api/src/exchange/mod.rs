//! The token exchange: a social provider's access token in, a My API token out.
//!
//! One core ([`Exchanger::exchange`]) behind three front doors: the original
//! `/users/register-by-token/<backend>/` route ([`register`]), RFC 8693 token exchange and
//! drf-social-oauth2's `convert_token` grant on `/o/token/` ([`grants`]). The core fetches
//! the profile (nothing is written if that fails), then in one immediate transaction finds or
//! creates the local user and its link, replaces the user's previous tokens for the
//! application, and issues new ones.

pub mod accounts;
pub mod grants;
pub mod register;

use shared::applications::Application;
use shared::db::StorageError;
use shared::provider::Provider;
use shared::scope::Scope;
use shared::secret::Secret;
use shared::tokens::{IssuedTokens, TokenError};
use thiserror::Error;

use crate::social::{Backends, ExchangeParams, ProviderClient, SocialError};

#[derive(Debug, Error)]
pub enum ExchangeError {
    #[error("unknown social backend")]
    UnknownBackend,
    #[error("social provider: {0}")]
    Social(#[from] SocialError),
    #[error("the account is inactive")]
    Inactive,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl From<diesel::result::Error> for ExchangeError {
    fn from(e: diesel::result::Error) -> Self {
        ExchangeError::Storage(e.into())
    }
}

/// What the exchange needs besides the provider state: the social client and backends.
#[derive(Debug)]
pub struct Exchanger {
    client: ProviderClient,
    backends: Backends,
    /// The application the register route issues tokens for (the original's `my-api-app`).
    pub application_name: String,
}

impl Exchanger {
    pub fn new(client: ProviderClient, backends: Backends, application_name: String) -> Self {
        Exchanger {
            client,
            backends,
            application_name,
        }
    }

    pub fn has_backend(&self, name: &str) -> bool {
        self.backends.get(name).is_some()
    }

    pub async fn exchange(
        &self,
        provider: &Provider,
        backend: &str,
        token: &Secret,
        params: &ExchangeParams,
        app: Application,
        scope: Scope,
    ) -> Result<IssuedTokens, ExchangeError> {
        let social = self
            .backends
            .get(backend)
            .ok_or(ExchangeError::UnknownBackend)?;
        let profile = social.fetch_profile(&self.client, token, params).await?;
        let backend = social.name();
        let tokens = provider.tokens.clone();
        provider
            .db
            .run(move |conn| {
                conn.immediate_transaction(|conn| {
                    let user = accounts::user_for_profile(conn, backend, &profile)?;
                    if !user.is_active {
                        return Err(ExchangeError::Inactive);
                    }
                    // The original replaced the user's previous token for the application.
                    shared::tokens::revoke_user_application(conn, user.id, app.id)?;
                    Ok(tokens.issue(conn, user.id, &app, &scope, None)?)
                })
            })
            .await
    }
}
