//! Strict `application/x-www-form-urlencoded` parameters for the OAuth2 endpoints.
//!
//! RFC 6749 §3.2: parameters come in a form body, each at most once. A JSON body, invalid
//! UTF-8, a repeated or empty parameter is `invalid_request`; unknown parameters are ignored.
//! Values are never printed: `Debug` shows parameter names only.

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::header;
use percent_encoding::percent_decode;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::error::OAuth2Error;
use crate::security::scope::Scope;
use crate::security::secret::Secret;
use crate::storage::applications::GrantType;

/// RFC 7009 / RFC 7662 form: the token, an optional hint, and the client's credentials (in
/// the body or as HTTP Basic).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TokenForm {
    #[schema(min_length = 1)]
    pub token: String,
    #[schema(min_length = 1)]
    pub token_type_hint: Option<String>,
    #[schema(min_length = 1)]
    pub client_id: Option<String>,
    #[schema(min_length = 1)]
    pub client_secret: Option<String>,
}

/// Parameters that carry an access token another server issued (RFC 6750 §2.1 `b64token`).
const B64TOKENS: [&str; 3] = ["subject_token", "token", "access_token"];

/// An RFC 6750 `b64token`: the only form a bearer access token takes.
pub fn b64token() -> ObjectBuilder {
    text().pattern(Some(r"^[A-Za-z0-9._~+/-]+=*$"))
}

/// A non-empty string property (the form parser refuses empty parameters).
pub fn text() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
}

/// The `/o/token/` form: every parameter any grant takes; which are needed depends on
/// `grant_type` (RFC 6749 §4.3, §6; RFC 8693; drf-social-oauth2's `convert_token`). Its schema
/// is code, not a derive: a service with extension grants documents their grant types and
/// parameters with [`TokenRequest::schema_for`].
#[derive(Debug)]
pub struct TokenRequest;

impl utoipa::ToSchema for TokenRequest {}

impl utoipa::PartialSchema for TokenRequest {
    fn schema() -> RefOr<Schema> {
        Self::schema_for(
            &[
                GrantType::Password.as_str(),
                GrantType::RefreshToken.as_str(),
            ],
            &[],
        )
        .into()
    }
}

impl TokenRequest {
    /// The form with these `grant_type`s and, besides the standard parameters, `extra`.
    pub fn schema_for(grant_types: &[&str], extra: &[&str]) -> Schema {
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "grant_type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(grant_types.iter().copied())),
            )
            .required("grant_type");
        let common = [
            "username",
            "password",
            "refresh_token",
            "scope",
            "client_id",
            "client_secret",
        ];
        for name in common.iter().chain(extra) {
            let property = if B64TOKENS.contains(name) {
                b64token()
            } else {
                text()
            };
            object = object.property(*name, property);
        }
        object.into()
    }
}

/// Upper bound on a token-endpoint body; the largest legitimate one is a few kilobytes.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

pub struct Params {
    values: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Params {
    /// Parses a request body after checking its content type.
    pub fn from_request(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuth2Error> {
        if query_has_credentials(req.query_string()) {
            return Err(OAuth2Error::invalid_request(
                "Credentials and tokens must not be sent in the query string.",
            ));
        }
        Self::from_form_body(req, body)
    }

    /// Parses a form body after checking its content type, whatever the query string holds.
    pub fn from_form_body(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuth2Error> {
        if !is_form(req) {
            return Err(OAuth2Error::invalid_request(
                "The request body must be application/x-www-form-urlencoded.",
            ));
        }
        Self::parse(body)
    }

    /// Parses form-encoded bytes (also used for query strings).
    pub fn parse(body: &[u8]) -> Result<Params, OAuth2Error> {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let mut parts = pair.splitn(2, |b| *b == b'=');
            let name = decode(parts.next().unwrap_or_default())?;
            let value = decode(parts.next().unwrap_or_default())?;
            values.entry(name).or_default().push(value);
        }
        Ok(Params { values })
    }

    /// A parameter that may be absent; present twice or empty is an error.
    pub fn optional(&self, name: &str) -> Result<Option<&str>, OAuth2Error> {
        match self.values.get(name).map(Vec::as_slice) {
            None => Ok(None),
            Some([value]) if value.is_empty() => Err(OAuth2Error::invalid_request(format!(
                "The {name} parameter is empty."
            ))),
            Some([value]) => Ok(Some(value)),
            Some(_) => Err(OAuth2Error::invalid_request(format!(
                "The {name} parameter was given more than once."
            ))),
        }
    }

    /// The `scope` parameter (RFC 6749 §3.3): absent is `None` (the caller decides what that
    /// means); anything unknown or malformed is `invalid_scope`.
    pub fn scope(&self) -> Result<Option<Scope>, OAuth2Error> {
        let Some(value) = self.optional("scope")? else {
            return Ok(None);
        };
        Scope::requested(value)
            .map(Some)
            .ok_or_else(OAuth2Error::invalid_scope)
    }

    pub fn required(&self, name: &str) -> Result<&str, OAuth2Error> {
        self.optional(name)?.ok_or_else(|| {
            OAuth2Error::invalid_request(format!("The {name} parameter is missing."))
        })
    }

    pub fn optional_secret(&self, name: &str) -> Result<Option<Secret>, OAuth2Error> {
        Ok(self.optional(name)?.map(Secret::from))
    }

    pub fn required_secret(&self, name: &str) -> Result<Secret, OAuth2Error> {
        self.required(name).map(Secret::from)
    }
}

fn decode(raw: &[u8]) -> Result<String, OAuth2Error> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| OAuth2Error::invalid_request("The request body is not valid UTF-8."))
}

fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn query_has_credentials(query: &str) -> bool {
    const SENSITIVE: &[&str] = &[
        "client_secret",
        "password",
        "refresh_token",
        "token",
        "subject_token",
        "access_token",
    ];
    query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or_default();
        SENSITIVE.contains(&name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_empty_parameters_are_invalid_requests() {
        let params = Params::parse(b"a=1&a=2&b=&c=x+y%21").expect("parses");
        assert!(params.optional("a").is_err());
        assert!(params.optional("b").is_err());
        assert_eq!(params.optional("c").expect("ok"), Some("x y!"));
        assert_eq!(params.optional("d").expect("ok"), None);
        assert!(params.required("d").is_err());
    }

    #[test]
    fn invalid_utf8_is_an_invalid_request() {
        assert!(Params::parse(b"a=%ff%fe").is_err());
    }
}
