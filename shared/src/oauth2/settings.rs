//! Settings every provider takes, from flags or environment variables (see `.env.example`).

use clap::builder::RangedU64ValueParser;

use crate::security::secret::Secret;

/// Bounds of the numeric settings, checked when they are read: a value outside is refused at
/// start-up with the flag's name, never wrapped (a lifetime near `i64::MAX` overflowed `exp`).
const DAY: i64 = 24 * 3600;
const YEAR: i64 = 365 * DAY;
/// Workers, pool connections and concurrent hashes: far beyond any machine this runs on.
const MAX_THREADS: u64 = 1024;

// Each default is written once: the flags and `Default` both read these.
const DEFAULT_PASSWORD_GRANT_ENABLED: bool = true;
const DEFAULT_LOGIN_FAILURES_BEFORE_THROTTLE: u32 = 5;
const DEFAULT_LOGIN_LOCKOUT_MAX_SECONDS: u64 = 900;
const DEFAULT_TOKEN_CACHE_SECONDS: u64 = 2;
const DEFAULT_REQUEST_BODY_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_MAX_CONNECTIONS: usize = 256;
const DEFAULT_SIGNING_KEYS_RELOAD_SECONDS: u64 = 10;

#[derive(Debug, Clone, clap::Args)]
pub struct ProviderSettings {
    /// Public base URL of this service, used as the tokens' issuer and audience
    /// [default: http://<bound address>]
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// PEM file holding the private key that signs tokens (unencrypted PKCS#8: P-256 for
    /// ES256, RSA of 2048 bits or more for RS256); it becomes that algorithm's active key.
    /// Without it keys are generated once and kept in the database.
    #[arg(long, env = "SIGNING_KEY_FILE")]
    pub signing_key_file: Option<std::path::PathBuf>,

    /// The former HS256 secret, no longer supported: read only to stop start-up with a message
    /// saying what replaces it.
    #[arg(long = "signing-key", env = "SIGNING_KEY", hide = true, hide_env_values = true,
          value_parser = parse_secret)]
    pub legacy_signing_key: Option<Secret>,

    /// Seconds between reloads of the signing keys from the database, so a `rotatekeys` (or
    /// another instance's key) is seen without a restart, 0 to 60.
    #[arg(long, env = "SIGNING_KEYS_RELOAD_SECONDS", default_value_t = DEFAULT_SIGNING_KEYS_RELOAD_SECONDS,
          value_parser = clap::value_parser!(u64).range(0..=crate::storage::tokens::keys::RELOAD_MARGIN as u64))]
    pub signing_keys_reload_seconds: u64,

    /// bcrypt cost for new password hashes.
    #[arg(long, env = "BCRYPT_COST", default_value_t = crate::security::password::DEFAULT_COST,
          value_parser = clap::value_parser!(u32).range(4..=31))]
    pub bcrypt_cost: u32,

    /// Password hashes allowed to run at once, 1 to 1024 [default: number of cores].
    #[arg(long, env = "MAX_CONCURRENT_HASHES",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_THREADS))]
    pub max_concurrent_hashes: Option<usize>,

    /// Access token lifetime in seconds, 1 to 31536000 (a year).
    #[arg(long, env = "ACCESS_TOKEN_EXPIRE_SECONDS", default_value_t = crate::storage::tokens::DEFAULT_ACCESS_TTL,
          value_parser = clap::value_parser!(i64).range(1..=YEAR))]
    pub access_token_expire_seconds: i64,

    /// Refresh token lifetime in seconds, 1 to 31536000 (a year).
    #[arg(long, env = "REFRESH_TOKEN_EXPIRE_SECONDS", default_value_t = crate::storage::tokens::DEFAULT_REFRESH_TTL,
          value_parser = clap::value_parser!(i64).range(1..=YEAR))]
    pub refresh_token_expire_seconds: i64,

    /// HTTP worker threads, 1 to 1024 [default: number of cores].
    #[arg(long, env = "WORKERS",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_THREADS))]
    pub workers: Option<usize>,

    /// Database connections in the pool, 1 to 1024.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = crate::storage::db::DEFAULT_POOL_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=MAX_THREADS as i64))]
    pub db_pool_size: u32,

    /// Seconds between prunes of expired and revoked tokens while serving, up to 86400 (a
    /// day); 0 turns it off.
    #[arg(long, env = "PRUNE_INTERVAL_SECONDS", default_value_t = crate::storage::maintenance::DEFAULT_PRUNE_INTERVAL,
          value_parser = clap::value_parser!(u64).range(0..=DAY as u64))]
    pub prune_interval_seconds: u64,

    /// Browser origins allowed to call this service (comma-separated).
    #[arg(
        long = "cors-origin",
        env = "CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// Whether the password grant is offered at all (each application also lists the grants
    /// it may use). RFC 9700 deprecates it; it is on because the original demo uses it.
    #[arg(long, env = "PASSWORD_GRANT_ENABLED", default_value_t = DEFAULT_PASSWORD_GRANT_ENABLED, action = clap::ArgAction::Set)]
    pub password_grant_enabled: bool,

    /// Failed logins allowed per (username, address) before attempts are delayed
    /// (an address gets 4×, a username 2×), up to 1000; 0 turns the throttle off.
    #[arg(long, env = "LOGIN_FAILURES_BEFORE_THROTTLE", default_value_t = DEFAULT_LOGIN_FAILURES_BEFORE_THROTTLE,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub login_failures_before_throttle: u32,

    /// Longest delay imposed on an address or (username, address) pair, in seconds, 1 to
    /// 86400 (a day).
    #[arg(long, env = "LOGIN_LOCKOUT_MAX_SECONDS", default_value_t = DEFAULT_LOGIN_LOCKOUT_MAX_SECONDS,
          value_parser = clap::value_parser!(u64).range(1..=DAY as u64))]
    pub login_lockout_max_seconds: u64,

    /// Proxies (load balancers) whose `X-Forwarded-For` is believed, so the login throttle
    /// counts the client's address rather than the proxy's: comma-separated addresses or CIDR
    /// ranges, e.g. `127.0.0.1,::1`. Only the address the nearest untrusted hop reported is
    /// used [default: none; the connection's address counts].
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: crate::oauth2::client_address::TrustedProxies,

    /// Where the login throttle counts failures: `memory` (this process alone) or `database`
    /// (a table every instance on the database shares, so several instances together give no
    /// more guesses than one) [default: memory on SQLite, database on PostgreSQL]
    #[arg(long, env = "LOGIN_THROTTLE_STORE", value_enum)]
    pub login_throttle_store: Option<crate::storage::throttle::ThrottleStore>,

    /// How long a validated access token is remembered in memory, in seconds (0 = off).
    /// Revocations made by this process take effect at once whatever this is; changes made
    /// to the database by other means (deactivating a user) within this time, or, on
    /// PostgreSQL, within milliseconds (other instances' changes are heard). At most 3600.
    #[arg(long, env = "TOKEN_CACHE_SECONDS", default_value_t = DEFAULT_TOKEN_CACHE_SECONDS,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub token_cache_seconds: u64,

    /// Time allowed for a request's whole body to arrive after its head, in milliseconds;
    /// a slower client gets 408 and its connection is closed. 1 to 600000.
    #[arg(long, env = "REQUEST_BODY_TIMEOUT_MS", default_value_t = DEFAULT_REQUEST_BODY_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub request_body_timeout_ms: u64,

    /// Connections each HTTP worker holds open at once; more wait in the listen queue. Keep
    /// workers × this well under the open-file limit (`LimitNOFILE=`, `ulimit -n`). 1 to 65536.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=65_536))]
    pub max_connections: usize,
}

