//! The command line: `serve` plus the shared manage.py-like commands.

use clap::Subcommand;
use shared::oauth2::settings::ProviderSettings;
use shared::service::cli::{Commands, ManageCommand};
use shared::service::metrics::ObserveSettings;
use shared::storage::db::DbConfig;

use crate::settings::{ApiSettings, Settings, SocialSettings};
use crate::social::identities::IdentitiesCommand;
use crate::startup::MIGRATIONS;

pub const DEFAULT_DATABASE: &str = "data/my-api.sqlite3";

/// The command line: the global options, then a [`Command`].
pub type Cli = shared::service::cli::Cli<Command>;

impl Commands for Command {
    const NAME: &'static str = "my-api";
    const ABOUT: &'static str =
        "My API: an OAuth2 provider that also accepts Fake Social Site users";
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP.
    Serve(Box<ServeArgs>),
    /// Social identities linked to users: list, unlink.
    Identities {
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: IdentitiesCommand,
    },
    #[command(flatten)]
    Manage(ManageCommand),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDRESS", default_value = "127.0.0.1:8000")]
    pub bind: String,
    #[command(flatten)]
    pub provider: ProviderSettings,
    #[command(flatten)]
    pub observe: ObserveSettings,
    #[command(flatten)]
    pub social: SocialSettings,
    #[command(flatten)]
    pub api: ApiSettings,
    /// Demo mode: serve the browser test page at `/`, which is pre-filled with the demo
    /// accounts. Off in production; the demo and the Vagrant VM turn it on.
    #[arg(long, env = "DEMO_MODE")]
    pub demo: bool,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let path = cli.global.db_url(DEFAULT_DATABASE)?;
    match cli.command {
        Command::Serve(args) => {
            let args = *args;
            let settings = Settings {
                bind: args.bind,
                db: args.provider.db_config(path),
                provider: args.provider,
                social: args.social,
                api: args.api,
                demo: args.demo,
            };
            shared::service::cli::serve("My API", &args.observe, settings).await
        }
        Command::Identities { json, command } => {
            let db = shared::storage::db::Db::open(&DbConfig::new(path), &[MIGRATIONS])?;
            crate::social::identities::run(&mut *db.get()?, command, json)
        }
        Command::Manage(command) => shared::service::cli::run(
            command,
            &DbConfig::new(path),
            &[MIGRATIONS],
            crate::fixtures::LOADERS,
        ),
    }
}
