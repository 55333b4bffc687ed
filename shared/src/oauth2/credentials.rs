//! The client's credentials as a request carries them (RFC 6749 §2.3.1): HTTP Basic (id
//! and secret form-urlencoded before base64) or `client_id` + `client_secret` in the body,
//! never both. Reading them needs no state; checking them is [`super::client_auth`]'s.

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;

use super::error::OAuth2Error;
use super::form::Params;
use crate::security::secret::Secret;

#[derive(Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<Secret>,
}

/// Reads the client's credentials from the `Authorization` header or the body.
pub fn credentials(req: &HttpRequest, params: &Params) -> Result<ClientCredentials, OAuth2Error> {
    let body_id = params.optional("client_id")?;
    let body_secret = params.optional_secret("client_secret")?;
    let mut headers = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = headers.next() else {
        let client_id = body_id.ok_or_else(OAuth2Error::invalid_client)?;
        return Ok(ClientCredentials {
            client_id: client_id.to_owned(),
            secret: body_secret,
        });
    };
    if headers.next().is_some() {
        return Err(OAuth2Error::invalid_request(
            "More than one Authorization header.",
        ));
    }
    let (id, secret) = parse_basic(value.as_bytes()).ok_or_else(OAuth2Error::invalid_client)?;
    if body_secret.is_some() {
        return Err(OAuth2Error::invalid_request(
            "Use one client authentication method: HTTP Basic or the request body, not both.",
        ));
    }
    if body_id.is_some_and(|body_id| body_id != id) {
        return Err(OAuth2Error::invalid_request(
            "The client_id in the body differs from the authenticated client.",
        ));
    }
    Ok(ClientCredentials {
        client_id: id,
        secret: Some(secret),
    })
}

fn parse_basic(value: &[u8]) -> Option<(String, Secret)> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = form_decode(id)?;
    let secret = form_decode(secret)?;
    (!id.is_empty()).then(|| (id, Secret::new(secret)))
}

fn form_decode(value: &str) -> Option<String> {
    let with_spaces = value.replace('+', " ");
    percent_encoding::percent_decode_str(&with_spaces)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn basic(raw: impl AsRef<[u8]>) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(raw)).into_bytes()
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_before_base64() {
        // RFC 6749 §2.3.1: "a:b" as an id and "p@ss word:+%" as a secret.
        let (id, secret) = parse_basic(&basic("a%3Ab:p%40ss+word%3A%2B%25")).expect("parses");
        assert_eq!(id, "a:b");
        assert_eq!(secret.expose(), "p@ss word:+%");
    }

    #[test]
    fn the_basic_scheme_is_case_insensitive_and_an_empty_secret_is_kept() {
        let lower = basic("client:").into_iter().skip(5).collect::<Vec<_>>();
        let value = [b"basic".as_slice(), &lower].concat();
        let (id, secret) = parse_basic(&value).expect("parses");
        assert_eq!(id, "client");
        assert!(secret.is_empty());
    }

    #[test]
    fn malformed_basic_credentials_are_refused() {
        for value in [
            b"Bearer abc".to_vec(),
            b"Basic".to_vec(),
            b"Basic not-base64!".to_vec(),
            basic("no-colon"),
            basic(":secret"),
            basic("id:%ff"),
            basic([0xff, b':', b'x']),
        ] {
            let shown = String::from_utf8_lossy(&value).into_owned();
            assert!(parse_basic(&value).is_none(), "{shown}");
        }
    }
}
