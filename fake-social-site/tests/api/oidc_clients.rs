//! Registering OpenID Connect clients (issue 13, points 1, 5 and 7): `createapplication
//! --grant-type authorization_code --redirect-uri URI... --id-token-alg`, and the demo
//! fixture's `my-api-app`.

use clap::Parser;
use shared::service::cli::ManageCommand;
use shared::storage::applications::{self, GrantType};
use shared::storage::tokens::{SigningAlg, keys};

use crate::helpers::{MY_API_APP, TestApp, spawn_app};

fn createapplication(app: &TestApp, args: &[&str]) -> anyhow::Result<()> {
    #[derive(Parser)]
    struct Manage {
        #[command(subcommand)]
        command: ManageCommand,
    }
    let parsed = Manage::try_parse_from(
        ["manage", "createapplication", "--name", "web"]
            .iter()
            .chain(args),
    )?;
    shared::service::cli::run(parsed.command, &app.db_config(), &[], &[])
}

#[actix_rt::test]
async fn createapplication_registers_redirect_uris_and_the_id_token_algorithm() {
    let app = spawn_app().await;
    createapplication(
        &app,
        &[
            "--client-id",
            "web",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "https://rp.example/callback",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb?x=1",
            "--id-token-alg",
            "RS256",
        ],
    )
    .expect("create the client");
    let client = applications::find_by_client_id(&mut app.db(), "web")
        .expect("read")
        .expect("created");
    assert_eq!(
        client.redirect_uris,
        "https://rp.example/callback http://127.0.0.1:9000/cb?x=1"
    );
    assert!(client.has_redirect_uri("http://127.0.0.1:9000/cb?x=1"));
    assert!(!client.has_redirect_uri("https://rp.example/callback/"));
    assert_eq!(client.id_token_alg, "RS256");
    assert!(client.allows_grant(GrantType::AuthorizationCode));
    // The RSA key exists before the first ID token, so the JWKS can carry it.
    let algs = keys::active_algs(&mut app.db()).expect("read the keys");
    assert!(algs.contains(&SigningAlg::Rs256), "{algs:?}");
}

#[actix_rt::test]
async fn createapplication_refuses_bad_redirect_uris_and_algorithms() {
    let app = spawn_app().await;
    for args in [
        // The code flow needs somewhere to send the code.
        vec!["--grant-type", "authorization_code"],
        vec![
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "https://rp.example/#frag",
        ],
        vec![
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "/relative",
        ],
        vec![
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "https://rp.example/a b",
        ],
        vec![
            "--redirect-uri",
            "https://rp.example/",
            "--id-token-alg",
            "HS256",
        ],
    ] {
        assert!(createapplication(&app, &args).is_err(), "{args:?}");
    }
    assert_eq!(app.count_accounts().1, 2, "nothing was created");
}

#[actix_rt::test]
async fn the_demo_fixture_registers_my_api_app_for_the_code_flow_from_my_apis_test_page() {
    let app = spawn_app().await;
    let client = applications::find_by_client_id(&mut app.db(), MY_API_APP)
        .expect("read")
        .expect("in the fixture");
    assert!(
        !client.is_confidential(),
        "a public client: PKCE, no secret"
    );
    assert!(client.allows_grant(GrantType::AuthorizationCode));
    assert!(
        client.allows_grant(GrantType::Password),
        "the seed's flow still works"
    );
    assert!(client.has_redirect_uri("http://127.0.0.1:8000/"));
    assert!(client.has_redirect_uri("http://localhost:8000/"));
    assert_eq!(client.id_token_alg, "ES256");
}
