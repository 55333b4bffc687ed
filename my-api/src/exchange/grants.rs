//! The exchange as `/o/token/` grants: RFC 8693 token exchange, and drf-social-oauth2's
//! `convert_token`. Tokens are issued to the authenticated client. Both take an access token
//! or an ID token (see [`SubjectToken::from_params`]).

use std::sync::Arc;

use actix_web::web;
use futures_util::future::LocalBoxFuture;
use shared::oauth2::OAuth2Error;
use shared::oauth2::client_auth::{authenticate, require_grant};
use shared::oauth2::credentials::ClientCredentials;
use shared::oauth2::form::Params;
use shared::oauth2::provider::{ExtensionGrant, Provider};
use shared::oauth2::response::{ACCESS_TOKEN_TYPE, TokenResponse};
use shared::security::scope::Scope;
use shared::storage::applications::GrantType;

use super::subject::{Door, SubjectToken};
use super::{Client, Exchanger};
use crate::social::ExchangeParams;

#[derive(Debug)]
pub struct TokenExchange(pub Arc<Exchanger>);

#[derive(Debug)]
pub struct ConvertToken(pub Arc<Exchanger>);

/// What the two grants do differently: where the subject token and its backend are in the
/// form, and what the answer adds. The rest is [`run`].
trait Subject {
    /// `(backend, token)`, once the grant's own parameters are checked.
    fn subject<'p>(&self, params: &'p Params) -> Result<(&'p str, SubjectToken), OAuth2Error>;

    fn answer(&self, response: TokenResponse) -> TokenResponse {
        response
    }
}

impl Subject for TokenExchange {
    fn subject<'p>(&self, params: &'p Params) -> Result<(&'p str, SubjectToken), OAuth2Error> {
        let token = SubjectToken::from_params(params, Door::TokenExchange)?;
        if params
            .optional("requested_token_type")?
            .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
        {
            return Err(OAuth2Error::invalid_request(format!(
                "Unsupported requested_token_type; only {ACCESS_TOKEN_TYPE} can be issued."
            )));
        }
        if params.optional("actor_token")?.is_some() {
            return Err(OAuth2Error::invalid_request(
                "Delegation (actor_token) is not supported.",
            ));
        }
        Ok((params.required("subject_issuer")?, token))
    }

    fn answer(&self, response: TokenResponse) -> TokenResponse {
        response.with_issued_token_type()
    }
}

impl Subject for ConvertToken {
    fn subject<'p>(&self, params: &'p Params) -> Result<(&'p str, SubjectToken), OAuth2Error> {
        let token = SubjectToken::from_params(params, Door::ConvertToken)?;
        Ok((params.required("backend")?, token))
    }
}

/// The `ExtensionGrant` of `$grant`, a [`Subject`] holding the exchanger, for the
/// [`GrantType`] of the same name.
macro_rules! extension_grant {
    ($grant:ident) => {
        impl ExtensionGrant for $grant {
            fn grant_type(&self) -> GrantType {
                GrantType::$grant
            }

            fn handle<'a>(
                &'a self,
                provider: web::Data<Provider>,
                client: ClientCredentials,
                params: &'a Params,
            ) -> LocalBoxFuture<'a, Result<TokenResponse, OAuth2Error>> {
                Box::pin(async move {
                    let (backend, token) = self.subject(params)?;
                    let grant = self.grant_type();
                    let response = run(&self.0, provider, client, params, grant, backend, token);
                    Ok(self.answer(response.await?))
                })
            }
        }
    };
}

extension_grant!(TokenExchange);
extension_grant!(ConvertToken);

async fn run(
    exchanger: &Exchanger,
    provider: web::Data<Provider>,
    client: ClientCredentials,
    params: &Params,
    grant_type: GrantType,
    backend: &str,
    token: SubjectToken,
) -> Result<TokenResponse, OAuth2Error> {
    let scope = params.scope()?.unwrap_or_else(Scope::all);
    let extra = ExchangeParams::from_params(params)?;
    if !exchanger.has_backend(backend) {
        return Err(OAuth2Error::invalid_request(format!(
            "Unknown social backend {backend:?}."
        )));
    }
    let app = authenticate(&provider, client).await?;
    require_grant(&app, grant_type)?;
    let issued = exchanger
        .exchange(
            &provider,
            backend,
            &token,
            &extra,
            Client::Authenticated(app),
            scope,
        )
        .await?;
    Ok(issued.into())
}
