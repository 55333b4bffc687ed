//! Rotation, reuse detection, revocation and clean-up on a real (temporary) database.

use super::*;
use crate::storage::applications::{self, NewApplication};
use crate::storage::db::{Db, DbConfig};
use crate::storage::users::{self, NewUser};

/// Reload on every use, so a rotation is seen at once.
const POLICY: KeyPolicy = KeyPolicy {
    token_ttl: 60,
    reload_every: std::time::Duration::ZERO,
};

struct TestDb {
    _dir: tempfile::TempDir,
    db: Db,
    service: TokenService,
    user_id: i64,
}

impl TestDb {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let db = Db::open(&DbConfig::new(dir.path().join("tokens.sqlite3")), &[])
            .expect("open the database");
        let mut conn = db.get().expect("a connection");
        let user = users::create(
            &mut conn,
            &NewUser::new("alice", crate::security::password::UNUSABLE),
        )
        .expect("create the user");
        let keys = JwtKeys::open(&db, "http://issuer.test", None, POLICY).expect("signing keys");
        TestDb {
            _dir: dir,
            db,
            service: TokenService::new(keys, 60, 600),
            user_id: user.id,
        }
    }

    fn conn(&self) -> r2d2::PooledConnection<diesel::r2d2::ConnectionManager<Connection>> {
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
        RefreshOutcome::Rotated(issued) => issued,
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
