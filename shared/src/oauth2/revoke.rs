//! `POST /o/revoke_token/` (RFC 7009).

use actix_web::{HttpRequest, HttpResponse, web};

use super::client_auth::token_request;
use super::error::{ClientFormRefusals, OAuth2Error, OAuth2ErrorBody, no_store};
use super::form::TokenForm;
use crate::oauth2::provider::Provider;
use crate::storage::tokens::RevokeOutcome;

#[utoipa::path(
    post,
    path = "/o/revoke_token/",
    operation_id = "revoke_token",
    tag = "oauth2",
    summary = "Revoke an access or refresh token (RFC 7009)",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or unknown (RFC 7009 §2.2).", headers(("Cache-Control" = String), ("Pragma" = String))),
        (status = 400, description = "invalid_request or unauthorized_client.",
            body = OAuth2ErrorBody, headers(("Cache-Control" = String), ("Pragma" = String))),
        ClientFormRefusals,
    )
)]
pub async fn revoke(
    req: HttpRequest,
    body: web::Bytes,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, OAuth2Error> {
    let (token, app) = token_request(&req, &body, &provider).await?;
    let tokens = provider.tokens.clone();
    let outcome = provider
        .db
        .write(move |conn| Ok::<_, OAuth2Error>(tokens.revoke(conn, &token, &app)?))
        .await?;
    provider.token_cache.invalidate_all();
    match outcome {
        RevokeOutcome::Revoked | RevokeOutcome::Unknown => {
            let mut builder = HttpResponse::Ok();
            no_store(&mut builder);
            Ok(builder.finish())
        }
        RevokeOutcome::NotYours => Err(OAuth2Error::unauthorized_client(
            "The token was not issued to this client.",
        )),
    }
}
