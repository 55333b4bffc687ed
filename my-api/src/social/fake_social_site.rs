//! Fake Social Site's standard backend: the provider tells who owns the token.

use futures_util::future::BoxFuture;
use shared::profile::Profile;
use shared::security::secret::Secret;

use super::{ExchangeParams, ProviderClient, SocialBackend, SocialError};

/// Reads the token owner's profile from `GET /user_details/`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeSocialSite;

impl SocialBackend for FakeSocialSite {
    fn name(&self) -> &'static str {
        "fake_social_site"
    }

    fn fetch_profile<'a>(
        &'a self,
        client: &'a ProviderClient,
        access_token: &'a Secret,
        _params: &'a ExchangeParams,
    ) -> BoxFuture<'a, Result<Profile, SocialError>> {
        Box::pin(client.get_profile("/user_details/", access_token))
    }
}
