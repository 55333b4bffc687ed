//! My API's settings: the shared provider settings plus how to reach Fake Social Site.

use std::path::PathBuf;
use std::time::Duration;

use shared::oauth2::settings::ProviderSettings;
use shared::storage::db::DbConfig;

use shared::security::secret::Secret;

use crate::social::oidc::config;
use crate::social::{AudienceCheck, Backends, OidcBackend, ProviderClientConfig, client};

/// Fake Social Site's `my-api-app`, the client My API's users log in with there.
pub const DEFAULT_TRUSTED_CLIENT_ID: &str = "ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d";

/// The application the register route issues tokens for, as in the original's fixtures.
pub const DEFAULT_EXCHANGE_APPLICATION: &str = "my-api-app";

#[derive(Debug, Clone, clap::Args)]
pub struct SocialSettings {
    /// Fake Social Site's base URL; the provider's endpoints are derived from it.
    #[arg(
        long,
        env = "FAKE_SOCIAL_SITE_URL",
        default_value = client::DEFAULT_BASE_URL
    )]
    pub fake_social_site_url: String,

    /// Fake Social Site's URL as browsers reach it, for the test page
    /// [default: --fake-social-site-url].
    #[arg(long, env = "FAKE_SOCIAL_SITE_PUBLIC_URL")]
    pub fake_social_site_public_url: Option<String>,

    /// Time allowed to connect to the provider, in milliseconds, 1 to 60000.
    #[arg(long, env = "SOCIAL_CONNECT_TIMEOUT_MS", default_value_t = client::DEFAULT_CONNECT_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub social_connect_timeout_ms: u64,

    /// Time allowed for a whole provider request, in milliseconds, 1 to 300000.
    #[arg(long, env = "SOCIAL_TIMEOUT_MS", default_value_t = client::DEFAULT_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(1..=300_000))]
    pub social_timeout_ms: u64,

    /// Largest provider answer accepted, in bytes, 1 to 16777216 (16 MiB).
    #[arg(long, env = "SOCIAL_MAX_RESPONSE_BYTES", default_value_t = client::DEFAULT_MAX_BODY_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=16 * 1024 * 1024))]
    pub social_max_response_bytes: usize,

    /// Name of the application the register route issues tokens for.
    #[arg(long, env = "EXCHANGE_APPLICATION", default_value = DEFAULT_EXCHANGE_APPLICATION)]
    pub exchange_application: String,

    /// My API's own (confidential) client id at Fake Social Site, used to introspect the
    /// tokens it is handed. Without it and the secret, exchanges are refused.
    #[arg(long, env = "FAKE_SOCIAL_SITE_CLIENT_ID")]
    pub fake_social_site_client_id: Option<String>,

    /// The secret of that client.
    #[arg(long, env = "FAKE_SOCIAL_SITE_CLIENT_SECRET", hide_env_values = true)]
    pub fake_social_site_client_secret: Option<Secret>,

    /// Fake Social Site client ids whose tokens My API accepts (comma-separated).
    #[arg(
        long = "trusted-client-id",
        env = "TRUSTED_CLIENT_IDS",
        value_delimiter = ',',
        default_value = DEFAULT_TRUSTED_CLIENT_ID
    )]
    pub trusted_client_ids: Vec<String>,

    /// A TOML file declaring OpenID Connect backends, whose ID tokens are accepted (see the
    /// README, "Sign in with any OpenID Connect provider"). A bad file stops start-up.
    #[arg(long = "backends", env = "BACKENDS_FILE", value_name = "FILE")]
    pub backends_file: Option<PathBuf>,
}

impl Default for SocialSettings {
    fn default() -> Self {
        SocialSettings {
            fake_social_site_url: client::DEFAULT_BASE_URL.to_owned(),
            fake_social_site_public_url: None,
            social_connect_timeout_ms: client::DEFAULT_CONNECT_TIMEOUT_MS,
            social_timeout_ms: client::DEFAULT_TIMEOUT_MS,
            social_max_response_bytes: client::DEFAULT_MAX_BODY_BYTES,
            exchange_application: DEFAULT_EXCHANGE_APPLICATION.to_owned(),
            fake_social_site_client_id: None,
            fake_social_site_client_secret: None,
            trusted_client_ids: vec![DEFAULT_TRUSTED_CLIENT_ID.to_owned()],
            backends_file: None,
        }
    }
}

