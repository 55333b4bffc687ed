//! The state an OAuth2 provider's handlers share: storage, tokens, password hashing, and the
//! extension grants a service adds to `/o/token/`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use futures_util::future::LocalBoxFuture;

use crate::oauth2::client_address::TrustedProxies;
use crate::oauth2::credentials::ClientCredentials;
use crate::oauth2::error::OAuth2Error;
use crate::oauth2::form::Params;
use crate::oauth2::response::TokenResponse;
use crate::oauth2::settings::ProviderSettings;
use crate::security::password::PasswordHasher;
use crate::security::throttle::{Policy, WINDOW};
use crate::storage::applications::GrantType;
use crate::storage::changes::{Announcer, Heard, Listener};
use crate::storage::db::{Db, DbConfig};
use crate::storage::throttle::LoginThrottle;
use crate::storage::tokens::cache::TokenCache;
use crate::storage::tokens::signing::{pkcs8_from_pem, thumbprint_kid};
use crate::storage::tokens::{ConfiguredKey, JwtKeys, KeyPolicy, TokenService};

/// A grant type a service adds to the token endpoint (My API's token exchange).
pub trait ExtensionGrant: Send + Sync + std::fmt::Debug {
    fn grant_type(&self) -> GrantType;

    fn handle<'a>(
        &'a self,
        provider: web::Data<Provider>,
        client: ClientCredentials,
        params: &'a Params,
    ) -> LocalBoxFuture<'a, Result<TokenResponse, OAuth2Error>>;
}

#[derive(Debug)]
pub struct Provider {
    pub db: Db,
    pub tokens: Arc<TokenService>,
    pub hasher: PasswordHasher,
    pub issuer: String,
    pub throttle: LoginThrottle,
    /// Whose `X-Forwarded-For` names the client the throttle counts.
    pub trusted_proxies: TrustedProxies,
    pub token_cache: Arc<TokenCache>,
    pub password_grant_enabled: bool,
    extensions: Vec<Arc<dyn ExtensionGrant>>,
    /// Hears other instances' revocations and key changes (PostgreSQL only); stops with the
    /// provider.
    _listener: Option<Listener>,
    /// Announces the token changes no trigger does (PostgreSQL only).
    announcer: Option<Announcer>,
}

impl Provider {
    /// Opens (and migrates) the database, then loads or creates the signing keys.
    pub fn open(
        settings: &ProviderSettings,
        db: &DbConfig,
        issuer: &str,
        extra_migrations: &[crate::storage::db::Migrations],
    ) -> anyhow::Result<Provider> {
        anyhow::ensure!(
            settings.legacy_signing_key.is_none(),
            "SIGNING_KEY (an HS256 secret) is no longer supported: tokens are signed with \
             asymmetric keys. Remove it, and set SIGNING_KEY_FILE to a PEM PKCS#8 private key \
             (P-256 or RSA), or set neither to have keys generated and kept in the database."
        );
        let configured = settings
            .signing_key_file
            .as_deref()
            .map(configured_key)
            .transpose()?;
        let db = Db::open(db, extra_migrations)?;
        let keys = JwtKeys::open(
            &db,
            issuer,
            configured.as_ref(),
            KeyPolicy {
                token_ttl: settings.access_token_expire_seconds,
                reload_every: Duration::from_secs(settings.signing_keys_reload_seconds),
            },
        )?;
        let throttle = LoginThrottle::new(
            Policy {
                free_failures: settings.login_failures_before_throttle,
                max_lockout: Duration::from_secs(settings.login_lockout_max_seconds),
                window: WINDOW,
            },
            settings.login_throttle_store,
            &db,
        );
        let token_cache = Arc::new(TokenCache::new(Duration::from_secs(
            settings.token_cache_seconds,
        )));
        let listener = hear_changes(&db, &token_cache, &keys);
        Ok(Provider {
            tokens: Arc::new(TokenService::new(
                keys,
                settings.access_token_expire_seconds,
                settings.refresh_token_expire_seconds,
            )),
            hasher: PasswordHasher::new(settings.bcrypt_cost, settings.hash_permits()),
            issuer: issuer.trim_end_matches('/').to_owned(),
            throttle,
            password_grant_enabled: settings.password_grant_enabled,
            trusted_proxies: settings.trusted_proxies.clone(),
            token_cache,
            extensions: Vec::new(),
            _listener: listener,
            announcer: Announcer::start(db.url()),
            db,
        })
    }

    /// After a committed write deleted live tokens (an exchange replacing a user's): this
    /// process's token cache forgets what it held, and the other instances are told (deletes
    /// have no trigger; see [`crate::storage::changes`]).
    pub fn tokens_replaced(&self) {
        self.token_cache.invalidate_all();
        if let Some(announcer) = &self.announcer {
            announcer.tokens_changed();
        }
    }

    pub fn with_extension(mut self, extension: Arc<dyn ExtensionGrant>) -> Self {
        self.extensions.push(extension);
        self
    }

    pub fn extension(&self, grant_type: GrantType) -> Option<Arc<dyn ExtensionGrant>> {
        self.extensions
            .iter()
            .find(|e| e.grant_type() == grant_type)
            .cloned()
    }

    /// Every grant type the token endpoint accepts, for the metadata document.
    pub fn grant_types(&self) -> Vec<GrantType> {
        let mut all = Vec::new();
        if self.password_grant_enabled {
            all.push(GrantType::Password);
        }
        all.push(GrantType::RefreshToken);
        all.extend(self.extensions.iter().map(|e| e.grant_type()));
        all
    }
}

/// Starts hearing changes made by other processes on the same database (see
/// [`crate::storage::changes`]): their revocations empty this process's token cache, their key
/// changes reload its signing keys. The cache stays deaf until the listener listens.
fn hear_changes(db: &Db, cache: &Arc<TokenCache>, keys: &JwtKeys) -> Option<Listener> {
    if !db.url().is_postgres() {
        return None;
    }
    cache.set_hearing(false);
    let (cache, keys, pool) = (cache.clone(), keys.clone(), db.clone());
    Listener::start(db.url(), move |heard| match heard {
        Heard::Tokens => cache.invalidate_all(),
        Heard::Keys => reload_keys(&pool, &keys),
        Heard::Listening => {
            cache.set_hearing(true);
            reload_keys(&pool, &keys);
        }
        Heard::Deaf => cache.set_hearing(false),
    })
}

fn reload_keys(db: &Db, keys: &JwtKeys) {
    let reloaded = db
        .get()
        .map_err(anyhow::Error::from)
        .and_then(|mut conn| Ok(keys.reload(&mut conn)?));
    if let Err(e) = reloaded {
        log::warn!("cannot reload the signing keys after a change: {e}");
    }
}

/// Reads `SIGNING_KEY_FILE`. Errors name the file, never its content.
fn configured_key(path: &std::path::Path) -> anyhow::Result<ConfiguredKey> {
    let refused =
        |e: &dyn std::fmt::Display| anyhow::anyhow!("SIGNING_KEY_FILE {}: {e}", path.display());
    let pem = std::fs::read_to_string(path).map_err(|e| refused(&e))?;
    let (alg, der) = pkcs8_from_pem(&pem).map_err(|e| refused(&e))?;
    let kid = thumbprint_kid(alg, &der).map_err(|e| refused(&e))?;
    Ok(ConfiguredKey { alg, kid, der })
}
