//! The key set that signs and verifies every JWT a service issues ([`JwtKeys`]), and its
//! access tokens (RFC 9068 claims, `typ: at+jwt`, ES256).
//!
//! Each token names its key by `kid` in the JWS header; verification picks that key among the
//! published ones and accepts only that key's algorithm (never `none`, never HS256).
//!
//! The set lives in memory and is reloaded from the database (`keys.rs`) when it is older than
//! the reload interval, and at most once a second when a token names an unknown `kid`, so a
//! `rotatekeys` or another instance's new key reaches a running service without a restart.
//! A reload touches the database only off the async workers: callers holding a connection
//! reload in place ([`JwtKeys::refresh`]); the others leave it to the blocking pool.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::QueryResult;
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{TokenData, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::clock::now;
use crate::storage::db::{Connection, Db};
use crate::storage::tokens::keys;
pub use crate::storage::tokens::signing::SigningAlg;
use crate::storage::tokens::signing::{SigningKey, generate_pkcs8, random_kid};

/// RFC 9068 claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// The `typ` header of our access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The algorithm access tokens are signed with.
pub const ACCESS_TOKEN_ALG: SigningAlg = SigningAlg::Es256;

/// A token naming a `kid` we do not know reloads the set at most this often.
const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(1);

/// How the set is kept in step with the database.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// The longest lifetime of anything signed (access and ID tokens share it): how long a
    /// retired key stays published.
    pub token_ttl: i64,
    /// How old the in-memory set may get before it is read again.
    pub reload_every: Duration,
}

/// The signing keys of one service. Cheap to clone (shared).
#[derive(Clone)]
pub struct JwtKeys {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    set: RwLock<Arc<KeySet>>,
    store: Option<Store>,
    /// Per algorithm: access-token checks with and without expiry (revocation must find
    /// expired tokens too).
    validations: Vec<(SigningAlg, Validation, Validation)>,
    started: Instant,
    /// Milliseconds from `started` to the last reload attempt.
    loaded_ms: AtomicU64,
    reloading: AtomicBool,
    /// Keys generated here and not yet seen in the database. Its lock is also taken by
    /// whoever replaces `set`, so a reload never drops a key being created.
    pending: Mutex<Vec<Arc<SigningKey>>>,
}

struct Store {
    db: Db,
    policy: KeyPolicy,
}

#[derive(Default)]
struct KeySet {
    /// Oldest first.
    keys: Vec<Arc<SigningKey>>,
}

impl KeySet {
    fn find(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    fn active(&self, alg: SigningAlg) -> Option<&Arc<SigningKey>> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.alg == alg && k.is_active())
    }
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.inner.issuer)
            .field("keys", &self.current().keys)
            .finish_non_exhaustive()
    }
}

/// A configured private key (`SIGNING_KEY_FILE`), already parsed from PEM.
#[derive(Clone)]
pub struct ConfiguredKey {
    pub alg: SigningAlg,
    pub kid: String,
    pub der: Vec<u8>,
}

