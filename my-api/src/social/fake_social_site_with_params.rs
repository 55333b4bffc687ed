//! Fake Social Site's backend for providers that cannot say who owns a token: the client
//! names the user, and the provider confirms the token belongs to them (else 404).

use futures_util::future::BoxFuture;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use shared::profile::Profile;
use shared::security::secret::Secret;

use super::{ExchangeParams, ProviderClient, SocialBackend, SocialError};

/// Everything but RFC 3986's unreserved characters is encoded, so a username is always
/// exactly one path segment: `/`, `?`, `#`, `%`, spaces and non-ASCII cannot escape it.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Reads the profile from `GET /user_details_by_username/{username}/`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeSocialSiteWithParams;

impl SocialBackend for FakeSocialSiteWithParams {
    fn name(&self) -> &'static str {
        "fake_social_site_with_params"
    }

    fn required_parameters(&self) -> &'static [&'static str] {
        &["username"]
    }

    fn fetch_profile<'a>(
        &'a self,
        client: &'a ProviderClient,
        access_token: &'a Secret,
        params: &'a ExchangeParams,
    ) -> BoxFuture<'a, Result<Profile, SocialError>> {
        Box::pin(async move {
            let path = profile_path(params.username.as_deref())?;
            client.get_profile(&path, access_token).await
        })
    }
}

/// The provider path for `username`, or `MissingParameter` when there is no usable one.
pub(super) fn profile_path(username: Option<&str>) -> Result<String, SocialError> {
    let username = username.unwrap_or_default();
    // `.` and `..` are unreserved, so encoding leaves them as they are, and URL parsing
    // would then resolve them (also their `%2E` forms) and ask for another path entirely.
    if matches!(username, "" | "." | "..") {
        return Err(SocialError::MissingParameter("username"));
    }
    let segment = utf8_percent_encode(username, PATH_SEGMENT);
    Ok(format!("/user_details_by_username/{segment}/"))
}
