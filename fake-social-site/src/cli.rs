//! The command line: `serve` plus the shared manage.py-like commands.

use clap::Subcommand;
use shared::oauth2::oidc::OidcSettings;
use shared::oauth2::settings::ProviderSettings;
use shared::service::cli::{Commands, ManageCommand};
use shared::service::metrics::ObserveSettings;
use shared::storage::db::DbConfig;

use crate::Settings;

pub const DEFAULT_DATABASE: &str = "data/fake-social-site.sqlite3";

/// The command line: the global options, then a [`Command`].
pub type Cli = shared::service::cli::Cli<Command>;

impl Commands for Command {
    const NAME: &'static str = "fake-social-site";
    const ABOUT: &'static str = "Fake Social Site: an OAuth2 provider with user profiles";
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP.
    Serve(ServeArgs),
    #[command(flatten)]
    Manage(ManageCommand),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDRESS", default_value = "127.0.0.1:8005")]
    pub bind: String,
    #[command(flatten)]
    pub provider: ProviderSettings,
    #[command(flatten)]
    pub oidc: OidcSettings,
    #[command(flatten)]
    pub observe: ObserveSettings,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let path = cli.global.db_url(DEFAULT_DATABASE)?;
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings {
                bind: args.bind,
                db: args.provider.db_config(path),
                provider: args.provider,
                oidc: args.oidc,
            };
            shared::service::cli::serve("Fake Social Site", &args.observe, settings).await
        }
        Command::Manage(command) => {
            shared::service::cli::run(command, &DbConfig::new(path), &[], &[])
        }
    }
}
