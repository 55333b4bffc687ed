//! `POST /o/introspect/` (RFC 7662), for authenticated confidential clients allowed to
//! introspect (`createapplication --allow-introspection`): bad credentials are a 401
//! `invalid_client`, an authenticated client without the permission a 403.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::client_auth::token_request;
use super::error::{ClientFormRefusals, OAuth2Error, OAuth2ErrorBody, no_store};
use super::form::TokenForm;
use crate::oauth2::provider::Provider;
use crate::storage::tokens::Introspection;

/// RFC 7662 answer for a token that is unknown, expired or revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct InactiveToken {
    pub active: bool,
}

// What introspection answers: the claims of an active token, or only `active: false`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[expect(
    clippy::large_enum_variant,
    reason = "built once per answer and serialised at once"
)]
enum Answer {
    Active(Introspection),
    Inactive(InactiveToken),
}

#[utoipa::path(
    post,
    path = "/o/introspect/",
    operation_id = "introspect",
    tag = "oauth2",
    summary = "Introspect a token, for confidential clients allowed to (RFC 7662)",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = inline(Answer), headers(("Cache-Control" = String), ("Pragma" = String)),
            description = "RFC 7662: the token's claims if it is active, else only `active: false`."),
        (status = 400, description = "invalid_request or unauthorized_client.",
            body = OAuth2ErrorBody, headers(("Cache-Control" = String), ("Pragma" = String))),
        (status = 403, body = OAuth2ErrorBody, headers(("Cache-Control" = String), ("Pragma" = String)),
            description = "unauthorized_client: the client authenticated but may not introspect."),
        ClientFormRefusals,
    )
)]
pub async fn introspect(
    req: HttpRequest,
    body: web::Bytes,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, OAuth2Error> {
    let (token, app) = token_request(&req, &body, &provider).await?;
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
    Ok(builder.json(match answer {
        Some(active) => Answer::Active(active),
        None => Answer::Inactive(InactiveToken { active: false }),
    }))
}
