//! The command line: `serve` plus the shared manage.py-like commands.

use clap::{Parser, Subcommand};
use shared::oauth2::oidc::OidcSettings;
use shared::oauth2::settings::ProviderSettings;
use shared::service::cli::{GlobalArgs, ManageCommand};
use shared::service::metrics::ObserveSettings;
use shared::storage::db::DbConfig;

use crate::{Application, Settings};

pub const DEFAULT_DATABASE: &str = "data/fake-social-site.sqlite3";

#[derive(Debug, Parser)]
#[command(
    name = "fake-social-site",
    version,
    about = "Fake Social Site: an OAuth2 provider with user profiles"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
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
    let path = cli.global.db_path(DEFAULT_DATABASE);
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings {
                bind: args.bind,
                db: args.provider.db_config(path),
                provider: args.provider,
                oidc: args.oidc,
            };
            let build = || Application::build(settings);
            shared::service::cli::serve(
                "Fake Social Site",
                &args.observe,
                build,
                Application::run_until_stopped,
            )
            .await
        }
        Command::Manage(command) => {
            shared::service::cli::run(command, &DbConfig::new(path), &[], &[])
        }
    }
}
