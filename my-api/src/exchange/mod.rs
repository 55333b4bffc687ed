//! The token exchange: a social provider's access token or ID token in, a My API token out.
//!
//! One core ([`Exchanger::exchange`]) behind three front doors: the original
//! `/users/register-by-token/<backend>/` route ([`register`]), RFC 8693 token exchange and
//! drf-social-oauth2's `convert_token` grant on `/o/token/` ([`grants`]), all reading the
//! token with [`SubjectToken::from_params`]. The core identifies the token's owner (the
//! provider's profile, or a verified ID token's claims; nothing is written if that fails),
//! then in one immediate transaction finds or
//! creates the local user and its link, replaces the user's previous tokens for the
//! application, and issues new ones.

pub mod accounts;
pub mod application;
pub mod grants;
pub mod link;
pub mod register;
pub mod subject;

use actix_web::http::StatusCode;
use shared::oauth2::OAuth2Error;
use shared::oauth2::provider::Provider;
use shared::security::scope::Scope;
use shared::storage::applications::Application;
use shared::storage::db::StorageError;
use shared::storage::tokens::{IssuedTokens, TokenError};
use thiserror::Error;

use crate::social::client::observed;
use crate::social::oidc::verify::Expected;
use crate::social::{
    AudienceCheck, Backends, ExchangeParams, ProviderClient, SocialError, SocialProfile,
};
use application::NamedApplication;
pub use subject::SubjectToken;

