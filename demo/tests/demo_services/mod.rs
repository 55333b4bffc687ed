//! Both demo services for the headless-Chromium tests of My API's page: on free loopback
//! ports, with fresh databases holding the demo data, wired as the demo wires them (Fake
//! Social Site lets the page call it and sends the browser back to the page after sign-in).

use std::path::{Path, PathBuf};

use actix_web::dev::ServerHandle;
use tokio::task::JoinHandle;

use test_support::net::loopback_listener;

pub struct DemoServices {
    /// My API's URL: its test page is at `{api_url}/`.
    pub api_url: String,
    handles: [ServerHandle; 2],
    tasks: [JoinHandle<std::io::Result<()>>; 2],
    _dir: tempfile::TempDir,
}

impl DemoServices {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let fss_db = dir.path().join("fake-social-site.sqlite3");
        let api_db = dir.path().join("my-api.sqlite3");
        demo::prepare_database(
            &fss_db,
            &[],
            "fake-social-site.json",
            demo::FSS_FIXTURE,
            &[],
        )
        .expect("prepare Fake Social Site's database");
        demo::prepare_database(
            &api_db,
            &[my_api::MIGRATIONS],
            "my-api.json",
            demo::MY_API_FIXTURE,
            my_api::fixtures::LOADERS,
        )
        .expect("prepare My API's database");

        let (fss_listener, _) = loopback_listener();
        let (api_listener, api_url) = loopback_listener();
        // The page on this port is where FSS sends the browser back, as the demo registers it.
        demo::register_redirect_uri(&fss_db, &demo::redirect_uri(&api_url))
            .expect("register the page as a redirect URI");

        let mut fss_settings = fake_social_site::Settings::new(&fss_db, "");
        fss_settings.provider.cors_origins = vec![api_url.clone()];
        fss_settings.provider.workers = Some(1);
        fss_settings.provider.bcrypt_cost = test_support::db::TEST_COST;
        let fss = fake_social_site::Application::build_with_listener(fss_settings, fss_listener)
            .expect("build Fake Social Site");

        let mut api_settings = my_api::Settings::new(&api_db, "");
        demo::connect_my_api(&mut api_settings, fss.url(), &fss_db).expect("connect My API to FSS");
        api_settings.demo = true;
        api_settings.provider.workers = Some(1);
        api_settings.provider.bcrypt_cost = test_support::db::TEST_COST;
        let api = my_api::Application::build_with_listener(api_settings, api_listener)
            .expect("build My API");
        assert_eq!(api.url(), api_url);

        let handles = [fss.handle(), api.handle()];
        let tasks = [
            actix_rt::spawn(fss.run_until_stopped()),
            actix_rt::spawn(api.run_until_stopped()),
        ];
        DemoServices {
            api_url,
            handles,
            tasks,
            _dir: dir,
        }
    }

    /// Stops both and checks that they stopped cleanly.
    pub async fn stop(self) {
        for handle in self.handles {
            handle.stop(true).await;
        }
        for task in self.tasks {
            task.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

/// Where a page test leaves its screenshot: the path in `variable` when set (the README's
/// picture is refreshed that way), else `target/browser/<file>`; its directory is created.
pub fn screenshot_path(variable: &str, file: &str) -> PathBuf {
    let path = std::env::var_os(variable)
        .filter(|p| !p.is_empty())
        .map_or_else(
            || {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .parent()
                    .expect("the workspace directory")
                    .join("target/browser")
                    .join(file)
            },
            PathBuf::from,
        );
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).expect("create the screenshot's directory");
    }
    path
}
