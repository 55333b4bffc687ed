//! `POST /users/link-by-token/<backend>/`: a signed-in My API user proves another identity
//! with that provider's token, and it is linked to their account.
//!
//! The caller is the Bearer token's user (scope `write`: linking changes how the account can
//! be signed in to). The provider token is checked by [`Exchanger::identify`], which writes
//! nothing; then one immediate transaction links it, or refuses: an identity that belongs to
//! another account, or a second identity at a backend where the caller has one, is a 409.
//! Two users racing for one identity are serialised by the writer lock on SQLite, and the
//! second sees the first's link; where writes can overlap, the (provider, uid) key decides:
//! the loser's insert is a unique violation, answered as the 409 it is, never a 500.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use shared::oauth2::OAuth2Error;
use shared::oauth2::bearer::{BearerError, BearerUser};
use shared::oauth2::error::OAuth2ErrorBody;
use shared::oauth2::form::Params;
use shared::oauth2::provider::Provider;
use shared::security::scope;
use shared::service::openapi::Detail;
use shared::storage::db::{Connection, StorageError};
use shared::storage::users::User;
use thiserror::Error;

use super::subject::{Door, SubjectToken};
use super::{ExchangeError, Exchanger, Identity};
use crate::api::PublicUrl;
use crate::api::me::{self, MeOut};
use crate::social::identities::{self, Link};
use crate::social::{ExchangeParams, SocialError};

/// What the link transaction refuses, or a storage fault.
#[derive(Debug, Error)]
enum LinkError {
    #[error("the identity is linked to another account")]
    LinkedElsewhere,
    /// The insert met the (provider, uid) key: another transaction linked the identity first.
    #[error("another link of the identity was written first")]
    LostRace,
    #[error("the caller already has another identity at the backend")]
    BackendTaken,
    /// The caller's account was deactivated or removed after its token was checked.
    #[error("the caller's account is inactive or gone")]
    AccountGone,
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<LinkError> for actix_web::Error {
    fn from(e: LinkError) -> Self {
        let refusal = match e {
            // What the token check would have said a moment later.
            LinkError::AccountGone => return BearerError::InvalidToken.into(),
            LinkError::LinkedElsewhere | LinkError::LostRace => OAuth2Error::new(
                "identity_linked_elsewhere",
                "This identity is already linked to another account.",
                StatusCode::CONFLICT,
            ),
            LinkError::BackendTaken => OAuth2Error::new(
                "backend_already_linked",
                "Your account already has another identity at this backend; unlink it first.",
                StatusCode::CONFLICT,
            ),
            LinkError::Query(e) => StorageError::from(e).into(),
            LinkError::Storage(e) => e.into(),
        };
        refusal.into()
    }
}

/// A failed identification: an unknown backend as the register route answers it, a token the
/// provider refused as a 400 (a 401 here would tell the client its Bearer token is bad), the
/// rest as the exchange maps it (a refused ID token is `invalid_request`, naming the check).
fn identify_error(e: ExchangeError) -> OAuth2Error {
    match e {
        ExchangeError::UnknownBackend => super::register::unknown_backend(),
        ExchangeError::Social(SocialError::Rejected) => OAuth2Error::new(
            "unsuccessful_token_exchange",
            "The social provider refused the token.",
            StatusCode::BAD_REQUEST,
        ),
        other => other.into(),
    }
}

/// The provider token and the backend's extra parameters, read as the register route reads
/// them (`access_token`, or `id_token` with `nonce` for an OpenID Connect backend).
fn proof(params: &Params) -> Result<(SubjectToken, ExchangeParams), OAuth2Error> {
    Ok((
        SubjectToken::from_params(params, Door::Register)?,
        ExchangeParams::from_params(params)?,
    ))
}

/// Documented once for every backend: `openapi::document` adds each backend's path,
/// operation id and form parameters.
#[utoipa::path(
    post,
    path = "/users/link-by-token/{backend}/",
    tag = "exchange",
    description = "Needs a My API Bearer token with the `write` scope. Linking an identity \
                   already linked to the caller changes nothing and answers 200.",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MeOut, headers(("Cache-Control" = String)),
            description = "Linked: the caller's account, as `GET /api/me/` shows it."),
        (status = 400, body = OAuth2ErrorBody,
            description = "A missing, repeated or empty parameter, a body that is no form, or \
                           unsuccessful_token_exchange: the provider refused the token."),
        (status = 401, body = Detail, description = "No Bearer token, or a bad one."),
        (status = 403, body = Detail, description = "The Bearer token lacks the write scope."),
        (status = 404, body = OAuth2ErrorBody, description = "unknown_backend."),
        (status = 409, body = OAuth2ErrorBody,
            description = "identity_linked_elsewhere: the identity belongs to another account; \
                           backend_already_linked: the caller has another identity there."),
        (status = 413, description = "The body is too large.", body = OAuth2ErrorBody),
        (status = 502, body = OAuth2ErrorBody,
            description = "social_provider_bad_response: the provider's answer is unusable."),
        (status = 503, body = OAuth2ErrorBody,
            description = "The provider cannot be reached, or the database is unavailable."),
        (status = 504, body = OAuth2ErrorBody,
            description = "social_provider_timeout: the provider did not answer in time."),
    )
)]
pub async fn link_by_token(
    caller: BearerUser,
    req: HttpRequest,
    body: web::Bytes,
    backend: web::Path<String>,
    info: PublicUrl,
    provider: web::Data<Provider>,
    exchanger: web::Data<Exchanger>,
) -> Result<HttpResponse, actix_web::Error> {
    caller.require_scope(scope::WRITE)?;
    if !exchanger.has_backend(&backend) {
        return Err(identify_error(ExchangeError::UnknownBackend).into());
    }
    let params = Params::from_request(&req, &body)?;
    let (token, extra) = proof(&params)?;
    let identity = exchanger
        .identify(&backend, &token, &extra)
        .await
        .map_err(identify_error)?;
    let user_id = caller.user.id;
    let (user, links) = provider
        .db
        .exclusive(move |conn| {
            let mut attempt = || conn.write_transaction(|conn| link_in(conn, user_id, &identity));
            // SQLite's write lock makes a lost race impossible here; on a database that lets
            // two links overlap, the loser's insert conflicts on the (provider, uid) key and
            // is run once more, to answer from the winner's row: 200 if the winner was the
            // caller, else 409.
            match attempt() {
                Err(LinkError::LostRace) => attempt(),
                other => other,
            }
        })
        .await?;
    Ok(me::answer(user, links, &info))
}

