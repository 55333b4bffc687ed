//! `POST /users/link-by-token/<backend>/`: a signed-in My API user proves another identity
//! with that provider's token, and it is linked to their account.
//!
//! The caller is the Bearer token's user (scope `write`: linking changes how the account can
//! be signed in to). The provider token is checked by [`Exchanger::identify`], which writes
//! nothing; then one immediate transaction links it, or refuses: an identity that belongs to
//! another account, or a second identity at a backend where the caller has one, is a 409.
//! The (provider, uid) key decides a race between two users: the loser's insert is a unique
//! violation, answered as the 409 it is.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use shared::oauth2::OAuth2Error;
use shared::oauth2::bearer::BearerUser;
use shared::oauth2::error::OAuth2ErrorBody;
use shared::oauth2::form::Params;
use shared::oauth2::provider::Provider;
use shared::security::scope;
use shared::security::secret::Secret;
use shared::service::openapi::Detail;
use shared::storage::db::{Connection, StorageError};
use shared::storage::users::User;
use thiserror::Error;

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
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<LinkError> for OAuth2Error {
    fn from(e: LinkError) -> Self {
        match e {
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
        }
    }
}

/// A failed identification, answered as the register route answers it except that a refused
/// provider token is a 400: a 401 here would tell the client its Bearer token is bad.
fn identify_error(e: ExchangeError) -> OAuth2Error {
    match e {
        ExchangeError::UnknownBackend => OAuth2Error::new(
            "unknown_backend",
            "No such social backend.",
            StatusCode::NOT_FOUND,
        ),
        ExchangeError::Social(SocialError::Rejected) => OAuth2Error::new(
            "unsuccessful_token_exchange",
            "The social provider refused the token.",
            StatusCode::BAD_REQUEST,
        ),
        other => other.into(),
    }
}

/// The provider token and the backend's extra parameters, from the form body: the one place
/// this route reads how an identity is proven.
fn proof(params: &Params) -> Result<(Secret, ExchangeParams), OAuth2Error> {
    let token = params.required_secret("access_token")?;
    let extra = ExchangeParams {
        username: params.optional("username")?.map(str::to_owned),
    };
    Ok((token, extra))
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
            let mut attempt =
                || conn.immediate_transaction(|conn| link_in(conn, user_id, &identity));
            // SQLite's write lock makes a lost race impossible here; on a database that lets
            // two links overlap, the loser's insert conflicts on the (provider, uid) key and
            // is run once more, to answer from the winner's row: 200 if the winner was the
            // caller, else 409.
            match attempt() {
                Err(LinkError::LostRace) => attempt(),
                other => other,
            }
        })
        .await
        .map_err(OAuth2Error::from)?;
    Ok(me::answer(user, links, &info))
}

/// Links `identity` to `user_id` unless it is someone else's or the user has another identity
/// at that backend; the account as it then is. Call inside an immediate transaction.
fn link_in(
    conn: &mut Connection,
    user_id: i64,
    identity: &Identity,
) -> Result<(User, Vec<Link>), LinkError> {
    let Identity { backend, profile } = identity;
    match identities::owner(conn, backend, &profile.id.to_string())? {
        Some(owner) if owner == user_id => {}
        Some(_) => return Err(LinkError::LinkedElsewhere),
        None => {
            let (_, links) = me::load(conn, user_id)?;
            if links.iter().any(|link| link.provider == *backend) {
                return Err(LinkError::BackendTaken);
            }
            identities::link(conn, user_id, backend, profile).map_err(|e| {
                if shared::storage::db::is_unique_violation(&e) {
                    log::info!("a link lost a race for a {backend} identity");
                    LinkError::LostRace
                } else {
                    LinkError::Query(e)
                }
            })?;
            log::info!("user {user_id} linked a {backend} identity");
        }
    }
    Ok(me::load(conn, user_id)?)
}
