//! `POST /o/token/`: dispatches on `grant_type` (RFC 6749 §4.3, §6, and extension grants).

use actix_web::{HttpRequest, HttpResponse, web};

use super::credentials::credentials;
use super::error::{ClientFormRefusals, OAuth2Error, OAuth2ErrorBody};
use super::form::{Params, TokenRequest};
use super::response::TokenResponse;
use super::{password_grant, refresh_grant};
use crate::oauth2::provider::Provider;
use crate::storage::applications::GrantType;

#[utoipa::path(
    post,
    path = "/o/token/",
    operation_id = "token",
    tag = "oauth2",
    summary = "Issue tokens: password and refresh_token grants (RFC 6749)",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The issued tokens.", body = TokenResponse,
            headers(("Cache-Control" = String), ("Pragma" = String))),
        (status = 400, body = OAuth2ErrorBody, headers(("Cache-Control" = String), ("Pragma" = String)),
            description = "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type or invalid_scope."),
        (status = 429, description = "Too many failed logins; retry after Retry-After.",
            body = OAuth2ErrorBody, headers(("Cache-Control" = String), ("Pragma" = String))),
        ClientFormRefusals,
    )
)]
pub async fn token(
    req: HttpRequest,
    body: web::Bytes,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, OAuth2Error> {
    let params = Params::from_request(&req, &body)?;
    let grant = GrantType::parse(params.required("grant_type")?)
        .ok_or_else(OAuth2Error::unsupported_grant_type)?;
    let extension = match grant {
        GrantType::Password if !provider.password_grant_enabled => {
            return Err(OAuth2Error::unsupported_grant_type());
        }
        GrantType::Password | GrantType::RefreshToken => None,
        other => Some(
            provider
                .extension(other)
                .ok_or_else(OAuth2Error::unsupported_grant_type)?,
        ),
    };
    let client = credentials(&req, &params)?;
    let response = match (grant, extension) {
        (_, Some(extension)) => extension.handle(provider, client, &params).await?,
        (GrantType::Password, None) => {
            let address = provider.trusted_proxies.client(&req);
            password_grant::grant(provider, client, &params, address).await?
        }
        (_, None) => refresh_grant::grant(provider, client, &params).await?,
    };
    crate::telemetry::metrics()
        .tokens_issued
        .with_label_values(&[grant.as_str()])
        .inc();
    Ok(response.into_response())
}
