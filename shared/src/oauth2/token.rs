//! `POST /o/token/`: dispatches on `grant_type` (RFC 6749 §4.3, §6, and extension grants).

use actix_web::{HttpRequest, HttpResponse, web};

use super::client_auth::credentials;
use super::error::OAuth2Error;
use super::form::Params;
use super::{password_grant, refresh_grant};
use crate::applications::grant;
use crate::provider::Provider;
use crate::scope::Scope;

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

/// The `scope` parameter: absent means everything; anything unknown is `invalid_scope`.
pub fn requested_scope(params: &Params) -> Result<Option<Scope>, OAuth2Error> {
    let Some(value) = params.optional("scope")? else {
        return Ok(None);
    };
    let scope = Scope::parse(value).ok_or_else(OAuth2Error::invalid_scope)?;
    if !scope.is_subset(&Scope::all()) {
        return Err(OAuth2Error::invalid_scope());
    }
    Ok(Some(scope))
}