/// The machine's cores, the default for workers and concurrent hashes.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl ProviderSettings {
    /// The database at `url`, with this service's pool size.
    pub fn db_config(
        &self,
        url: impl Into<crate::storage::db::DatabaseUrl>,
    ) -> crate::storage::db::DbConfig {
        crate::storage::db::DbConfig {
            pool_size: self.db_pool_size,
            ..crate::storage::db::DbConfig::new(url)
        }
    }

    /// Password hashes allowed to run at once: configured, or one per core.
    pub fn hash_permits(&self) -> usize {
        self.max_concurrent_hashes.unwrap_or_else(cores).max(1)
    }

    /// HTTP workers: configured, or one per core.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(cores).max(1)
    }
}

impl Default for ProviderSettings {
    fn default() -> Self {
        ProviderSettings {
            public_url: None,
            signing_key_file: None,
            legacy_signing_key: None,
            signing_keys_reload_seconds: DEFAULT_SIGNING_KEYS_RELOAD_SECONDS,
            bcrypt_cost: crate::security::password::DEFAULT_COST,
            max_concurrent_hashes: None,
            access_token_expire_seconds: crate::storage::tokens::DEFAULT_ACCESS_TTL,
            refresh_token_expire_seconds: crate::storage::tokens::DEFAULT_REFRESH_TTL,
            workers: None,
            db_pool_size: crate::storage::db::DEFAULT_POOL_SIZE,
            prune_interval_seconds: crate::storage::maintenance::DEFAULT_PRUNE_INTERVAL,
            cors_origins: Vec::new(),
            password_grant_enabled: DEFAULT_PASSWORD_GRANT_ENABLED,
            login_failures_before_throttle: DEFAULT_LOGIN_FAILURES_BEFORE_THROTTLE,
            trusted_proxies: Default::default(),
            login_lockout_max_seconds: DEFAULT_LOGIN_LOCKOUT_MAX_SECONDS,
            login_throttle_store: None,
            token_cache_seconds: DEFAULT_TOKEN_CACHE_SECONDS,
            request_body_timeout_ms: DEFAULT_REQUEST_BODY_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// No check here: clap's error would print the refused value, and this one is a secret. Its
/// presence stops start-up (`Provider::open`) with a message that names the setting only.
fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::from(value))
}
