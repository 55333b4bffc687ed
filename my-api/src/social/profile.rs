//! The provider's user as the exchange stores it: a uid (the provider's id, a string since
//! OpenID Connect's `sub` need not be a number) and what fills a new local account.

use shared::profile::Profile;

/// A provider's user: `uid` is the identity; the rest only seeds the local account. An
/// email is never used to find an existing account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialProfile {
    pub uid: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

impl From<Profile> for SocialProfile {
    fn from(profile: Profile) -> Self {
        SocialProfile {
            uid: profile.id.to_string(),
            username: profile.username,
            first_name: profile.first_name,
            last_name: profile.last_name,
            email: profile.email,
        }
    }
}
