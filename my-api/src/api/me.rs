//! `/api/me/`: the caller's own account with the social identities linked to it, and
//! `DELETE /api/me/identities/<backend>/` to unlink one. An identity is added by
//! `POST /users/link-by-token/<backend>/` ([`crate::exchange::link`]), which answers with the
//! same body as `GET /api/me/`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use shared::oauth2::bearer::{BearerError, BearerUser};
use shared::oauth2::provider::Provider;
use shared::security::scope;
use shared::service::admin::seconds;
use shared::service::logging::rfc3339;
use shared::service::openapi::Detail;
use shared::storage::db::Connection;
use shared::storage::users::User;

use super::error::ApiError;
use super::{PublicUrl, base_url};
use crate::openapi::ApiErrors;
use crate::social::identities::{self, Link};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/me/").route(web::get().to(me)))
        .service(
            web::resource("/me/identities/{backend}/").route(web::delete().to(unlink_identity)),
        );
}

/// The caller's account: what `/api/users/<id>/` shows its owner, whether a password can sign
/// in, and the linked identities.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeOut {
    id: i64,
    url: String,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    /// False for an account created by a social sign-in: it signs in by its identities only.
    has_usable_password: bool,
    /// By backend.
    identities: Vec<IdentityOut>,
}

/// One linked identity: the provider's user id at a backend.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IdentityOut {
    /// The backend's name, as in `/users/register-by-token/<backend>/`.
    backend: String,
    /// The user's id at the provider.
    uid: String,
    /// When it was linked (RFC 3339).
    #[schema(format = DateTime)]
    created: String,
}

/// Whether `user` can sign in with a password: Django's unusable passwords start with `!`.
pub fn has_usable_password(user: &User) -> bool {
    !user.password.is_empty() && !user.password.starts_with('!')
}

/// The user `user_id` and its links, read in the caller's transaction.
pub fn load(conn: &mut Connection, user_id: i64) -> diesel::QueryResult<(User, Vec<Link>)> {
    let user =
        shared::storage::users::find(conn, user_id)?.ok_or(diesel::result::Error::NotFound)?;
    let links = identities::links(conn, user_id)?;
    Ok((user, links))
}

/// `200` with the account: never cached, and it varies with the token.
pub fn answer(user: User, links: Vec<Link>, info: &PublicUrl) -> HttpResponse {
    let base = base_url(info);
    let out = MeOut {
        id: user.id,
        url: format!("{base}/api/users/{}/", user.id),
        has_usable_password: has_usable_password(&user),
        username: user.username,
        first_name: user.first_name,
        last_name: user.last_name,
        email: user.email,
        identities: links
            .into_iter()
            .map(|link| IdentityOut {
                backend: link.provider,
                uid: link.uid,
                created: rfc3339(seconds(link.created)),
            })
            .collect(),
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::VARY, HeaderValue::from_static("Authorization")))
        .json(out)
}

#[utoipa::path(
    get,
    path = "/api/me/",
    operation_id = "me_retrieve",
    tag = "api",
    summary = "The caller's account and its linked identities",
    description = "Needs the `read` scope.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account; never cached.", body = MeOut,
            headers(("Cache-Control" = String))),
        ApiErrors
    )
)]
pub(crate) async fn me(
    caller: BearerUser,
    info: PublicUrl,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(scope::READ)?;
    let id = caller.user.id;
    let (user, links) = provider
        .db
        .run(move |conn| match load(conn, id) {
            // Removed after its token was checked: what the check would say a moment later.
            Err(diesel::result::Error::NotFound) => Err(BearerError::InvalidToken.into()),
            other => other.map_err(ApiError::from),
        })
        .await?;
    Ok(answer(user, links, &info))
}

/// Why an identity cannot be unlinked: without it the account could not sign in at all.
const LAST_WAY: &str = "This identity is the account's last way to sign in: it has no usable \
                        password and no other identity.";

#[utoipa::path(
    delete,
    path = "/api/me/identities/{backend}/",
    operation_id = "me_identities_delete",
    tag = "api",
    summary = "Unlink the caller's identity at a backend",
    description = "Needs the `write` scope. The account stays; signing in with that identity \
                   afterwards creates a new account.",
    params(("backend" = String, Path, description = "The backend, e.g. fake_social_site.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unlinked."),
        (status = 404, description = "The caller has no identity at this backend.", body = Detail),
        (status = 409, body = Detail,
            description = "It is the caller's last way to sign in (no usable password, no \
                           other identity)."),
        ApiErrors
    )
)]
pub(crate) async fn unlink_identity(
    caller: BearerUser,
    backend: web::Path<String>,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ApiError> {
    caller.require_scope(scope::WRITE)?;
    let (id, backend) = (caller.user.id, backend.into_inner());
    provider
        .db
        .write(move |conn| {
            // Two unlinks at once must not each leave the other as the last way to sign in.
            shared::storage::tokens::lock_user(conn, id)?;
            let (user, links) = load(conn, id)?;
            let (here, others): (Vec<_>, Vec<_>) =
                links.iter().partition(|link| link.provider == backend);
            if here.is_empty() {
                return Err(ApiError::NotFound);
            }
            if others.is_empty() && !has_usable_password(&user) {
                return Err(ApiError::Conflict(LAST_WAY));
            }
            identities::unlink(conn, id, &backend)?;
            log::info!("user {id} unlinked their {backend} identity");
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
