//! `POST /o/token/`: dispatches on `grant_type` (RFC 6749 §4.3, §6, and extension grants).

use actix_web::{HttpRequest, HttpResponse, web};

use super::credentials::credentials;
use super::error::OAuth2Error;
use super::form::Params;
use super::{password_grant, refresh_grant};
use crate::oauth2::provider::Provider;
use crate::storage::applications::grant;

pub async fn token(
    req: HttpRequest,
    body: web::Bytes,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, OAuth2Error> {
    let params = Params::from_request(&req, &body)?;
    let grant_type = params.required("grant_type")?;
    let extension = match grant_type {
        grant::PASSWORD if !provider.password_grant_enabled => {
            return Err(OAuth2Error::unsupported_grant_type());
        }
        grant::PASSWORD | grant::REFRESH_TOKEN => None,
        other => Some(
            provider
                .extension(other)
                .ok_or_else(OAuth2Error::unsupported_grant_type)?,
        ),
    };
    let client = credentials(&req, &params)?;
    let response = match (grant_type, extension) {
        (_, Some(extension)) => extension.handle(provider, client, &params).await?,
        (grant::PASSWORD, None) => {
            let address = req.peer_addr().map(|a| a.ip());
            password_grant::grant(provider, client, &params, address).await?
        }
        (_, None) => refresh_grant::grant(provider, client, &params).await?,
    };
    Ok(response.into_response())
}
