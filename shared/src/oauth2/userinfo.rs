//! `GET|POST /o/userinfo/` (OpenID Connect Core §5.3): the claims about the token's owner
//! that the token's scope grants, for an access token with the `openid` scope.

use actix_web::HttpResponse;

use super::bearer::{BearerError, BearerUser};
use super::error::no_store;
use super::id_token::UserClaims;
use crate::security::scope;
use crate::service::openapi::Detail;

#[utoipa::path(
    method(get, post),
    path = "/o/userinfo/",
    operation_id = "userinfo",
    tag = "openid-connect",
    summary = "The token owner's claims, by scope (OpenID Connect Core §5.3)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims.", body = UserClaims),
        (status = 400, body = Detail,
            description = "A malformed Authorization header, or a token in the query string."),
        (status = 401, description = "No token, or one that is invalid, expired or revoked.",
            body = Detail),
        (status = 403, description = "The token lacks the `openid` scope.", body = Detail),
        (status = 503, description = "The database is unavailable.", body = Detail),
    )
)]
pub async fn userinfo(caller: BearerUser) -> Result<HttpResponse, BearerError> {
    caller.require_scope(scope::OPENID)?;
    let mut builder = HttpResponse::Ok();
    no_store(&mut builder);
    Ok(builder.json(UserClaims::of(&caller.user, &caller.scope)))
}
