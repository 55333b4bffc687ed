//! Rotation, reuse detection, revocation and clean-up on a real (temporary) database, on the
//! run's backend (`TEST_DATABASE_URL`, see `storage::testdb`).

use super::*;
use crate::storage::applications::{self, NewApplication};
use crate::storage::db::Db;
use crate::storage::schema;
use crate::storage::users::{self, NewUser};

/// Reload on every use, so a rotation is seen at once.
const POLICY: KeyPolicy = KeyPolicy {
    token_ttl: 60,
    reload_every: std::time::Duration::ZERO,
};

struct TestDb {
    db: Db,
    service: TokenService,
    user_id: i64,
    /// The database, on the run's backend; dropped after the pool above.
    _fresh: crate::storage::testdb::TestDb,
    _dir: tempfile::TempDir,
}

impl TestDb {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let fresh = crate::storage::testdb::TestDb::create(dir.path(), "tokens");
        let db = Db::open(&fresh.config(), &[]).expect("open the database");
        let mut conn = db.get().expect("a connection");
        let user = users::create(
            &mut conn,
            &NewUser::new("alice", crate::security::password::UNUSABLE),
        )
        .expect("create the user");
        let keys = JwtKeys::open(&db, "http://issuer.test", None, POLICY).expect("signing keys");
        TestDb {
            db,
            service: TokenService::new(keys, 60, 600),
            user_id: user.id,
            _fresh: fresh,
            _dir: dir,
        }
    }

    fn conn(&self) -> crate::storage::db::PooledConnection {
        self.db.get().expect("a connection")
    }

    fn client(&self, client_id: &str) -> Application {
        applications::create(
            &mut self.conn(),
            &NewApplication {
                id: None,
                client_id: client_id.to_owned(),
                name: client_id.to_owned(),
                client_type: applications::ClientType::Public,
                client_secret_hash: None,
                grant_types: applications::GrantTypes::from_django("password")
                    .expect("a known grant"),
                user_id: None,
                created: now(),
            },
        )
        .expect("create the client")
    }

    fn issue(&self, app: &Application) -> IssuedTokens {
        self.service
            .issue(&mut self.conn(), self.user_id, app, &Scope::all(), None)
            .expect("issue tokens")
    }

    fn refresh(&self, token: &Secret, app: &Application, scope: Option<&str>) -> RefreshOutcome {
        let scope = scope.map(|s| Scope::parse(s).expect("a valid scope"));
        self.service
            .refresh(&mut self.conn(), token, app, scope.as_ref())
            .expect("refresh")
    }

    fn access_works(&self, token: &Secret) -> bool {
        let claims = self
            .service
            .keys()
            .decode(token.expose())
            .expect("a token we signed");
        self.service
            .authenticate(&mut self.conn(), &claims)
            .expect("authenticate")
            .is_some()
    }
}

fn rotated(outcome: RefreshOutcome) -> IssuedTokens {
    match outcome {
        RefreshOutcome::Rotated(recorded) => recorded.sign().expect("sign"),
        other => panic!("expected a rotation, got {other:?}"),
    }
}

#[test]
fn a_rotated_refresh_token_presented_again_revokes_its_whole_family() {
    let t = TestDb::new();
    let app = t.client("client");
    let first = t.issue(&app);
    let unrelated = t.issue(&app);
    let second = rotated(t.refresh(&first.refresh_token, &app, None));
    assert!(!t.access_works(&first.access_token));
    assert!(t.access_works(&second.access_token));

    assert!(matches!(
        t.refresh(&first.refresh_token, &app, None),
        RefreshOutcome::Refused
    ));

    assert!(!t.access_works(&second.access_token));
    assert!(matches!(
        t.refresh(&second.refresh_token, &app, None),
        RefreshOutcome::Refused
    ));
    assert!(t.access_works(&unrelated.access_token));
}

#[test]
fn a_replacement_deletes_the_users_pairs_for_that_application_only() {
    let t = TestDb::new();
    let app = t.client("client");
    let other = t.client("other");
    let older = t.issue(&app);
    let old = t.issue(&app);
    let kept = t.issue(&other);
    let mut conn = t.conn();
    let new = conn
        .write_transaction(|conn| t.service.replace(conn, t.user_id, &app, &Scope::all()))
        .expect("replace")
        .sign()
        .expect("sign");
    drop(conn);

    for gone in [&older, &old] {
        assert!(!t.access_works(&gone.access_token));
        assert!(matches!(
            t.refresh(&gone.refresh_token, &app, None),
            RefreshOutcome::Refused
        ));
    }
    assert!(t.access_works(&kept.access_token));
    assert!(t.access_works(&new.access_token));
    assert_eq!(new.scope, Scope::all().to_string());
    rotated(t.refresh(&new.refresh_token, &app, None));
    rotated(t.refresh(&kept.refresh_token, &other, None));
}

