//! Which token a caller offers as proof of who they are, read from a request's parameters
//! in one place for every front door: an access token (checked by its provider) or an
//! OpenID Connect ID token (verified here, offline), with what comes along with it.

use shared::oauth2::OAuth2Error;
use shared::oauth2::form::Params;
use shared::oauth2::response::ACCESS_TOKEN_TYPE;
use shared::security::secret::Secret;

use crate::social::ExchangeParams;

/// RFC 8693's token type of an OpenID Connect ID token.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// The proof of identity a caller sent.
#[derive(Debug)]
pub enum SubjectToken {
    /// A provider's access token, for the backends that ask the provider who owns it.
    Access(Secret),
    /// An ID token; an access token sent beside it must match its `at_hash`, if it has one.
    Id {
        id_token: Secret,
        access_token: Option<Secret>,
    },
}

/// Where the parameters come from: each door names the token its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// `register-by-token/<backend>/` (and the link endpoint): `access_token` and/or
    /// `id_token`.
    Register,
    /// RFC 8693: `subject_token` of `subject_token_type` access_token or id_token.
    TokenExchange,
    /// drf-social-oauth2's `convert_token`: `token` (an access token) or `id_token`.
    ConvertToken,
}

impl SubjectToken {
    /// The subject token of a request through `door`. Parameters are checked as
    /// [`Params`] does (once each, not empty).
    pub fn from_params(params: &Params, door: Door) -> Result<SubjectToken, OAuth2Error> {
        match door {
            Door::TokenExchange => {
                let token = params.required_secret("subject_token")?;
                match params.required("subject_token_type")? {
                    ACCESS_TOKEN_TYPE => Ok(SubjectToken::Access(token)),
                    ID_TOKEN_TYPE => Ok(SubjectToken::Id {
                        id_token: token,
                        access_token: None,
                    }),
                    _ => Err(OAuth2Error::invalid_request(format!(
                        "Unsupported subject_token_type; only {ACCESS_TOKEN_TYPE} and \
                         {ID_TOKEN_TYPE} are accepted."
                    ))),
                }
            }
            Door::Register | Door::ConvertToken => {
                let access_name = if door == Door::Register {
                    "access_token"
                } else {
                    "token"
                };
                let access_token = params.optional_secret(access_name)?;
                match (params.optional_secret("id_token")?, access_token) {
                    (Some(id_token), access_token) => Ok(SubjectToken::Id {
                        id_token,
                        access_token,
                    }),
                    (None, Some(access_token)) => Ok(SubjectToken::Access(access_token)),
                    (None, None) => Err(OAuth2Error::invalid_request(format!(
                        "Missing parameter: {access_name} or id_token."
                    ))),
                }
            }
        }
    }

    pub fn is_id_token(&self) -> bool {
        matches!(self, SubjectToken::Id { .. })
    }
}

impl ExchangeParams {
    /// The parameters a backend may need besides the token: `username`, `nonce`.
    pub fn from_params(params: &Params) -> Result<ExchangeParams, OAuth2Error> {
        Ok(ExchangeParams {
            username: params.optional("username")?.map(str::to_owned),
            nonce: params.optional("nonce")?.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(form: &str, door: Door) -> Result<SubjectToken, OAuth2Error> {
        SubjectToken::from_params(&Params::parse(form.as_bytes()).expect("a form"), door)
    }

    #[test]
    fn each_door_names_its_tokens_and_an_id_token_is_the_proof_when_both_come() {
        let kinds = [
            ("access_token=a", Door::Register, Some(false)),
            ("id_token=i", Door::Register, Some(true)),
            ("id_token=i&access_token=a", Door::Register, Some(true)),
            ("token=a", Door::Register, None),
            ("token=a", Door::ConvertToken, Some(false)),
            ("id_token=i", Door::ConvertToken, Some(true)),
            (
                "subject_token=i&subject_token_type=urn:ietf:params:oauth:token-type:id_token",
                Door::TokenExchange,
                Some(true),
            ),
            (
                "subject_token=a&subject_token_type=urn:ietf:params:oauth:token-type:access_token",
                Door::TokenExchange,
                Some(false),
            ),
            (
                "subject_token=a&subject_token_type=urn:ietf:params:oauth:token-type:jwt",
                Door::TokenExchange,
                None,
            ),
            ("id_token=", Door::Register, None),
            ("id_token=a&id_token=b", Door::Register, None),
        ];
        for (form, door, id) in kinds {
            let read = read(form, door);
            assert_eq!(
                read.as_ref().ok().map(SubjectToken::is_id_token),
                id,
                "{form}"
            );
        }
        let Ok(SubjectToken::Id { access_token, .. }) =
            read("id_token=i&access_token=a", Door::Register)
        else {
            panic!("an ID token");
        };
        assert_eq!(
            access_token.map(|t| t.expose().to_owned()),
            Some("a".into())
        );
    }
}
