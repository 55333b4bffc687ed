//! Every answer, errors and 404s included, tells browsers not to sniff content types and not
//! to send a referrer.

use test_support::http::assert_security_headers;

use crate::helpers::spawn_app;

#[actix_rt::test]
async fn every_answer_carries_nosniff_and_no_referrer() {
    let app = spawn_app().await;
    let answers = [
        app.get("/healthz").await,
        app.metadata().await,
        app.get("/no/such/path").await,
        app.http
            .delete(app.url("/healthz"))
            .send()
            .await
            .expect("DELETE /healthz"),
        app.password_grant("admin", "wrong").await,
        app.user_details("not-a-token").await,
        app.post_token(&[("grant_type", "password")]).await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 404, 405, 400, 401, 401]);
    for response in &answers {
        assert_security_headers(response);
    }
}