#[test]
fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let t = TestDb::new();
    let app = t.client("client");
    let first = t.issue(&app);
    let narrowed = rotated(t.refresh(&first.refresh_token, &app, Some("read")));
    assert_eq!(narrowed.scope, "read");
    assert!(matches!(
        t.refresh(&narrowed.refresh_token, &app, Some("read write")),
        RefreshOutcome::ScopeTooWide
    ));
    // Refused for its scope, the token was not used up.
    let again = rotated(t.refresh(&narrowed.refresh_token, &app, None));
    assert_eq!(again.scope, "read");
}

#[test]
fn another_clients_refresh_token_is_refused_and_left_usable() {
    let t = TestDb::new();
    let mine = t.client("mine");
    let theirs = t.client("theirs");
    let tokens = t.issue(&mine);
    assert!(matches!(
        t.refresh(&tokens.refresh_token, &theirs, None),
        RefreshOutcome::Refused
    ));
    let revoked = t
        .service
        .revoke(&mut t.conn(), &tokens.access_token, &theirs)
        .expect("revoke");
    assert_eq!(revoked, RevokeOutcome::NotYours);
    assert!(t.access_works(&tokens.access_token));
    rotated(t.refresh(&tokens.refresh_token, &mine, None));
}

#[test]
fn revoking_either_token_of_a_pair_revokes_both() {
    let t = TestDb::new();
    let app = t.client("client");
    for by_refresh_token in [false, true] {
        let tokens = t.issue(&app);
        let presented = if by_refresh_token {
            &tokens.refresh_token
        } else {
            &tokens.access_token
        };
        let outcome = t
            .service
            .revoke(&mut t.conn(), presented, &app)
            .expect("revoke");
        assert_eq!(outcome, RevokeOutcome::Revoked);
        assert!(!t.access_works(&tokens.access_token));
        assert!(matches!(
            t.refresh(&tokens.refresh_token, &app, None),
            RefreshOutcome::Refused
        ));
    }
    let unknown = t
        .service
        .revoke(&mut t.conn(), &Secret::from("unknown"), &app)
        .expect("revoke");
    assert_eq!(unknown, RevokeOutcome::Unknown);
}

#[test]
fn clear_tokens_deletes_revoked_and_expired_rows_in_batches_and_keeps_live_ones() {
    let t = TestDb::new();
    let app = t.client("client");
    for _ in 0..3 {
        let tokens = t.issue(&app);
        t.service
            .revoke(&mut t.conn(), &tokens.access_token, &app)
            .expect("revoke");
    }
    // One pair whose access token expired, one whose refresh token did.
    let expired_access = t.issue(&app);
    let claims = t
        .service
        .keys()
        .decode(expired_access.access_token.expose())
        .expect("claims");
    diesel::update(access_tokens::table.find(&claims.jti))
        .set(access_tokens::expires.eq(now() - 1))
        .execute(&mut t.conn())
        .expect("expire the access token");
    let expired_refresh = t.issue(&app);
    diesel::update(refresh_tokens::table.find(sha256_hex(expired_refresh.refresh_token.expose())))
        .set(refresh_tokens::expires.eq(now() - 1))
        .execute(&mut t.conn())
        .expect("expire the refresh token");
    let live = t.issue(&app);

    let removed = clear_tokens(&mut t.conn(), 2).expect("clear tokens");

    // 3 revoked pairs and 2 expired tokens.
    assert_eq!(removed, 8);
    let left: (i64, i64) = (
        access_tokens::table
            .count()
            .get_result(&mut t.conn())
            .expect("count"),
        refresh_tokens::table
            .count()
            .get_result(&mut t.conn())
            .expect("count"),
    );
    assert_eq!(left, (2, 2));
    assert!(t.access_works(&expired_refresh.access_token));
    assert!(t.access_works(&live.access_token));
}

// --- signing keys: rotation, reload, expiry ------------------------------------------------

fn kid_of(token: &Secret) -> String {
    jsonwebtoken::decode_header(token.expose())
        .expect("a JWT header")
        .kid
        .expect("a kid")
}

fn published(service: &TokenService) -> std::collections::BTreeSet<String> {
    service
        .keys()
        .jwks()
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect()
}

