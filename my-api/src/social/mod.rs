//! Social backends: how My API learns who owns a social provider's access token.
//!
//! This module owns the [`SocialBackend`] trait, the [`Backends`] registry that maps a
//! backend's URL name to its implementation, the [`SocialError`] every backend returns, and
//! the typed HTTP client ([`ProviderClient`]) the backends share.
//!
//! To add a backend, write one new file here with a type implementing [`SocialBackend`],
//! declare it with a `pub mod` line below, and register it with one line in
//! [`Backends::standard`]. Nothing else names the backends. OpenID Connect providers need no
//! code: they are declared in the backends file and verified by [`oidc`].

mod audience;
pub mod client;
pub mod fake_social_site;
pub mod fake_social_site_with_params;
pub mod identities;
pub mod oidc;
mod profile;
#[cfg(test)]
mod tests;

use actix_web::http::StatusCode;
use futures_util::future::BoxFuture;
use shared::profile::Profile;
use shared::security::secret::Secret;

pub use audience::AudienceCheck;
pub use client::{ClientBuildError, ProviderClient, ProviderClientConfig};
pub use oidc::OidcBackend;
pub use profile::SocialProfile;

/// Extra parameters taken from the exchange request and handed to the backend, as the
/// original passed `username` to `do_auth` for the provider that needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExchangeParams {
    pub username: Option<String>,
    /// The `nonce` the caller put in its authentication request: an ID token must carry it.
    pub nonce: Option<String>,
}

/// One social provider's way of turning an access token into its owner's profile.
pub trait SocialBackend: Send + Sync + std::fmt::Debug {
    /// The backend's name in URLs and in stored social links, e.g. "fake_social_site".
    fn name(&self) -> &'static str;

    /// The request parameters this backend needs besides `access_token` (see
    /// [`ExchangeParams`]); the OpenAPI document lists them as required.
    fn required_parameters(&self) -> &'static [&'static str] {
        &[]
    }

    /// Fetches the profile of the token's owner.
    fn fetch_profile<'a>(
        &'a self,
        client: &'a ProviderClient,
        access_token: &'a Secret,
        params: &'a ExchangeParams,
    ) -> BoxFuture<'a, Result<Profile, SocialError>>;
}

/// The backends My API accepts, looked up by name: the code backends (access tokens,
/// checked by the provider) and the configured OpenID Connect ones (ID tokens).
#[derive(Debug)]
pub struct Backends {
    backends: Vec<Box<dyn SocialBackend>>,
    oidc: Vec<OidcBackend>,
}

impl Backends {
    /// A registry of exactly these backends. Names must be unique: the name is the key of
    /// stored social links, so two backends sharing one would mix up identities.
    pub fn new(backends: Vec<Box<dyn SocialBackend>>) -> Self {
        debug_assert!(
            backends
                .iter()
                .enumerate()
                .all(|(i, b)| backends[..i].iter().all(|other| other.name() != b.name())),
            "social backend names must be unique"
        );
        Backends {
            backends,
            oidc: Vec::new(),
        }
    }

    /// Every backend the product ships.
    pub fn standard() -> Self {
        Backends::new(vec![
            Box::new(fake_social_site::FakeSocialSite),
            Box::new(fake_social_site_with_params::FakeSocialSiteWithParams),
        ])
    }

    /// These backends plus the configured OpenID Connect ones (whose names the backends
    /// file has checked against the code backends' and each other's).
    pub fn with_oidc(mut self, oidc: Vec<OidcBackend>) -> Self {
        debug_assert!(
            oidc.iter().all(|o| self.get(o.name()).is_none()),
            "social backend names must be unique"
        );
        self.oidc = oidc;
        self
    }

    /// The code backend registered under `name`, if any.
    pub fn get(&self, name: &str) -> Option<&dyn SocialBackend> {
        self.backends
            .iter()
            .find(|backend| backend.name() == name)
            .map(|backend| backend.as_ref())
    }

    /// The OpenID Connect backend configured under `name`, if any.
    pub fn oidc(&self, name: &str) -> Option<&OidcBackend> {
        self.oidc.iter().find(|backend| backend.name() == name)
    }

    /// Whether any backend has this name.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some() || self.oidc(name).is_some()
    }

    /// The code backends, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn SocialBackend> {
        self.backends.iter().map(|backend| backend.as_ref())
    }

    /// The configured OpenID Connect backends, in the file's order.
    pub fn oidc_backends(&self) -> impl Iterator<Item = &OidcBackend> {
        self.oidc.iter()
    }

    /// The code backends' names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.backends.iter().map(|backend| backend.name())
    }
}

/// Why a token could not be turned into a profile. No variant ever holds the token.
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    /// The provider refused the token (401/403), or the token's owner is not the user asked
    /// for (404): either way the token buys nothing.
    #[error("the social provider rejected the access token")]
    Rejected,
    #[error("the social provider is unreachable: {0}")]
    Unreachable(String),
    #[error("the social provider did not answer in time")]
    Timeout,
    #[error("the social provider gave an unusable answer: {0}")]
    BadResponse(String),
    /// A parameter the backend needs is absent, empty, or cannot be sent as given.
    #[error("missing or invalid parameter `{0}`")]
    MissingParameter(&'static str),
    /// An ID token failed a check; the reason names the check, never the token.
    #[error("the ID token is refused: {0}")]
    InvalidIdToken(String),
    /// The caller sent the kind of token the backend does not take (an ID token to a backend
    /// that introspects access tokens, or the reverse); the text says which it takes.
    #[error("{0}")]
    WrongTokenType(String),
}

impl SocialError {
    /// The HTTP status My API answers with: the client's fault is 4xx, the provider's 5xx.
    pub fn status(&self) -> StatusCode {
        match self {
            SocialError::Rejected | SocialError::InvalidIdToken(_) => StatusCode::UNAUTHORIZED,
            SocialError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
            SocialError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            SocialError::BadResponse(_) => StatusCode::BAD_GATEWAY,
            SocialError::MissingParameter(_) | SocialError::WrongTokenType(_) => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    /// A stable machine-readable code for the JSON `error` field; clients match on these.
    pub fn code(&self) -> &'static str {
        match self {
            SocialError::Rejected | SocialError::InvalidIdToken(_) => "unsuccessful_token_exchange",
            SocialError::Unreachable(_) => "social_provider_unavailable",
            SocialError::Timeout => "social_provider_timeout",
            SocialError::BadResponse(_) => "social_provider_bad_response",
            SocialError::MissingParameter(_) | SocialError::WrongTokenType(_) => "invalid_request",
        }
    }
}
