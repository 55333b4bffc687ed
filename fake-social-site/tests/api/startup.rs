//! Start-up refusals: a service listening on a non-loopback address needs a public URL, or
//! its tokens' issuer would be whatever it bound (`http://0.0.0.0:8005`).

use fake_social_site::{Application, Settings};

/// 192.0.2.1 (TEST-NET-1) is no address of this machine: if the check let it through, the
/// bind would fail anyway, so no test ever listens beyond loopback.
#[test]
fn a_non_loopback_bind_without_a_public_url_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let settings = Settings::new(dir.path().join("fss.sqlite3"), "192.0.2.1:8005");
    let error = Application::build(settings)
        .expect_err("no public URL for a non-loopback address")
        .to_string();
    assert!(error.contains("PUBLIC_URL"), "{error}");
    assert!(error.contains("192.0.2.1:8005"), "{error}");
    assert!(error.contains("loopback"), "{error}");
}