#[test]
fn the_first_start_makes_one_es256_key_and_a_restart_keeps_it() {
    let t = TestDb::new();
    let app = t.client("client");
    let kid = kid_of(&t.issue(&app).access_token);
    assert_eq!(published(&t.service), [kid.clone()].into());
    let again = JwtKeys::open(&t.db, "http://issuer.test", None, POLICY).expect("reopen");
    let jwks = again.jwks();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].common.key_id.as_deref(), Some(kid.as_str()));
}

#[test]
fn a_rotation_signs_with_the_new_key_and_keeps_the_old_one_until_its_tokens_expired() {
    let t = TestDb::new();
    let app = t.client("client");
    let before = t.issue(&app).access_token;
    let old = kid_of(&before);

    let (new, retired) = keys::rotate(&mut t.conn(), SigningAlg::Es256, 60).expect("rotate");
    assert_eq!(retired.as_deref(), Some(old.as_str()));
    // The service reloads on its next use (its interval is 0 here), without a restart.
    let after = t.issue(&app).access_token;
    assert_eq!(kid_of(&after), new);
    assert!(t.access_works(&before), "the old key still verifies");
    assert!(t.access_works(&after));
    assert_eq!(published(&t.service), [old.clone(), new.clone()].into());

    // The old key is published until its tokens' lifetime (and a margin) has passed.
    let expires: Option<i64> = schema::signing_keys::table
        .find(&old)
        .select(schema::signing_keys::expires)
        .get_result(&mut t.conn())
        .expect("the retired key");
    let expires = expires.expect("an expiry");
    assert!(expires >= now() + 60 + keys::RELOAD_MARGIN - 5, "{expires}");

    // Once that time has come (set here rather than waited for), it leaves the set and
    // verifies nothing; the prune deletes it.
    diesel::update(schema::signing_keys::table.find(&old))
        .set(schema::signing_keys::expires.eq(Some(now())))
        .execute(&mut t.conn())
        .expect("expire the old key");
    t.service.keys().reload(&mut t.conn()).expect("reload");
    assert_eq!(published(&t.service), [new.clone()].into());
    assert!(t.service.keys().decode(before.expose()).is_none());
    assert_eq!(
        keys::delete_expired(&mut t.conn(), now()).expect("prune"),
        1
    );
    assert_eq!(
        keys::published_kids(&mut t.conn(), now())
            .expect("kids")
            .len(),
        1
    );
}

#[test]
fn a_key_made_on_first_use_stays_published_across_reloads() {
    let t = TestDb::new();
    let claims = serde_json::json!({"sub": "1"});
    let token = t
        .service
        .keys()
        .sign("JWT", &claims, SigningAlg::Rs256)
        .expect("sign RS256");
    let kid = jsonwebtoken::decode_header(&token)
        .expect("a header")
        .kid
        .expect("a kid");
    // Stored by another thread, or still pending: published either way.
    for _ in 0..3 {
        t.service.keys().reload(&mut t.conn()).expect("reload");
        assert!(published(&t.service).contains(&kid));
    }
    let again = t
        .service
        .keys()
        .sign("JWT", &claims, SigningAlg::Rs256)
        .expect("sign RS256");
    assert_eq!(
        jsonwebtoken::decode_header(&again).expect("a header").kid,
        Some(kid),
        "one RS256 key, made once"
    );
}

#[test]
fn a_configured_key_becomes_active_and_the_generated_one_retires() {
    use crate::storage::tokens::signing::{pkcs8_from_pem, thumbprint_kid};
    let t = TestDb::new();
    let app = t.client("client");
    let generated = kid_of(&t.issue(&app).access_token);
    let (alg, der) = pkcs8_from_pem(include_str!("test-keys/p256.pem")).expect("PEM");
    let configured = ConfiguredKey {
        alg,
        kid: thumbprint_kid(alg, &der).expect("kid"),
        der,
    };
    for _ in 0..2 {
        // Twice: a restart with the same file changes nothing.
        let keys = JwtKeys::open(&t.db, "http://issuer.test", Some(&configured), POLICY)
            .expect("open with a configured key");
        let service = TokenService::new(keys, 60, 600);
        let token = service
            .issue(&mut t.conn(), t.user_id, &app, &Scope::all(), None)
            .expect("issue")
            .access_token;
        assert_eq!(kid_of(&token), configured.kid);
        assert_eq!(
            published(&service),
            [generated.clone(), configured.kid.clone()].into()
        );
    }
}