impl std::fmt::Debug for ConfiguredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfiguredKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// The key set kept in `db`: installs `configured` as its algorithm's active key, makes
    /// an ES256 key on first start, and loads every published key. RS256 is made when first
    /// needed (an RSA key takes up to a few hundred milliseconds to generate; most services
    /// and every test start never sign with it).
    pub fn open(
        db: &Db,
        issuer: &str,
        configured: Option<&ConfiguredKey>,
        policy: KeyPolicy,
    ) -> anyhow::Result<JwtKeys> {
        let mut conn = db.get()?;
        if let Some(key) = configured {
            keys::install(&mut conn, &key.kid, key.alg, &key.der, policy.token_ttl)?;
        }
        keys::ensure_active(&mut conn, ACCESS_TOKEN_ALG)?;
        let jwt = JwtKeys::with_store(
            issuer,
            Some(Store {
                db: db.clone(),
                policy,
            }),
        );
        jwt.reload(&mut conn)?;
        Ok(jwt)
    }

    /// A set held only in memory, with a fresh ES256 key (tests and tools without a database).
    pub fn ephemeral(issuer: &str) -> Result<JwtKeys, Error> {
        let jwt = JwtKeys::with_store(issuer, None);
        jwt.active(ACCESS_TOKEN_ALG)?;
        Ok(jwt)
    }

    fn with_store(issuer: &str, store: Option<Store>) -> JwtKeys {
        let validations = SigningAlg::ALL
            .into_iter()
            .map(|alg| {
                let mut validation = Validation::new(alg.algorithm());
                validation.leeway = 0;
                validation.set_issuer(&[issuer]);
                validation.set_audience(&[issuer]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                let mut any_age = validation.clone();
                any_age.validate_exp = false;
                any_age.set_required_spec_claims(&["iss", "aud", "sub"]);
                (alg, validation, any_age)
            })
            .collect();
        JwtKeys {
            inner: Arc::new(Inner {
                issuer: issuer.to_owned(),
                set: RwLock::new(Arc::new(KeySet::default())),
                store,
                validations,
                started: Instant::now(),
                loaded_ms: AtomicU64::new(0),
                reloading: AtomicBool::new(false),
                pending: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Signs `claims` with the active key of `alg`, header `typ` and `kid` set.
    pub fn sign<C: Serialize>(
        &self,
        typ: &str,
        claims: &C,
        alg: SigningAlg,
    ) -> Result<String, Error> {
        self.reload_soon(false);
        let key = self.active(alg)?;
        let header = JwsHeader {
            alg: alg.as_str(),
            typ,
            kid: &key.kid,
        };
        let json = |value: serde_json::Result<Vec<u8>>| {
            value.map_err(|e| Error::from(ErrorKind::Json(Arc::new(e))))
        };
        let mut token = URL_SAFE_NO_PAD.encode(json(serde_json::to_vec(&header))?);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(json(serde_json::to_vec(claims))?));
        let signature = key.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }

    /// The public keys to publish (RFC 7517 JWK Set): active ones and retired ones whose
    /// tokens may still be alive.
    pub fn jwks(&self) -> JwkSet {
        let now = now();
        JwkSet {
            keys: self
                .current()
                .keys
                .iter()
                .filter(|k| k.is_published(now))
                .map(|k| k.jwk().clone())
                .collect(),
        }
    }

    /// Signs an access token (`typ: at+jwt`, ES256).
    pub fn encode(&self, claims: &Claims) -> Result<String, Error> {
        self.sign(ACCESS_TOKEN_TYP, claims, ACCESS_TOKEN_ALG)
    }

    /// The claims of an access token this service signed and that has not expired.
    pub fn decode(&self, token: &str) -> Option<Claims> {
        let data = self.verify::<Claims>(token, false)?;
        is_access_token(&data).then_some(data.claims)
    }

    /// The claims of an access token this service signed, expired or not.
    pub fn decode_any_age(&self, token: &str) -> Option<Claims> {
        let data = self.verify::<Claims>(token, true)?;
        is_access_token(&data).then_some(data.claims)
    }

    /// Reads the set again if it is older than the reload interval, on the caller's
    /// connection (callers already on the blocking pool with one).
    pub fn refresh(&self, conn: &mut Connection) -> QueryResult<()> {
        if self.due(false) {
            self.reload(conn)?;
        }
        Ok(())
    }

    /// Reads the published keys from the database now, parsing only the ones not held yet.
    pub fn reload(&self, conn: &mut Connection) -> QueryResult<()> {
        self.inner
            .loaded_ms
            .store(self.elapsed_ms(), Ordering::Release);
        let rows = keys::published_kids(conn, now())?;
        let current = self.current();
        let mut set = Vec::with_capacity(rows.len());
        let mut missing = Vec::new();
        for (kid, retired) in &rows {
            match current.find(kid) {
                Some(key) if key.retired == *retired => set.push(key.clone()),
                _ => missing.push(kid.clone()),
            }
        }
        set.extend(keys::load(conn, &missing)?.into_iter().map(Arc::new));
        let mut pending = self.pending();
        pending.retain(|key| !rows.iter().any(|(kid, _)| *kid == key.kid));
        set.extend(pending.iter().cloned());
        set.sort_by_key(|key| key.created);
        *self
            .inner
            .set
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(KeySet { keys: set });
        Ok(())
    }

    fn current(&self) -> Arc<KeySet> {
        self.inner
            .set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<Arc<SigningKey>>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The active key of `alg`, made now if there is none yet (RS256 before its first use).
    fn active(&self, alg: SigningAlg) -> Result<Arc<SigningKey>, Error> {
        if let Some(key) = self.current().active(alg) {
            return Ok(key.clone());
        }
        let mut pending = self.pending();
        if let Some(key) = self.current().active(alg) {
            return Ok(key.clone());
        }
        let failed = |e: crate::storage::tokens::signing::KeyError| {
            Error::from(ErrorKind::Signing(e.to_string()))
        };
        let der = generate_pkcs8(alg).map_err(failed)?;
        let key =
            Arc::new(SigningKey::from_pkcs8(&random_kid(), alg, &der, now()).map_err(failed)?);
        if let Some(store) = &self.inner.store {
            pending.push(key.clone());
            // Stored on another thread: the caller may hold the database's write lock (a token
            // endpoint's transaction), which this insert would wait for. Until it is stored,
            // this process publishes the key from `pending`.
            let db = store.db.clone();
            let ttl = store.policy.token_ttl;
            let kid = key.kid.clone();
            std::thread::spawn(move || {
                let stored = db
                    .get()
                    .map_err(anyhow::Error::from)
                    .and_then(|mut conn| Ok(keys::adopt(&mut conn, &kid, alg, &der, ttl)?));
                match stored {
                    Ok(()) => log::info!("made the {alg} signing key {kid}"),
                    Err(e) => log::error!("cannot store the {alg} signing key {kid}: {e}"),
                }
            });
        }
        let mut keys = self.current().keys.clone();
        keys.push(key.clone());
        *self
            .inner
            .set
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(KeySet { keys });
        Ok(key)
    }

    fn verify<C: DeserializeOwned>(&self, token: &str, any_age: bool) -> Option<TokenData<C>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid.as_deref()?;
        let set = self.current();
        let Some(key) = set.find(kid) else {
            self.reload_soon(true);
            return None;
        };
        self.reload_soon(false);
        if !key.is_published(now()) {
            return None;
        }
        let (_, fresh, any) = self
            .inner
            .validations
            .iter()
            .find(|(alg, _, _)| *alg == key.alg)?;
        let validation = if any_age { any } else { fresh };
        jsonwebtoken::decode::<C>(token, key.decoding_key(), validation).ok()
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn due(&self, unknown_kid: bool) -> bool {
        let Some(store) = &self.inner.store else {
            return false;
        };
        let age = Duration::from_millis(
            self.elapsed_ms()
                .saturating_sub(self.inner.loaded_ms.load(Ordering::Acquire)),
        );
        age >= store.policy.reload_every || (unknown_kid && age >= UNKNOWN_KID_RELOAD)
    }

    /// Starts a reload on the blocking pool if one is due and none is running. Callers on an
    /// async worker must not wait for the database; the request at hand uses the set it has.
    fn reload_soon(&self, unknown_kid: bool) {
        let Some(store) = &self.inner.store else {
            return;
        };
        if !self.due(unknown_kid) || self.inner.reloading.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner.reloading.store(false, Ordering::Release);
            return;
        };
        let keys = self.clone();
        let db = store.db.clone();
        runtime.spawn_blocking(move || {
            let reloaded = db
                .get()
                .map_err(anyhow::Error::from)
                .and_then(|mut conn| Ok(keys.reload(&mut conn)?));
            if let Err(e) = reloaded {
                // Counted as an attempt: a failing database is not asked again at once.
                keys.inner
                    .loaded_ms
                    .store(keys.elapsed_ms(), Ordering::Release);
                log::warn!("cannot reload the signing keys: {e}");
            }
            keys.inner.reloading.store(false, Ordering::Release);
        });
    }
}

/// The protected header we write: what RFC 7515 needs, nothing more.
#[derive(Serialize)]
struct JwsHeader<'a> {
    alg: &'static str,
    typ: &'a str,
    kid: &'a str,
}

/// RFC 9068 §4: a resource server must check that `typ` is `at+jwt` (or its full media type
/// `application/at+jwt`), so that another JWT signed with the same key (an ID token, say) is
/// never taken for an access token. `Validation` does not look at `typ`, so it is checked here.
/// Media types compare case-insensitively.
fn is_access_token(data: &TokenData<Claims>) -> bool {
    let Some(typ) = data.header.typ.as_deref() else {
        return false;
    };
    let typ = typ
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
}

#[cfg(test)]
mod tests;