/// Links `identity` to `user_id` unless it is someone else's or the user has another identity
/// at that backend; the account as it then is. Call inside a write transaction.
fn link_in(
    conn: &mut Connection,
    user_id: i64,
    identity: &Identity,
) -> Result<(User, Vec<Link>), LinkError> {
    let Identity { backend, profile } = identity;
    // Two links by one user at once must not both pass the one-identity-per-backend check.
    shared::storage::tokens::lock_user(conn, user_id)?;
    // The token was checked moments ago, but the account may have been deactivated since
    // (the token cache lets a token live a few seconds past that): it gains nothing.
    let (user, mut links) = match me::load(conn, user_id) {
        Ok((user, _)) if !user.is_active => return Err(LinkError::AccountGone),
        Err(diesel::result::Error::NotFound) => return Err(LinkError::AccountGone),
        other => other?,
    };
    match identities::owner(conn, backend, &profile.uid)? {
        Some(owner) if owner == user_id => {}
        Some(_) => return Err(LinkError::LinkedElsewhere),
        None if links.iter().any(|link| link.provider == *backend) => {
            return Err(LinkError::BackendTaken);
        }
        None => {
            identities::link(conn, user_id, backend, profile).map_err(|e| {
                if shared::storage::db::is_unique_violation(&e) {
                    log::info!("a link lost a race for a {backend} identity");
                    LinkError::LostRace
                } else {
                    LinkError::Query(e)
                }
            })?;
            log::info!("user {user_id} linked a {backend} identity");
            links = identities::links(conn, user_id)?;
        }
    }
    Ok((user, links))
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use diesel::connection::SimpleConnection;
    use test_support::db::{connect, create_user, load_fixture};

    use super::{Identity, LinkError, link_in};
    use crate::social::SocialProfile;

    fn identity(id: i64) -> Identity {
        Identity {
            backend: "fake_social_site",
            profile: SocialProfile {
                uid: id.to_string(),
                username: "someone".into(),
                first_name: String::new(),
                last_name: String::new(),
                email: String::new(),
            },
        }
    }

    fn status(e: LinkError) -> StatusCode {
        actix_web::Error::from(e).as_response_error().status_code()
    }

    #[test]
    fn a_link_written_between_the_check_and_the_insert_is_a_lost_race_answered_409() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("my-api.sqlite3");
        load_fixture(
            &path,
            "my-api.json",
            &[crate::MIGRATIONS],
            crate::fixtures::LOADERS,
        );
        let mut conn = connect(&path);
        let alice = create_user(&mut conn, "alice", "a password").id;
        let bob = create_user(&mut conn, "bob", "a password").id;
        // Another writer's link of the same identity lands just before alice's insert, as it
        // can where two transactions overlap.
        conn.batch_execute(&format!(
            "CREATE TRIGGER other_writer BEFORE INSERT ON social_links WHEN NEW.user_id = {alice} \
             BEGIN INSERT INTO social_links (user_id, provider, uid, extra_data, created, modified) \
             VALUES ({bob}, NEW.provider, NEW.uid, '{{}}', 0, 0); END;"
        ))
        .expect("create the trigger");
        let lost = link_in(&mut conn, alice, &identity(77)).expect_err("a conflict");
        assert!(matches!(lost, LinkError::LostRace), "{lost:?}");
        assert_eq!(status(lost), StatusCode::CONFLICT);
        // Without the other writer the same link goes through.
        conn.batch_execute("DROP TRIGGER other_writer")
            .expect("drop the trigger");
        let (user, links) = link_in(&mut conn, alice, &identity(77)).expect("linked");
        assert_eq!(user.id, alice);
        assert_eq!(links.len(), 1);
        let taken = link_in(&mut conn, bob, &identity(77)).expect_err("alice's");
        assert!(matches!(taken, LinkError::LinkedElsewhere), "{taken:?}");
        let second = link_in(&mut conn, alice, &identity(78)).expect_err("one per backend");
        assert!(matches!(second, LinkError::BackendTaken), "{second:?}");
    }

    #[test]
    fn every_refusal_is_a_client_answer_and_never_a_500() {
        for (e, wanted) in [
            (LinkError::LinkedElsewhere, StatusCode::CONFLICT),
            (LinkError::LostRace, StatusCode::CONFLICT),
            (LinkError::BackendTaken, StatusCode::CONFLICT),
            (LinkError::AccountGone, StatusCode::UNAUTHORIZED),
        ] {
            assert_eq!(status(e), wanted);
        }
    }
}
