//! The demo: both services side by side on loopback, their databases created and loaded
//! with the demo fixtures on first run, and a banner that shows how to use them (the password
//! grant with curl, and the OpenID Connect code flow: discovery, authorize URL, code exchange).

use std::path::{Path, PathBuf};

use anyhow::Context;
use shared::storage::db::Migrations;
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
    migrations: &[Migrations],
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

/// Registers `redirect_uri` (My API's test page where this demo serves it) for `my-api-app`
/// at Fake Social Site, beside the fixture's, so that the banner's authorize URL works on any
/// port. Nothing changes when it is registered already (the default ports).
pub fn register_redirect_uri(fss_db: &Path, redirect_uri: &str) -> anyhow::Result<()> {
    let db = Db::open(&DbConfig::new(fss_db), &[])?;
    let mut conn = db.get()?;
    let client = shared::storage::applications::find_by_client_id(&mut conn, FSS_CLIENT_ID)?
        .with_context(|| format!("no client {FSS_CLIENT_ID} in {}", fss_db.display()))?;
    if client.has_redirect_uri(redirect_uri) {
        return Ok(());
    }
    let mut uris: Vec<String> = client
        .redirect_uris
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    uris.push(redirect_uri.to_owned());
    shared::storage::applications::set_openid_client(
        &mut conn,
        FSS_CLIENT_ID,
        &uris,
        &client.id_token_alg,
    )
    .map_err(anyhow::Error::msg)
    .with_context(|| format!("cannot register the redirect URI {redirect_uri}"))?;
    Ok(())
}

/// The demo's name for Fake Social Site as an OpenID Connect backend (ID tokens).
pub const FSS_OIDC_BACKEND: &str = "fake_social_site_oidc";

/// The backends file declaring FSS, which issues tokens as `fss_url`, as the OpenID Connect
/// backend [`FSS_OIDC_BACKEND`] accepting ID tokens of its `my-api-app`.
pub fn backends_file(fss_url: &str) -> String {
    format!(
        "# Written by the demo at each start: Fake Social Site as an OpenID Connect backend.\n\
         [[backend]]\n\
         name = \"{FSS_OIDC_BACKEND}\"\n\
         issuer = \"{fss_url}\"\n\
         client_ids = [\"{}\"]\n\
         algorithms = [\"ES256\", \"RS256\"]\n",
        my_api::settings::DEFAULT_TRUSTED_CLIENT_ID
    )
}

/// Points My API's settings at Fake Social Site with working introspection credentials, and
/// declares FSS as the OpenID Connect backend [`FSS_OIDC_BACKEND`] in a backends file written
/// beside FSS's database.
pub fn connect_my_api(
    settings: &mut my_api::Settings,
    fss_url: &str,
    fss_db: &Path,
) -> anyhow::Result<()> {
    settings.social.fake_social_site_url = fss_url.to_owned();
    settings.social.fake_social_site_client_id = Some(INTROSPECTION_CLIENT_ID.to_owned());
    settings.social.fake_social_site_client_secret = Some(provision_introspection_client(fss_db)?);
    let backends = fss_db.with_file_name("backends.toml");
    std::fs::write(&backends, backends_file(fss_url))
        .with_context(|| format!("cannot write {}", backends.display()))?;
    settings.social.backends_file = Some(backends);
    Ok(())
}

/// The demo's fixed PKCE verifier (RFC 7636 §4.1: 43 to 128 unreserved characters). Fixed so
/// that the banner's lines can be copied as they are; a real client makes a new one per login.
pub const DEMO_PKCE_VERIFIER: &str = "demo-pkce-verifier-for-the-banner-0123456789abcdef";
/// The `state` and `nonce` the banner's authorize URL carries (fixed for the same reason).
pub const DEMO_STATE: &str = "demo-state";
pub const DEMO_NONCE: &str = "demo-nonce";
/// What the banner's authorize URL asks for.
pub const DEMO_SCOPE: &str = "openid profile email read";

/// My API's test page, where FSS sends the browser back with the code.
pub fn redirect_uri(api: &str) -> String {
    format!("{api}/")
}

/// The authorization request (OpenID Connect Core §3.1.2.1) for `my-api-app`, with the S256
/// challenge of [`DEMO_PKCE_VERIFIER`].
pub fn authorize_url(fss: &str, api: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", FSS_CLIENT_ID),
            ("redirect_uri", &redirect_uri(api)),
            ("scope", DEMO_SCOPE),
            ("state", DEMO_STATE),
            ("nonce", DEMO_NONCE),
            (
                "code_challenge",
                &shared::oauth2::pkce::challenge_of(DEMO_PKCE_VERIFIER),
            ),
            ("code_challenge_method", shared::oauth2::pkce::S256),
        ])
        .finish();
    format!("{fss}/o/authorize/?{query}")
}

pub fn banner(fss: &str, api: &str, metrics: &str) -> String {
    let authorize = authorize_url(fss, api);
    let redirect = redirect_uri(api);
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

  Sign in with OpenID Connect (code flow with PKCE; see the README):
    curl -s {fss}/.well-known/openid-configuration
    Open in a browser, log in as admin/admin and allow; the address you land on has ?code=CODE:
      {authorize}
    Then, within 60 seconds, with CODE replaced (the verifier proves you made the request):
    curl -s -d grant_type=authorization_code -d client_id={FSS_CLIENT_ID} -d redirect_uri={redirect} -d code_verifier={DEMO_PKCE_VERIFIER} -d code=CODE {fss}/o/token/

  Ctrl-C stops both.
"#
    )
}

/// Ctrl-C (or SIGTERM) stops both services, however soon after the banner it comes. Each
/// server listens for signals only once it runs, which can be after the banner is printed; a
/// signal seen by one of them alone would stop it and leave the other serving. The listeners
/// here are registered before the banner, so the signal always stops both.
fn stop_both_on_signal(
    fss: &fake_social_site::Application,
    api: &my_api::Application,
) -> anyhow::Result<()> {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let handles = [fss.handle(), api.handle()];
    actix_web::rt::spawn(async move {
        futures_util::future::select(Box::pin(interrupt.recv()), Box::pin(terminate.recv())).await;
        for handle in handles {
            handle.stop(true).await;
        }
    });
    Ok(())
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
    register_redirect_uri(&fss_db, &redirect_uri(&api_origin))?;
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
    stop_both_on_signal(&fss, &api)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_declares_fss_as_an_oidc_backend_my_api_accepts() {
        let text = backends_file("http://127.0.0.1:8005");
        let backends = my_api::social::oidc::config::parse(&text, &["fake_social_site"])
            .expect("a valid backends file");
        assert_eq!(backends.len(), 1);
        assert_eq!(backends[0].name, FSS_OIDC_BACKEND);
        assert_eq!(backends[0].issuer, "http://127.0.0.1:8005");
        assert_eq!(
            backends[0].client_ids,
            ["ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d"]
        );
    }
}
