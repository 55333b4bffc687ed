//! The successful token answer (RFC 6749 §5.1), as the original demo returned it.

use actix_web::HttpResponse;
use serde::Serialize;

use super::error::no_store;
use crate::storage::tokens::IssuedTokens;

/// RFC 8693 token type of the access tokens these services issue.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// RFC 6749 §5.1 (and RFC 8693 §2.2.1 for an exchange).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
    /// OpenID Connect Core §3.1.3.3: with the `openid` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// The answer to an RFC 8693 exchange also names the issued token's type.
    pub fn with_issued_token_type(mut self) -> Self {
        self.issued_token_type = Some(ACCESS_TOKEN_TYPE);
        self
    }

    /// The answer to an OpenID Connect code exchange also carries the ID token.
    pub fn with_id_token(mut self, id_token: Option<String>) -> Self {
        self.id_token = id_token;
        self
    }

    pub fn into_response(self) -> HttpResponse {
        let mut builder = HttpResponse::Ok();
        no_store(&mut builder);
        builder.json(self)
    }
}

impl From<IssuedTokens> for TokenResponse {
    fn from(issued: IssuedTokens) -> Self {
        TokenResponse {
            access_token: issued.access_token.expose().to_owned(),
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token.expose().to_owned(),
            scope: issued.scope,
            issued_token_type: None,
            id_token: None,
        }
    }
}
