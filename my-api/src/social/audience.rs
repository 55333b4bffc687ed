//! The defence against token substitution: a provider's access token is accepted only if the
//! provider says, by RFC 7662 introspection, that it is active and was issued to a client
//! My API trusts. Without it, any site where a user logs in with the provider could replay
//! that user's token here and log in as them.
//!
//! Introspection is called with My API's own confidential client at the provider. A
//! positive verdict is cached per token (by SHA-256) until the token expires: a token's
//! client never changes, and revocation is still caught because every exchange fetches the
//! profile with the token.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use shared::security::secret::{Secret, sha256_hex};

use super::{ProviderClient, SocialError};

/// Past this many cached verdicts the cache starts over; it only saves a round trip.
const MAX_CACHED: usize = 10_000;
/// A verdict is kept at most this long, whatever the token's own expiry.
const MAX_CACHE_SECONDS: i64 = 300;

#[derive(Debug)]
pub struct AudienceCheck {
    client_id: String,
    client_secret: Secret,
    trusted: Vec<String>,
    /// SHA-256 of the token → (subject, until).
    cache: Mutex<HashMap<String, (Option<String>, i64)>>,
}

#[derive(Deserialize)]
struct Introspection {
    active: bool,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
}

impl AudienceCheck {
    pub fn new(client_id: String, client_secret: Secret, trusted: Vec<String>) -> Self {
        AudienceCheck {
            client_id,
            client_secret,
            trusted,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok(subject)` when the token is active and was issued to a trusted client.
    pub async fn verify(
        &self,
        client: &ProviderClient,
        token: &Secret,
    ) -> Result<Option<String>, SocialError> {
        if token.is_empty() {
            return Err(SocialError::Rejected);
        }
        let key = sha256_hex(token.expose());
        let now = shared::clock::now();
        if let Some((sub, until)) = self.lock().get(&key)
            && *until > now
        {
            return Ok(sub.clone());
        }
        let body = client
            .post_form_as_client(
                "/o/introspect/",
                &self.client_id,
                &self.client_secret,
                &[("token", token.expose()), ("token_type_hint", "access_token")],
            )
            .await
            .map_err(|e| match e {
                SocialError::Rejected => {
                    log::error!(
                        "the social provider refused My API's introspection client {:?}: check FAKE_SOCIAL_SITE_CLIENT_ID and FAKE_SOCIAL_SITE_CLIENT_SECRET",
                        self.client_id
                    );
                    SocialError::BadResponse("introspection credentials refused".to_owned())
                }
                other => other,
            })?;
        let answer: Introspection = serde_json::from_slice(&body)
            .map_err(|_| SocialError::BadResponse("introspection answer is not JSON".to_owned()))?;
        let trusted = answer
            .client_id
            .as_ref()
            .is_some_and(|id| self.trusted.iter().any(|t| t == id));
        if !answer.active || !trusted {
            if answer.active {
                log::warn!(
                    "refused a token the provider issued to an untrusted client {:?}",
                    answer.client_id
                );
            }
            return Err(SocialError::Rejected);
        }
        let until = answer.exp.unwrap_or(now).min(now + MAX_CACHE_SECONDS);
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, (answer.sub.clone(), until));
        Ok(answer.sub)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<String>, i64)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}
