//! The demo: both services side by side on loopback, their databases created and loaded
//! with the demo fixtures on first run.

use std::path::{Path, PathBuf};

use anyhow::Context;
use diesel_migrations::EmbeddedMigrations;
use shared::storage::db::{Db, DbConfig};

pub const FSS_FIXTURE: &str = include_str!("../../fixtures/fake-social-site.json");
pub const MY_API_FIXTURE: &str = include_str!("../../fixtures/my-api.json");
pub const FSS_CLIENT_ID: &str = "ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d";
/// My API's confidential client at Fake Social Site, for introspecting the tokens it gets.
pub const INTROSPECTION_CLIENT_ID: &str = "my-api-introspection";

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "demo",
    version,
    about = "Run Fake Social Site and My API side by side, ready to use"
)]
pub struct Args {
    /// Fake Social Site's port.
    #[arg(long, env = "DEMO_FSS_PORT", default_value_t = 8005)]
    pub fss_port: u16,
    /// My API's port.
    #[arg(long, env = "DEMO_API_PORT", default_value_t = 8000)]
    pub api_port: u16,
    /// Where the two SQLite databases live.
    #[arg(long, env = "DEMO_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Address to listen on (loopback unless you mean to share the demo).
    #[arg(long, env = "DEMO_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Host name others reach the demo at, for its public URLs (the tokens' issuers); needed
    /// when --host is not a loopback address [default: the bound address].
    #[arg(long, env = "DEMO_PUBLIC_HOST")]
    pub public_host: Option<String>,
    /// Port of the Prometheus `/metrics` listener, on loopback only; both services run in
    /// this one process and so share it. 0: any free port.
    #[arg(long, env = "DEMO_METRICS_PORT", default_value_t = 9000)]
    pub metrics_port: u16,
}

/// Creates a service's database with its fixtures if the file is new. Returns whether it did.
pub fn prepare_database(
    path: &Path,
    migrations: &[EmbeddedMigrations],
    fixture_name: &str,
    fixture: &str,
    loaders: &[&dyn shared::storage::fixtures::ModelLoader],
) -> anyhow::Result<bool> {
    let is_new = !path.exists();
    let db = Db::open(&DbConfig::new(path), migrations)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if is_new {
        let mut conn = db.get()?;
        shared::storage::fixtures::load_json(&mut conn, fixture_name, fixture, loaders)?;
    }
    Ok(is_new)
}

/// Gives My API's introspection client at Fake Social Site a fresh secret (created on first
/// run) and returns it: the secret lives only in this process and, hashed, in FSS's database.
pub fn provision_introspection_client(
    fss_db: &Path,
) -> anyhow::Result<shared::security::secret::Secret> {
    let db = Db::open(&DbConfig::new(fss_db), &[])?;
    let mut conn = db.get()?;
    Ok(shared::storage::applications::provision_confidential(
        &mut conn,
        INTROSPECTION_CLIENT_ID,
        "My API (token introspection)",
        true,
    )?)
}

/// Points My API's settings at Fake Social Site with working introspection credentials.
pub fn connect_my_api(
    settings: &mut my_api::Settings,
    fss_url: &str,
    fss_db: &Path,
) -> anyhow::Result<()> {
    settings.social.fake_social_site_url = fss_url.to_owned();
    settings.social.fake_social_site_client_id = Some(INTROSPECTION_CLIENT_ID.to_owned());
    settings.social.fake_social_site_client_secret = Some(provision_introspection_client(fss_db)?);
    Ok(())
}

pub fn banner(fss: &str, api: &str, metrics: &str) -> String {
    format!(
        r#"
  Fake Social Site  {fss}
      accounts: admin/admin, user1/user1, user2/user2
  My API            {api}
      local account: admin/admin — open {api}/ in a browser for the test page
  Metrics           {metrics}
      both services' Prometheus metrics; every answer carries an X-Request-Id

  Try it (copy the three lines into a shell):
    FSS_TOKEN=$(curl -s -X POST -d 'grant_type=password&username=admin&password=admin&client_id={FSS_CLIENT_ID}' {fss}/o/token/ | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    API_TOKEN=$(curl -s -X POST -d "access_token=$FSS_TOKEN" {api}/users/register-by-token/fake_social_site/ | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    curl -s -H "Authorization: Bearer $API_TOKEN" {api}/api/items/

  Ctrl-C stops both.
"#
    )
}

/// Prepares both databases, binds both ports, and serves until Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let fss_db = args.data_dir.join("fake-social-site.sqlite3");
    let api_db = args.data_dir.join("my-api.sqlite3");
    // Bind both first: a port in use is one clear error before anything else happens.
    let fss_listener = shared::service::http::bind(&format!("{}:{}", args.host, args.fss_port))?;
    let api_listener = shared::service::http::bind(&format!("{}:{}", args.host, args.api_port))?;
    for (path, created) in [
        (
            &fss_db,
            prepare_database(&fss_db, &[], "fake-social-site.json", FSS_FIXTURE, &[])?,
        ),
        (
            &api_db,
            prepare_database(
                &api_db,
                &[my_api::MIGRATIONS],
                "my-api.json",
                MY_API_FIXTURE,
                my_api::fixtures::LOADERS,
            )?,
        ),
    ] {
        let what = if created {
            "created with the demo data"
        } else {
            "reused"
        };
        log::info!("database {} {what}", path.display());
    }
    let public_url = |port: u16| {
        args.public_host
            .as_ref()
            .map(|host| format!("http://{host}:{port}"))
    };
    let api_origin = match public_url(args.api_port) {
        Some(url) => url,
        None => format!("http://{}", api_listener.local_addr()?),
    };
    let mut fss_settings = fake_social_site::Settings::new(&fss_db, "");
    fss_settings.provider.public_url = public_url(args.fss_port);
    fss_settings.provider.cors_origins = vec![
        api_origin.clone(),
        format!("http://localhost:{}", args.api_port),
    ];
    let fss = fake_social_site::Application::build_with_listener(fss_settings, fss_listener)?;
    let mut api_settings = my_api::Settings::new(&api_db, "");
    api_settings.provider.public_url = public_url(args.api_port);
    // The demo is what the test page and its pre-filled accounts are for.
    api_settings.demo = true;
    connect_my_api(&mut api_settings, fss.url(), &fss_db)?;
    let api = my_api::Application::build_with_listener(api_settings, api_listener)?;
    // Metrics are a convenience here: a taken port is a warning, not a failed demo.
    let metrics = match shared::service::http::bind(&format!("127.0.0.1:{}", args.metrics_port))
        .and_then(shared::service::metrics::MetricsServer::start)
    {
        Ok(server) => Some(server),
        Err(e) => {
            log::warn!("metrics are not served: {e:#}");
            None
        }
    };
    let metrics_url = metrics
        .as_ref()
        .map_or("not served (see the log)", |m| m.url());
    println!("{}", banner(fss.url(), api.url(), metrics_url));
    let (fss_result, api_result) =
        futures_util::future::join(fss.run_until_stopped(), api.run_until_stopped()).await;
    if let Some(metrics) = metrics {
        metrics.stop().await;
    }
    fss_result?;
    api_result?;
    Ok(())
}
