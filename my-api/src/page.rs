//! `GET /`: the browser test page, self-contained (no CDN), with Fake Social Site's URL and
//! the page's client id there filled in. The page is also the redirect URI of its sign-in
//! (OpenID Connect code flow), so it arrives with a code in its query string.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use shared::service::openapi::Detail;

const INDEX: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STYLE_CSS: &str = include_str!("../static/style.css");

/// The client id of the page at Fake Social Site (the fixtures' public `my-api-app`, whose
/// redirect URIs are this page).
pub const PAGE_CLIENT_ID: &str = crate::settings::DEFAULT_TRUSTED_CLIENT_ID;

/// The page as served: the placeholders replaced once at start-up.
#[derive(Debug, Clone)]
pub struct TestPage {
    html: String,
    csp: String,
}

impl TestPage {
    /// The page for Fake Social Site at `fake_social_site_url` (as browsers reach it).
    pub fn new(fake_social_site_url: &str) -> anyhow::Result<Self> {
        let origin = reqwest::Url::parse(fake_social_site_url)
            .ok()
            .map(|url| url.origin())
            .filter(|origin| origin.is_tuple())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "FAKE_SOCIAL_SITE_PUBLIC_URL: {fake_social_site_url:?} is not an http(s) URL"
                )
            })?
            .ascii_serialization();
        Ok(TestPage {
            html: INDEX
                .replace("{{FAKE_SOCIAL_SITE_URL}}", &escape(fake_social_site_url))
                .replace("{{FAKE_SOCIAL_SITE_CLIENT_ID}}", &escape(PAGE_CLIENT_ID)),
            // Scripts and styles from this origin only; requests to this origin and to Fake
            // Social Site only, so an injected script could not send a token elsewhere.
            csp: format!(
                "default-src 'self'; connect-src 'self' {origin}; img-src 'self' data:; \
                 frame-ancestors 'none'"
            ),
        })
    }
}

/// `value` as HTML attribute text.
fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(index)))
        .service(web::resource("/static/app.js").route(web::get().to(app_js)))
        .service(web::resource("/static/style.css").route(web::get().to(style_css)));
}

/// Outside demo mode the page's paths answer GET with the documented 404, and, as every other
/// route, another method with 405 and `Allow` (not the fallback's 404).
pub fn routes_without_page(cfg: &mut web::ServiceConfig) {
    for path in ["/", "/static/app.js", "/static/style.css"] {
        cfg.service(web::resource(path).route(web::get().to(shared::service::http::not_found)));
    }
}

/// Describes `GET $path`, one of the page's files (`$what`, as `$type`), on the handler that
/// follows; outside demo mode it is the documented 404.
macro_rules! page_file {
    ($path:tt, $id:tt, $what:tt, $type:tt; $($handler:tt)*) => {
        #[utoipa::path(
            get,
            path = $path,
            operation_id = $id,
            tag = "page",
            summary = $what,
            responses(
                (status = 200, description = $what, body = String, content_type = $type),
                (status = 404, body = Detail,
                    description = "Not served: the test page needs demo mode (--demo, DEMO_MODE)."),
            )
        )]
        $($handler)*
    };
}

page_file! {
    "/", "page", "The browser test page", "text/html";
    pub(crate) async fn index(page: web::Data<TestPage>) -> HttpResponse {
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::CONTENT_SECURITY_POLICY, page.csp.clone()))
            .body(page.html.clone())
    }
}

page_file! {
    "/static/app.js", "page_script", "The test page's script", "text/javascript";
    pub(crate) async fn app_js() -> HttpResponse {
        HttpResponse::Ok()
            .content_type("text/javascript; charset=utf-8")
            .body(APP_JS)
    }
}

page_file! {
    "/static/style.css", "page_style", "The test page's style sheet", "text/css";
    pub(crate) async fn style_css() -> HttpResponse {
        HttpResponse::Ok()
            .content_type("text/css; charset=utf-8")
            .body(STYLE_CSS)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::{Method, StatusCode};
    use actix_web::{App, test};

    #[actix_rt::test]
    async fn every_placeholder_is_filled_in_and_escaped() {
        let page = super::TestPage::new("http://127.0.0.1:8005/?a=\"b\"&c").expect("a page");
        assert!(!page.html.contains("{{"), "{}", page.html);
        assert!(page.html.contains(
            r#"<meta name="fake-social-site-url" content="http://127.0.0.1:8005/?a=&quot;b&quot;&amp;c">"#
        ));
        let client = format!(
            r#"<meta name="fake-social-site-client-id" content="{}">"#,
            super::PAGE_CLIENT_ID
        );
        assert!(page.html.contains(&client), "{}", page.html);
    }

    #[actix_rt::test]
    async fn outside_demo_mode_the_page_paths_refuse_other_methods_with_405() {
        let app = test::init_service(App::new().configure(super::routes_without_page)).await;
        for path in ["/", "/static/app.js", "/static/style.css"] {
            let get = test::TestRequest::get().uri(path).to_request();
            let response = test::call_service(&app, get).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            let trace = test::TestRequest::default()
                .method(Method::TRACE)
                .uri(path)
                .to_request();
            let response = test::call_service(&app, trace).await;
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        }
    }
}
