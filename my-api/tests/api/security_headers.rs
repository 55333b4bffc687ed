//! Every answer carries nosniff and no-referrer; the test page may talk to itself and to Fake
//! Social Site's public URL only.

use reqwest::Method;
use reqwest::header::HeaderName;
use test_support::http::assert_security_headers;

use crate::helpers::*;

#[actix_rt::test]
async fn every_answer_carries_nosniff_and_no_referrer() {
    let app = spawn_app().await;
    let answers = [
        app.get_api("/healthz", None).await,
        app.get_api("/api/items/", None).await,
        app.get_api("/no/such/path", None).await,
        app.request(Method::PUT, "/api/", None, None).await,
        app.post_item(None, "x").await,
        app.get_api("/api/concepts/", Some("not-a-token")).await,
        app.local_password_grant("admin", "wrong").await,
        app.register_by_token(FSS, "not-a-token", None).await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 404, 405, 401, 401, 400, 401]);
    for response in &answers {
        assert_security_headers(response);
    }
}

#[actix_rt::test]
async fn the_test_page_may_connect_only_to_itself_and_the_fake_social_site_public_url() {
    let app = spawn_app_configured(|s| {
        s.demo = true;
        s.social.fake_social_site_public_url = Some("https://fss.example:8443/".to_owned());
    })
    .await;
    let page = app.get_api("/", None).await;
    let csp = header(&page, HeaderName::from_static("content-security-policy"));
    let connect_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("connect-src"))
        .unwrap_or_else(|| panic!("no connect-src in {csp}"));
    assert_eq!(
        connect_src, "connect-src 'self' https://fss.example:8443",
        "{csp}"
    );
    assert_security_headers(&page);
}