#[derive(Debug, Error)]
pub enum ExchangeError {
    #[error("unknown social backend")]
    UnknownBackend,
    #[error("social provider: {0}")]
    Social(#[from] SocialError),
    #[error("the account is inactive")]
    Inactive,
    /// No client credentials at the provider to check tokens with.
    #[error("the token exchange is not configured")]
    NotConfigured,
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

/// The one mapping of a failed exchange to an answer (RFC 6749 §5.2, RFC 8693 §2.2.2): a
/// subject token the provider refuses is `invalid_request`; a provider fault is a 5xx with
/// its own code, logged here and nowhere else. The register route words two cases the
/// original's way and hands the rest to this.
impl From<ExchangeError> for OAuth2Error {
    fn from(e: ExchangeError) -> Self {
        match e {
            ExchangeError::UnknownBackend => {
                OAuth2Error::invalid_request("Unknown social backend.")
            }
            ExchangeError::Social(SocialError::Rejected) => OAuth2Error::invalid_request(
                "The subject token was refused by the social provider.",
            ),
            ExchangeError::Social(SocialError::MissingParameter(name)) => {
                OAuth2Error::invalid_request(format!("The {name} parameter is missing or invalid."))
            }
            ExchangeError::Social(SocialError::InvalidIdToken(reason)) => {
                OAuth2Error::invalid_request(format!("The ID token was refused: {reason}."))
            }
            ExchangeError::Social(SocialError::WrongTokenType(text)) => {
                OAuth2Error::invalid_request(text)
            }
            ExchangeError::Inactive => OAuth2Error::invalid_grant("The account is inactive."),
            ExchangeError::Social(social) => {
                log::warn!("token exchange failed: {social}");
                OAuth2Error::new(social.code(), provider_fault(&social), social.status())
            }
            ExchangeError::NotConfigured => OAuth2Error::new(
                "temporarily_unavailable",
                "The token exchange is not configured on this server.",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            ExchangeError::Storage(e) => e.into(),
            ExchangeError::Token(e) => e.into(),
        }
    }
}

/// What happened at the provider, without internals.
fn provider_fault(e: &SocialError) -> &'static str {
    match e {
        SocialError::Timeout => "The social provider did not answer in time.",
        SocialError::Unreachable(_) => "The social provider cannot be reached.",
        _ => "The social provider gave an unusable answer.",
    }
}

/// What the exchange needs besides the provider state: the social client and backends.
#[derive(Debug)]
pub struct Exchanger {
    client: ProviderClient,
    backends: Backends,
    audience: Option<AudienceCheck>,
    /// The application the register route issues tokens for (the original's `my-api-app`).
    pub application: NamedApplication,
}

impl Exchanger {
    /// Without an `audience` check every exchange is refused: accepting tokens issued to any
    /// client would let other sites log in as their users here.
    pub fn new(
        client: ProviderClient,
        backends: Backends,
        audience: Option<AudienceCheck>,
        application_name: String,
    ) -> Self {
        Exchanger {
            client,
            backends,
            audience,
            application: NamedApplication::new(application_name),
        }
    }

    pub fn has_backend(&self, name: &str) -> bool {
        self.backends.contains(name)
    }

    /// The backends, code and configured.
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// Who owns `token` at `backend`: the profile the provider vouches for, checked against
    /// the token's audience, or the claims of a verified ID token. Nothing is written; every
    /// exchange and every link starts here.
    pub async fn identify(
        &self,
        backend: &str,
        token: &SubjectToken,
        params: &ExchangeParams,
    ) -> Result<Identity, ExchangeError> {
        if let Some(oidc) = self.backends.oidc(backend) {
            let SubjectToken::Id {
                id_token,
                access_token,
            } = token
            else {
                return Err(SocialError::WrongTokenType(format!(
                    "The {backend} backend accepts ID tokens only (id_token, or \
                     subject_token_type {})",
                    subject::ID_TOKEN_TYPE
                ))
                .into());
            };
            let expected = Expected {
                nonce: params.nonce.as_deref(),
                access_token: access_token.as_ref(),
            };
            let profile = oidc.identify(&self.client, id_token, expected).await?;
            return Ok(Identity {
                backend: oidc.name(),
                profile,
            });
        }
        let social = self
            .backends
            .get(backend)
            .ok_or(ExchangeError::UnknownBackend)?;
        let SubjectToken::Access(token) = token else {
            return Err(SocialError::WrongTokenType(format!(
                "The {backend} backend accepts access tokens only."
            ))
            .into());
        };
        let audience = self.audience.as_ref().ok_or(ExchangeError::NotConfigured)?;
        // Both calls at once; a profile failure is reported first, it is the more specific.
        let name = social.name();
        let (subject, profile) = futures_util::future::join(
            observed(name, "introspect", audience.verify(&self.client, token)),
            observed(
                name,
                "profile",
                social.fetch_profile(&self.client, token, params),
            ),
        )
        .await;
        let profile = profile?;
        if subject?.is_some_and(|sub| sub != profile.id.to_string()) {
            // The profile is not the token owner's: never link it.
            return Err(SocialError::Rejected.into());
        }
        Ok(Identity {
            backend: name,
            profile: profile.into(),
        })
    }

    /// Exchanges `token` for tokens of `app`, counted in the metrics by backend and outcome.
    pub async fn exchange(
        &self,
        provider: &Provider,
        backend: &str,
        token: &SubjectToken,
        params: &ExchangeParams,
        client: Client,
        scope: Scope,
    ) -> Result<IssuedTokens, ExchangeError> {
        let result: Result<IssuedTokens, ExchangeError> = async {
            let identity = self.identify(backend, token, params).await?;
            let app = match client {
                Client::Authenticated(app) => app,
                Client::Named => self.application.get(&provider.db).await?,
            };
            issue_for(provider, identity, app, scope).await
        }
        .await;
        // Known backends only: a caller's made-up name must not become a label.
        let backend = if self.has_backend(backend) {
            backend
        } else {
            "unknown"
        };
        shared::telemetry::metrics()
            .exchanges
            .with_label_values(&[backend, outcome(&result)])
            .inc();
        result
    }
}

/// A provider's user, as a backend identified it: the backend's name and the profile.
#[derive(Debug, Clone)]
pub struct Identity {
    pub backend: &'static str,
    pub profile: SocialProfile,
}

/// Who the tokens are issued to.
#[derive(Debug)]
pub enum Client {
    /// The client the token endpoint authenticated (the exchange grants).
    Authenticated(Application),
    /// The exchanger's [`NamedApplication`] (the register route's).
    Named,
}

/// The write half of an exchange: in one write transaction, finds or creates the local
/// user linked to `identity`, replaces the user's previous tokens for `app` and issues new ones.
async fn issue_for(
    provider: &Provider,
    identity: Identity,
    app: Application,
    scope: Scope,
) -> Result<IssuedTokens, ExchangeError> {
    let Identity { backend, profile } = identity;
    let tokens = provider.tokens.clone();
    let recorded = provider
        .db
        .write_retrying(
            move |conn| {
                let user = accounts::user_for_profile(conn, backend, &profile)?;
                if !user.is_active {
                    return Err(ExchangeError::Inactive);
                }
                // The original replaced the user's previous token for the application.
                Ok(tokens.replace(conn, user.id, &app, &scope)?)
            },
            // On PostgreSQL two first logins can overlap, and the loser's insert conflicts on
            // the (backend, uid) key (or the username) and is run once more: it then re-reads
            // the link by that key and never creates a second account.
            |e| {
                matches!(e, ExchangeError::Storage(StorageError::Query(e))
                    if shared::storage::db::is_unique_violation(e))
            },
        )
        .await
        .map(|(recorded, retried)| {
            if retried {
                log::info!("a first login lost a race; read the winner's link");
            }
            recorded
        });
    if recorded.is_ok() {
        // The user's previous tokens for the application were deleted.
        provider.tokens_replaced();
    } else {
        // Nothing was written, but what was read (an account deactivated meanwhile) is
        // newer than what this process may have cached.
        provider.token_cache.invalidate_all();
    }
    // Signed outside the write transaction (see `RecordedTokens`).
    Ok(recorded?.sign()?)
}

/// The `outcome` label of an exchange.
fn outcome(result: &Result<IssuedTokens, ExchangeError>) -> &'static str {
    match result {
        Ok(_) => "issued",
        Err(ExchangeError::UnknownBackend) => "unknown_backend",
        Err(ExchangeError::Social(SocialError::Rejected | SocialError::InvalidIdToken(_))) => {
            "rejected"
        }
        Err(ExchangeError::Social(
            SocialError::MissingParameter(_) | SocialError::WrongTokenType(_),
        )) => "bad_request",
        Err(ExchangeError::Social(SocialError::Timeout)) => "provider_timeout",
        Err(ExchangeError::Social(_)) => "provider_error",
        Err(ExchangeError::Inactive) => "inactive",
        Err(ExchangeError::NotConfigured) => "not_configured",
        Err(ExchangeError::Storage(_) | ExchangeError::Token(_)) => "storage_error",
    }
}
