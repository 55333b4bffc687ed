//! OpenID Connect backends: providers declared in the backends file ([`config`]) whose ID
//! tokens are verified here, offline, against the keys they publish ([`keys`]) by the
//! checks of [`verify`]. No provider round trip is made per token once its keys are known.

pub mod config;
pub mod keys;
pub mod verify;

use jsonwebtoken::Algorithm;
use shared::security::secret::Secret;

use self::config::BackendConfig;
use self::keys::KeyCache;
use self::verify::Expected;
use super::{ProviderClient, SocialError, SocialProfile};

/// One configured OpenID Connect provider.
#[derive(Debug)]
pub struct OidcBackend {
    /// Made `'static` once at start-up, as the code backends' names are.
    name: &'static str,
    config: BackendConfig,
    keys: KeyCache,
}

impl OidcBackend {
    pub fn new(config: BackendConfig) -> Self {
        let name: &'static str = Box::leak(config.name.clone().into_boxed_str());
        OidcBackend {
            name,
            keys: KeyCache::new(name, config.issuer.clone()),
            config,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn config(&self) -> &BackendConfig {
        &self.config
    }

    /// The owner of `id_token`, once every check passes. `nonce` and `access_token` are
    /// what the caller sent along, if anything.
    pub async fn identify(
        &self,
        client: &ProviderClient,
        id_token: &Secret,
        expected: Expected<'_>,
    ) -> Result<SocialProfile, SocialError> {
        let token = id_token.expose();
        let not_allowed =
            || SocialError::InvalidIdToken("the algorithm is not allowed for this backend".into());
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            if names_an_algorithm(token) {
                // `none`, or one the library does not know: never one of ours.
                not_allowed()
            } else {
                SocialError::InvalidIdToken("the token is malformed".to_owned())
            }
        })?;
        if !self.config.algorithms.contains(&header.alg) || is_hmac(header.alg) {
            return Err(not_allowed());
        }
        let key = self
            .keys
            .key(client, header.kid.as_deref(), header.alg)
            .await?;
        verify::verify(token, header.alg, &key.key, &self.config, expected)
    }
}

/// Whether the token's header is JSON naming some `alg` (read only to word a refusal).
fn names_an_algorithm(token: &str) -> bool {
    use base64::Engine;
    let Some(header) = token.split('.').next() else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|header| header["alg"].is_string())
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}
