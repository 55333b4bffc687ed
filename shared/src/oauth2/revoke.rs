//! `POST /o/revoke_token/` (RFC 7009).

use actix_web::{HttpRequest, HttpResponse, web};

use super::client_auth::authenticate;
use super::credentials::credentials;
use super::error::{OAuth2Error, no_store};
use super::form::Params;
use crate::oauth2::provider::Provider;
use crate::storage::tokens::RevokeOutcome;

pub async fn revoke(
    req: HttpRequest,
    body: web::Bytes,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, OAuth2Error> {
    let params = Params::from_request(&req, &body)?;
    let token = params.required_secret("token")?;
    // The hint only speeds up a lookup; both kinds are always searched (RFC 7009 §2.1).
    params.optional("token_type_hint")?;
    let client = credentials(&req, &params)?;
    let app = authenticate(&provider, client).await?;
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