impl SocialSettings {
    /// The token-substitution check, when My API has credentials at the provider.
    pub fn audience_check(&self) -> Option<AudienceCheck> {
        let id = self.fake_social_site_client_id.clone()?;
        let secret = self.fake_social_site_client_secret.clone()?;
        Some(AudienceCheck::new(
            id,
            secret,
            self.trusted_client_ids.clone(),
        ))
    }

    /// The code backends plus those of the backends file, if one is given; the file's
    /// errors name it and the line.
    pub fn backends(&self) -> anyhow::Result<Backends> {
        let standard = Backends::standard();
        let Some(path) = &self.backends_file else {
            return Ok(standard);
        };
        let reserved: Vec<&str> = standard.names().collect();
        let configured = config::load(path, &reserved)?;
        for backend in &configured {
            log::info!(
                "OpenID Connect backend {} accepts ID tokens of {}",
                backend.name,
                backend.issuer
            );
        }
        Ok(standard.with_oidc(configured.into_iter().map(OidcBackend::new).collect()))
    }

    pub fn client_config(&self) -> ProviderClientConfig {
        ProviderClientConfig {
            base_url: self.fake_social_site_url.clone(),
            connect_timeout: Duration::from_millis(self.social_connect_timeout_ms),
            timeout: Duration::from_millis(self.social_timeout_ms),
            max_body_bytes: self.social_max_response_bytes,
        }
    }
}

/// Bounds of the resource API under `/api/`: page sizes of its lists (as DRF's
/// `PAGE_SIZE` and `max_page_size`) and how many items one user may own.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiSettings {
    /// Objects per page of a list under /api/ when the caller gives no `page_size`.
    #[arg(long, env = "PAGE_SIZE", default_value_t = DEFAULT_PAGE_SIZE,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,

    /// Largest `page_size` a caller may ask for; larger requests get this many.
    #[arg(long, env = "MAX_PAGE_SIZE", default_value_t = DEFAULT_MAX_PAGE_SIZE,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_page_size: u32,

    /// Items one user may own; creating one more is refused (403). 0: no limit.
    #[arg(long, env = "MAX_ITEMS_PER_USER", default_value_t = DEFAULT_MAX_ITEMS_PER_USER)]
    pub max_items_per_user: u32,
}

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const DEFAULT_MAX_PAGE_SIZE: u32 = 100;
pub const DEFAULT_MAX_ITEMS_PER_USER: u32 = 1_000;

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            page_size: DEFAULT_PAGE_SIZE,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            max_items_per_user: DEFAULT_MAX_ITEMS_PER_USER,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub db: DbConfig,
    pub provider: ProviderSettings,
    pub social: SocialSettings,
    pub api: ApiSettings,
    /// Serve the browser test page, which offers the demo accounts (`--demo`).
    pub demo: bool,
}

impl Settings {
    pub fn new(
        db_path: impl Into<shared::storage::db::DatabaseUrl>,
        bind: impl Into<String>,
    ) -> Self {
        Settings {
            bind: bind.into(),
            db: DbConfig::new(db_path),
            provider: ProviderSettings::default(),
            social: SocialSettings::default(),
            api: ApiSettings::default(),
            demo: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn api_settings(args: &[&str]) -> Result<super::ApiSettings, clap::Error> {
        let cli = Cli::try_parse_from(["my-api", "serve"].iter().chain(args))?;
        match cli.command {
            Command::Serve(serve) => Ok(serve.api),
            _ => unreachable!("serve parses as serve"),
        }
    }

    #[test]
    fn the_resource_api_bounds_come_from_flags_and_a_page_holds_at_least_one_object() {
        let api = api_settings(&[
            "--page-size",
            "20",
            "--max-page-size",
            "40",
            "--max-items-per-user",
            "0",
        ])
        .expect("valid flags");
        assert_eq!(
            (api.page_size, api.max_page_size, api.max_items_per_user),
            (20, 40, 0)
        );
        assert!(api_settings(&["--page-size", "0"]).is_err());
        assert!(api_settings(&["--max-page-size", "0"]).is_err());
    }
}
