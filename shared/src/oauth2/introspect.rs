//! `POST /o/introspect/` (RFC 7662), for authenticated confidential clients allowed to
//! introspect (`createapplication --allow-introspection`): bad credentials are a 401
//! `invalid_client`, an authenticated client without the permission a 403.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::client_auth::authenticate;
use super::credentials::credentials;
use super::error::{OAuth2Error, no_store};
use super::form::Params;
use crate::oauth2::provider::Provider;

pub async fn introspect(
    req: HttpRequest,
    body: web::Bytes,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, OAuth2Error> {
    let params = Params::from_request(&req, &body)?;
    let token = params.required_secret("token")?;
    params.optional("token_type_hint")?;
    let client = credentials(&req, &params)?;
    let app = authenticate(&provider, client).await?;
    if !app.is_confidential() {
        return Err(OAuth2Error::invalid_client());
    }
    // RFC 7662 §2.3/§4: an authenticated client without the permission is refused, not told
    // who holds a token.
    if !app.allow_introspection {
        return Err(OAuth2Error::new(
            "unauthorized_client",
            "This client is not allowed to introspect tokens.",
            StatusCode::FORBIDDEN,
        ));
    }
    let tokens = provider.tokens.clone();
    let answer = provider
        .db
        .run(move |conn| Ok::<_, OAuth2Error>(tokens.introspect(conn, &token)?))
        .await?;
    let mut builder = HttpResponse::Ok();
    no_store(&mut builder);
    Ok(match answer {
        Some(active) => builder.json(active),
        None => builder.json(json!({ "active": false })),
    })
}
