//! The command line both services share: its frame ([`Cli`], [`main`]), the manage.py-like
//! commands (DESIGN.md §3) and the `serve` sequence; each service brings its `serve` options
//! and any commands of its own.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::security::password::PasswordHasher;
use crate::security::secret::{Secret, random_alphanumeric};
use crate::service::admin;
use crate::service::logging::LogFormat;
use crate::service::server::{Application, ServiceSettings};
use crate::storage::applications::{self, GrantTypes, NewApplication};
use crate::storage::db::{self, DbConfig};
use crate::storage::fixtures::{self, ModelLoader};
use crate::storage::users::{self, NewUser};

/// A service's commands, and the name and description its command line shows.
pub trait Commands: clap::Subcommand {
    const NAME: &'static str;
    const ABOUT: &'static str;
}

/// A service's command line: the global options, then one of its commands `C`. The version
/// is the workspace's, which every crate shares.
#[derive(Debug, clap::Parser)]
#[command(name = C::NAME, version, about = C::ABOUT)]
pub struct Cli<C: Commands> {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: C,
}

/// A binary's `main` once its runtime runs: parses the command line (help, version and bad
/// arguments exit as clap has them), starts logging, runs the command and turns an error,
/// with its causes, into exit code 1.
pub async fn main<C, Fut>(run: impl FnOnce(Cli<C>) -> Fut) -> ExitCode
where
    C: Commands,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let cli = match <Cli<C> as clap::Parser>::try_parse() {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_logging(cli.global.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// The database: a SQLite file (a path or sqlite:// URL) or a postgres:// URL.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,

    /// Log lines as readable text or as one JSON object each.
    #[arg(long, global = true, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

impl GlobalArgs {
    /// The configured database, or the service's default SQLite file; a bad URL is named
    /// (without its password).
    pub fn db_url(&self, default: &str) -> anyhow::Result<db::DatabaseUrl> {
        Ok(db::DatabaseUrl::parse(
            self.database.as_deref().unwrap_or(default),
        )?)
    }
}

/// `--client-type`: the stored [`applications::ClientType`], as a command-line choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientType {
    Public,
    Confidential,
}

impl From<ClientType> for applications::ClientType {
    fn from(kind: ClientType) -> Self {
        match kind {
            ClientType::Public => applications::ClientType::Public,
            ClientType::Confidential => applications::ClientType::Confidential,
        }
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ManageCommand {
    /// Apply pending database migrations.
    Migrate,
    /// Load Django-format fixtures (idempotent by primary key).
    Loaddata {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write what a deployment needs to move to another database (users, applications, live
    /// tokens, signing keys, consents and the service's own records) as a Django fixture,
    /// for `loaddata` on the other side. SECRET: it holds the password hashes, the client
    /// secret hashes, the token records and the private signing keys. Keep it where only you
    /// can read it and delete it once loaded.
    Dumpdata {
        /// Write to this new file (mode 0600) instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Replace the --output file if it exists.
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// Create a user.
    Createuser {
        #[arg(long)]
        username: String,
        #[arg(long, env = "CREATEUSER_PASSWORD", hide_env_values = true)]
        password: Secret,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
        /// bcrypt cost of the password hash.
        #[arg(long, env = "BCRYPT_COST", default_value_t = crate::security::password::DEFAULT_COST,
              value_parser = clap::value_parser!(u32).range(4..=31))]
        bcrypt_cost: u32,
    },
    /// Register an OAuth2 client; prints its id and, for a confidential client, its secret.
    Createapplication {
        #[arg(long)]
        name: String,
        /// [default: a random 40-character id]
        #[arg(long)]
        client_id: Option<String>,
        #[arg(long, value_enum, default_value_t = ClientType::Public)]
        client_type: ClientType,
        /// A grant the client may use; repeat for several (refresh_token comes with password).
        #[arg(long = "grant-type", default_value = "password")]
        grant_types: Vec<String>,
        /// For a confidential client that already exists: give it a new secret instead of
        /// failing (provisioning scripts run this on every deploy).
        #[arg(long)]
        rotate_secret: bool,
        /// Allow this (confidential) client to introspect tokens at /o/introspect/
        /// (RFC 7662); others get 403. With --rotate-secret, an existing client gets exactly
        /// what this command says.
        #[arg(long)]
        allow_introspection: bool,
        /// A redirect URI for the authorization code flow, matched exactly; repeat for
        /// several.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// The algorithm of this client's ID tokens (OpenID Connect
        /// `id_token_signed_response_alg`).
        #[arg(long, value_parser = ["ES256", "RS256"], default_value = "ES256")]
        id_token_alg: String,
    },
    /// Delete expired and revoked tokens.
    Cleartokens,
    /// Make a new active signing key for each algorithm in use (or for --alg). The old key
    /// stops signing but stays published until every token it signed has expired, so nobody
    /// is logged out; running services pick the new key up within their reload interval.
    Rotatekeys {
        /// Rotate only this algorithm (ES256 or RS256); makes its first key if it has none.
        #[arg(long)]
        alg: Option<crate::storage::tokens::SigningAlg>,
        /// The services' access token lifetime in seconds: how long the old key stays
        /// published (plus a margin for services that have not reloaded yet).
        #[arg(long, env = "ACCESS_TOKEN_EXPIRE_SECONDS", default_value_t = crate::storage::tokens::DEFAULT_ACCESS_TTL,
              value_parser = clap::value_parser!(i64).range(1..=365 * 24 * 3600))]
        access_token_expire_seconds: i64,
    },
    /// Users: list, show, deactivate, activate, set-password.
    Users {
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: admin::UsersCommand,
    },
    /// Applications: list, show, delete, rotate-secret.
    Applications {
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: admin::ApplicationsCommand,
    },
    /// Tokens: revoke a user's.
    Tokens {
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: admin::TokensCommand,
    },
}

/// Runs one command against the database at `db`.
pub fn run(
    command: ManageCommand,
    db: &DbConfig,
    migrations: &[db::Migrations],
    loaders: &[&dyn ModelLoader],
) -> anyhow::Result<()> {
    let url = db.url.clone();
    if let (ManageCommand::Dumpdata { .. }, Some(path)) = (&command, url.sqlite_path()) {
        // Opening would create an empty database, and a mistyped path dump nothing.
        anyhow::ensure!(path.exists(), "there is no database at {}", path.display());
    }
    let db = db::Db::open(db, migrations)?;
    let mut conn = db.get()?;
    match command {
        ManageCommand::Migrate => println!("Migrations applied to {url}."),
        ManageCommand::Loaddata { files } => {
            for file in files {
                let count = fixtures::load_file(&mut conn, &file, loaders)?;
                println!("Installed {count} object(s) from {}.", file.display());
            }
        }
        ManageCommand::Dumpdata { output, force } => dumpdata(&mut conn, output, force, loaders)?,
        ManageCommand::Createuser {
            username,
            password,
            email,
            first_name,
            last_name,
            bcrypt_cost,
        } => {
            anyhow::ensure!(!password.is_empty(), "the password must not be empty");
            anyhow::ensure!(
                !username.trim().is_empty()
                    && !crate::security::text::has_control_characters(&username),
                "the username must not be empty or hold control characters"
            );
            let hash = PasswordHasher::new(bcrypt_cost, 1).hash_blocking(&password)?;
            let mut user = NewUser::new(username, hash);
            user.email = email;
            user.first_name = first_name;
            user.last_name = last_name;
            let user = users::create(&mut conn, &user).context("cannot create the user")?;
            println!("Created user {} (id {}).", user.username, user.id);
        }
        ManageCommand::Createapplication {
            name,
            client_id,
            client_type,
            grant_types,
            rotate_secret,
            allow_introspection,
            redirect_uris,
            id_token_alg,
        } => {
            anyhow::ensure!(
                !allow_introspection || client_type == ClientType::Confidential,
                "only a confidential client may introspect tokens"
            );
            if let (true, ClientType::Confidential, Some(id)) =
                (rotate_secret, client_type, client_id.as_deref())
                && applications::find_by_client_id(&mut conn, id)?.is_some()
            {
                let secret = applications::provision_confidential(
                    &mut conn,
                    id,
                    &name,
                    allow_introspection,
                )?;
                println!("client_id: {id}");
                println!("client_secret: {}", secret.expose());
                println!("Store the secret now: it cannot be shown again.");
                return Ok(());
            }
            let secret = (client_type == ClientType::Confidential)
                .then(|| Secret::new(random_alphanumeric(64)));
            let grants = grant_types
                .iter()
                .map(|g| GrantTypes::from_django(g))
                .collect::<Result<GrantTypes, String>>()
                .map_err(anyhow::Error::msg)?;
            for uri in &redirect_uris {
                applications::check_redirect_uri(uri).map_err(anyhow::Error::msg)?;
            }
            anyhow::ensure!(
                !grants.contains(applications::GrantType::AuthorizationCode)
                    || !redirect_uris.is_empty(),
                "the authorization_code grant needs at least one --redirect-uri"
            );
            let app = applications::create(
                &mut conn,
                &NewApplication {
                    id: None,
                    client_id: client_id.unwrap_or_else(|| random_alphanumeric(40)),
                    name,
                    client_type: client_type.into(),
                    client_secret_hash: secret.as_ref().map(applications::hash_secret),
                    grant_types: grants,
                    user_id: None,
                    created: crate::clock::now(),
                },
            )
            .context("cannot create the application")?;
            if allow_introspection {
                applications::allow_introspection(&mut conn, &app.client_id, true)?;
            }
            applications::set_openid_client(
                &mut conn,
                &app.client_id,
                &redirect_uris,
                &id_token_alg,
            )
            .map_err(anyhow::Error::msg)?;
            if id_token_alg == "RS256" {
                // The RSA key is made at once, not at the client's first ID token: a relying
                // party that fetched the JWKS before then would not know it. A running service
                // reads it on its next key reload.
                let alg = crate::storage::tokens::SigningAlg::Rs256;
                crate::storage::tokens::keys::ensure_active(&mut conn, alg)?;
            }
            println!("client_id: {}", app.client_id);
            if let Some(secret) = secret {
                // Shown once on the operator's terminal, never logged; only its hash is kept.
                println!("client_secret: {}", secret.expose());
                println!("Store the secret now: it cannot be shown again.");
            }
        }
        ManageCommand::Cleartokens => {
            let removed = crate::storage::tokens::clear_tokens(&mut conn, 10_000)?;
            println!("Removed {removed} expired or revoked token(s).");
        }
        ManageCommand::Rotatekeys {
            alg,
            access_token_expire_seconds,
        } => {
            use crate::storage::tokens::keys;
            let algs = match alg {
                Some(alg) => vec![alg],
                None => keys::active_algs(&mut conn)?,
            };
            anyhow::ensure!(
                !algs.is_empty(),
                "there is no signing key yet: start the service once, or name one with --alg"
            );
            for alg in algs {
                let (new, old) = keys::rotate(&mut conn, alg, access_token_expire_seconds)?;
                let expires = keys::expiry(crate::clock::now(), access_token_expire_seconds);
                match old {
                    Some(old) => println!(
                        "{alg}: key {new} is active; {old} is retired and published until {expires} (Unix time)."
                    ),
                    None => println!("{alg}: key {new} is active."),
                }
            }
        }
        ManageCommand::Users { json, command } => admin::users(&mut conn, command, json)?,
        ManageCommand::Applications { json, command } => {
            admin::applications(&mut conn, command, json)?;
        }
        ManageCommand::Tokens { json, command } => admin::tokens(&mut conn, command, json)?,
    }
    Ok(())
}

/// `dumpdata`: the fixture to stdout (nothing else is printed there), or to a new private
/// file.
fn dumpdata(
    conn: &mut db::Connection,
    output: Option<PathBuf>,
    force: bool,
    loaders: &[&dyn ModelLoader],
) -> anyhow::Result<()> {
    let Some(path) = output else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        fixtures::dump(conn, loaders, &mut out)?;
        return Ok(());
    };
    match fixtures::dump_file(conn, &path, force, loaders) {
        Ok(count) => {
            println!("Dumped {count} object(s) to {}.", path.display());
            Ok(())
        }
        Err(e @ fixtures::FixtureError::Exists { .. }) => {
            Err(anyhow::anyhow!("{e}: pass --force to replace it"))
        }
        Err(e) => Err(e.into()),
    }
}

/// `serve` as both binaries run it: starts the metrics listener `observe` asks for (before
/// the service: it reads whether to observe requests), builds the service from `settings`,
/// says where `name` listens, and serves until stopped, then stops the metrics listener.
pub async fn serve(
    name: &str,
    observe: &crate::service::metrics::ObserveSettings,
    settings: impl ServiceSettings,
) -> anyhow::Result<()> {
    let metrics = observe.start()?;
    let app = Application::build(settings)?;
    let bound = format!("http://{}", app.bound());
    if app.url() == bound {
        log::info!("{name} listening on {bound}");
    } else {
        log::info!("{name} listening on {bound} as {}", app.url());
    }
    let served = app.run_until_stopped().await;
    if let Some(metrics) = metrics {
        metrics.stop().await;
    }
    Ok(served?)
}

/// Logging for the binaries: `RUST_LOG` or `info`, in `format` (see
/// [`crate::service::logging`]).
pub fn init_logging(format: LogFormat) {
    crate::service::logging::init(format);
}
