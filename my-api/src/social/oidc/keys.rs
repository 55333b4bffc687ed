//! A backend's signing keys: its discovery document (`issuer/.well-known/openid-configuration`,
//! whose `issuer` must be the configured one) names its JWKS, which is fetched lazily, on the
//! first token, and kept as long as its `Cache-Control: max-age` allows (bounded both ways).
//! A token signed with a key not in the set causes at most one early re-fetch per minute
//! (the provider rotated its keys); the first fetch does not count against that.
//!
//! The discovery document is read once; its `jwks_uri` is kept for the life of the process.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::social::client::observed;
use crate::social::{ProviderClient, SocialError};

/// How long a JWKS is kept when the provider says nothing.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// Bounds on what the provider may ask: not re-fetched on every token, not kept for ever.
const MIN_MAX_AGE: Duration = Duration::from_secs(60);
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The least time between two re-fetches for an unknown `kid`.
pub const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(60);

/// One published verification key.
#[derive(Debug)]
pub struct PublicKey {
    kid: Option<String>,
    /// The `alg` the key is published for, if the JWK says.
    alg: Option<Algorithm>,
    shape: Shape,
    pub key: DecodingKey,
}

/// The key types an allowed algorithm can use.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shape::Rsa => "RSA",
            Shape::P256 => "EC P-256",
            Shape::P384 => "EC P-384",
            Shape::Ed25519 => "OKP Ed25519",
        })
    }
}

impl PublicKey {
    /// A JWK usable for signatures, or `None` (an HMAC secret, an encryption key, an
    /// unknown curve or kind: a JWKS may hold keys for others, they are skipped).
    fn from_jwk(jwk: &Jwk) -> Option<PublicKey> {
        if matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
        ) {
            return None;
        }
        let shape = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Shape::Rsa,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => Shape::P256,
                EllipticCurve::P384 => Shape::P384,
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                Shape::Ed25519
            }
            _ => return None,
        };
        let alg = match jwk.common.key_algorithm {
            Some(alg) => Some(alg.to_string().parse().ok()?),
            None => None,
        };
        Some(PublicKey {
            kid: jwk.common.key_id.clone(),
            alg,
            shape,
            key: DecodingKey::from_jwk(jwk).ok()?,
        })
    }

    /// Whether a token signed with `alg` can have been signed with this key: the key's kind
    /// and curve fit the algorithm, and the key's own `alg`, if any, is that one.
    pub fn fits(&self, alg: Algorithm) -> bool {
        let shape = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Shape::Rsa,
            Algorithm::ES256 => Shape::P256,
            Algorithm::ES384 => Shape::P384,
            Algorithm::EdDSA => Shape::Ed25519,
            // The HMACs, and whatever the library adds later.
            _ => return false,
        };
        self.shape == shape && self.alg.is_none_or(|own| own == alg)
    }
}

/// The keys of one JWKS.
#[derive(Debug, Default)]
struct KeySet {
    keys: Vec<Arc<PublicKey>>,
}

impl KeySet {
    fn parse(body: &[u8]) -> Result<KeySet, SocialError> {
        #[derive(Deserialize)]
        struct Wire {
            keys: Vec<serde_json::Value>,
        }
        let wire: Wire = serde_json::from_slice(body)
            .map_err(|_| SocialError::BadResponse("the JWKS is not a JWK set".to_owned()))?;
        let keys = wire
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(|jwk| PublicKey::from_jwk(&jwk).map(Arc::new))
            .collect();
        Ok(KeySet { keys })
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }

    /// The key for a token's `kid` and `alg`. Without a `kid`, only a set with exactly one
    /// fitting key answers: trying several would let a token pick its key.
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<PublicKey>> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid) && key.fits(alg))
                .cloned(),
            None => {
                let mut fitting = self.keys.iter().filter(|key| key.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Some(key.clone()),
                    _ => None,
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    jwks_uri: Option<String>,
    keys: Option<(Arc<KeySet>, Instant)>,
    /// When a token's unknown `kid` last caused a re-fetch.
    last_unknown_kid: Option<Instant>,
}

/// The JWKS of one backend, fetched and refreshed on demand.
#[derive(Debug)]
pub struct KeyCache {
    backend: &'static str,
    issuer: String,
    state: Mutex<State>,
    /// One fetch at a time per backend: a burst of first tokens makes one request.
    fetching: tokio::sync::Mutex<()>,
}

impl KeyCache {
    pub fn new(backend: &'static str, issuer: String) -> Self {
        KeyCache {
            backend,
            issuer,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current keys, unless there are none yet or they expired.
    fn current(&self) -> Option<Arc<KeySet>> {
        let state = self.lock();
        let (keys, until) = state.keys.as_ref()?;
        (Instant::now() < *until).then(|| keys.clone())
    }

    /// The key a token with header `kid` and `alg` was signed with. Errors: `InvalidIdToken`
    /// when no published key fits, a provider fault when the keys cannot be had.
    pub async fn key(
        &self,
        client: &ProviderClient,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<PublicKey>, SocialError> {
        let unknown = || {
            SocialError::InvalidIdToken(
                "no published key of the provider fits the token's kid and alg".to_owned(),
            )
        };
        let (keys, just_fetched) = match self.current() {
            Some(keys) => (keys, false),
            None => (self.refresh(client, None).await?, true),
        };
        if let Some(key) = keys.find(kid, alg) {
            return Ok(key);
        }
        // Keys just fetched are the newest; a known kid whose key does not fit the alg is
        // a bad token, not a rotation.
        if just_fetched || kid.is_some_and(|kid| keys.has_kid(kid)) {
            return Err(unknown());
        }
        // The provider may have rotated its keys since: look once more, unless that was
        // done less than a minute ago.
        let keys = self.refresh(client, Some(&keys)).await?;
        keys.find(kid, alg).ok_or_else(unknown)
    }

    /// Fetches the keys. With `seen` (the set in which a key was not found), this is an
    /// early re-fetch: it happens only if no other request replaced `seen` meanwhile and the
    /// last early re-fetch is a minute old; otherwise the newest keys are returned as they are.
    async fn refresh(
        &self,
        client: &ProviderClient,
        seen: Option<&Arc<KeySet>>,
    ) -> Result<Arc<KeySet>, SocialError> {
        let _one_at_a_time = self.fetching.lock().await;
        let jwks_uri = {
            let mut state = self.lock();
            let newest = state
                .keys
                .as_ref()
                .map(|(keys, until)| (keys.clone(), *until));
            match (seen, newest) {
                // Another request fetched while this one waited.
                (None, Some((keys, until))) if Instant::now() < until => return Ok(keys),
                (Some(seen), Some((keys, _))) if !Arc::ptr_eq(seen, &keys) => return Ok(keys),
                (Some(seen), _) => {
                    if state
                        .last_unknown_kid
                        .is_some_and(|last| last.elapsed() < UNKNOWN_KID_INTERVAL)
                    {
                        return Ok(seen.clone());
                    }
                    state.last_unknown_kid = Some(Instant::now());
                }
                (None, _) => {}
            }
            state.jwks_uri.clone()
        };
        let jwks_uri = match jwks_uri {
            Some(uri) => uri,
            None => {
                let uri = observed(self.backend, "discovery", self.discover(client)).await?;
                self.lock().jwks_uri = Some(uri.clone());
                uri
            }
        };
        let (body, max_age) =
            observed(self.backend, "jwks", client.get_document(&jwks_uri)).await?;
        let keys = Arc::new(KeySet::parse(&body)?);
        if keys.keys.is_empty() {
            log::warn!("the JWKS of {} holds no usable signing key", self.backend);
        }
        let keep = max_age
            .map_or(DEFAULT_MAX_AGE, Duration::from_secs)
            .clamp(MIN_MAX_AGE, MAX_MAX_AGE);
        self.lock().keys = Some((keys.clone(), Instant::now() + keep));
        Ok(keys)
    }

    /// Reads the discovery document and returns its `jwks_uri`.
    async fn discover(&self, client: &ProviderClient) -> Result<String, SocialError> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let (body, _) = client.get_document(&url).await?;
        let doc: Discovery = serde_json::from_slice(&body).map_err(|_| {
            SocialError::BadResponse("the discovery document is not usable".to_owned())
        })?;
        if doc.issuer != self.issuer {
            log::error!(
                "the discovery document of {} names the issuer {:?}, not the configured {:?}",
                self.backend,
                doc.issuer,
                self.issuer
            );
            return Err(SocialError::BadResponse(
                "the discovery document names another issuer".to_owned(),
            ));
        }
        let uri = reqwest::Url::parse(&doc.jwks_uri)
            .ok()
            .filter(|uri| matches!(uri.scheme(), "http" | "https"));
        if uri.is_none() {
            return Err(SocialError::BadResponse(
                "the discovery document has no usable jwks_uri".to_owned(),
            ));
        }
        Ok(doc.jwks_uri)
    }
}

#[cfg(test)]
mod tests {
    use shared::storage::tokens::SigningAlg;
    use shared::storage::tokens::signing::{SigningKey, generate_pkcs8};

    use super::*;

    fn jwks(keys: &[(&str, SigningAlg)]) -> Vec<u8> {
        let keys: Vec<serde_json::Value> = keys
            .iter()
            .map(|(kid, alg)| {
                let der = generate_pkcs8(*alg).expect("a key");
                let key = SigningKey::from_pkcs8(kid, *alg, &der, 0).expect("a key");
                serde_json::to_value(key.jwk()).expect("a JWK")
            })
            .collect();
        let mut set = serde_json::json!({ "keys": keys });
        // Keys for others are skipped, not fatal: an HMAC secret and an encryption key.
        set["keys"].as_array_mut().expect("keys").extend([
            serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "use": "enc", "kid": "enc",
                    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}),
        ]);
        set.to_string().into_bytes()
    }

    #[test]
    fn a_key_is_found_by_kid_only_if_it_fits_the_alg_and_without_kid_only_if_alone() {
        let set = KeySet::parse(&jwks(&[("e", SigningAlg::Es256)])).expect("a set");
        assert_eq!(
            set.keys.len(),
            1,
            "the HMAC and encryption keys are skipped"
        );
        assert!(set.find(Some("e"), Algorithm::ES256).is_some());
        assert!(set.find(Some("e"), Algorithm::RS256).is_none());
        assert!(set.find(Some("e"), Algorithm::HS256).is_none());
        assert!(set.find(Some("hmac"), Algorithm::HS256).is_none());
        assert!(set.find(Some("other"), Algorithm::ES256).is_none());
        assert!(set.find(None, Algorithm::ES256).is_some());
        let two = KeySet::parse(&jwks(&[
            ("e1", SigningAlg::Es256),
            ("e2", SigningAlg::Es256),
        ]))
        .expect("a set");
        assert!(
            two.find(None, Algorithm::ES256).is_none(),
            "no kid, two keys"
        );
        assert!(KeySet::parse(b"<html>").is_err());
    }
}
