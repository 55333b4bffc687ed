//! `POST /o/token/`: dispatches on `grant_type` (RFC 6749 §4.3, §6, and extension grants).

use actix_web::{HttpRequest, HttpResponse, web};

use super::credentials::credentials;
use super::error::OAuth2Error;
use super::form::Params;
use super::{password_grant, refresh_grant};
use crate::oauth2::provider::Provider;
use crate::storage::applications::GrantType;

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
            let address = req.peer_addr().map(|a| a.ip());
            password_grant::grant(provider, client, &params, address).await?
        }
        (_, None) => refresh_grant::grant(provider, client, &params).await?,
    };
    Ok(response.into_response())
}
