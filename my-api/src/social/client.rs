//! The typed HTTP client for social providers: one connection pool with timeouts and a base
//! URL fixed at start-up, and one call, "GET this path with this bearer token and read a
//! profile", whose every failure is a [`SocialError`]. Every call carries the current
//! request's `X-Request-Id`, so one exchange can be followed in both services' logs, and
//! [`observed`] counts calls in the metrics.

use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use shared::profile::Profile;
use shared::security::secret::Secret;

use super::SocialError;

// The defaults, written once: `ProviderClientConfig::default` and My API's flags read them.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8005";
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2_000;
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// Where the provider is and how long and how much we are willing to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderClientConfig {
    /// Scheme, host, port and optional path prefix, e.g. `http://127.0.0.1:8005`.
    pub base_url: String,
    pub connect_timeout: Duration,
    /// The whole exchange: connecting, sending, and reading the full body.
    pub timeout: Duration,
    /// A profile is a few hundred bytes; anything far larger is refused unread.
    pub max_body_bytes: usize,
}

impl Default for ProviderClientConfig {
    fn default() -> Self {
        ProviderClientConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            connect_timeout: Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Why a [`ProviderClient`] could not be built; a start-up error.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The URL itself is not echoed: an operator may have put credentials in it.
    #[error("invalid social provider base URL: {0}")]
    InvalidBaseUrl(&'static str),
    #[error("cannot build the social provider HTTP client")]
    Http(#[from] reqwest::Error),
}

/// A social provider's HTTP API. Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    /// The same client without kept-alive connections, for the one retry (see
    /// [`ProviderClient::get_profile`]).
    fresh: reqwest::Client,
    base_url: String,
    timeout: Duration,
    max_body_bytes: usize,
}

impl ProviderClient {
    pub fn new(config: ProviderClientConfig) -> Result<Self, ClientBuildError> {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        check_base_url(&base_url)?;
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(config.connect_timeout)
                .timeout(config.timeout)
                // A redirect would carry the bearer token to wherever the provider points;
                // the profile endpoints never redirect, so a redirect is a bad answer.
                .redirect(reqwest::redirect::Policy::none())
                // The provider is our own service, reached directly: a proxy from the
                // environment would see every token, and would break the loopback default.
                .no_proxy()
        };
        Ok(ProviderClient {
            http: builder().build()?,
            fresh: builder().pool_max_idle_per_host(0).build()?,
            base_url,
            timeout: config.timeout,
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// The provider's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// GETs `base_url + path` (`path` starts with `/` and is already percent-encoded) with
    /// the token as a bearer credential, and reads the token owner's profile.
    pub async fn get_profile(
        &self,
        path: &str,
        access_token: &Secret,
    ) -> Result<Profile, SocialError> {
        let authorization = bearer(access_token)?;
        let url = format!("{}{}", self.base_url, path);
        let body = self
            .fetch(|client, timeout| {
                client
                    .get(&url)
                    .header(AUTHORIZATION, authorization.clone())
                    .header(ACCEPT, HeaderValue::from_static("application/json"))
                    .timeout(timeout)
            })
            .await?;
        parse_profile(&body)
    }

    /// POSTs `form` to `base_url + path`, authenticated as a client with HTTP Basic
    /// (RFC 6749 §2.3.1), and returns the body of a 2xx answer.
    pub async fn post_form_as_client(
        &self,
        path: &str,
        client_id: &str,
        client_secret: &Secret,
        form: &[(&str, &str)],
    ) -> Result<Vec<u8>, SocialError> {
        let url = format!("{}{}", self.base_url, path);
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credentials = format!("{}:{}", encode(client_id), encode(client_secret.expose()));
        let mut authorization = HeaderValue::try_from(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ))
        .map_err(|_| SocialError::BadResponse("unusable client credentials".to_owned()))?;
        authorization.set_sensitive(true);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.fetch(|client, timeout| {
            client
                .post(&url)
                .header(AUTHORIZATION, authorization.clone())
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                )
                .body(body.clone())
                .timeout(timeout)
        })
        .await
    }

    /// GETs a public JSON document at the absolute `url` (an OpenID Connect discovery
    /// document or a JWKS) and returns its body with the `max-age` of its `Cache-Control`.
    /// A 401, 403 or 404 here is the provider's fault, not a refused token.
    pub async fn get_document(&self, url: &str) -> Result<(Vec<u8>, Option<u64>), SocialError> {
        let response = self
            .send(|client, timeout| {
                client
                    .get(url)
                    .header(ACCEPT, HeaderValue::from_static("application/json"))
                    .timeout(timeout)
            })
            .await
            .map_err(|e| match e {
                SocialError::Rejected => {
                    SocialError::BadResponse("the document is not served".to_owned())
                }
                other => other,
            })?;
        let max_age = response
            .headers()
            .get_all(reqwest::header::CACHE_CONTROL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(max_age);
        Ok((read_capped(response, self.max_body_bytes).await?, max_age))
    }

    /// Sends a request (built by `build` for a client and the time allowed) and returns the
    /// body of a 2xx answer, read within the size cap.
    async fn fetch(
        &self,
        build: impl Fn(&reqwest::Client, Duration) -> reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, SocialError> {
        let response = self.send(build).await?;
        read_capped(response, self.max_body_bytes).await
    }

    /// Sends a request and returns a 2xx answer, its body unread.
    async fn send(
        &self,
        build: impl Fn(&reqwest::Client, Duration) -> reqwest::RequestBuilder,
    ) -> Result<Response, SocialError> {
        let started = Instant::now();
        let build = |client: &reqwest::Client, timeout| {
            let request = build(client, timeout);
            match shared::telemetry::request_id().and_then(|id| HeaderValue::from_str(&id).ok()) {
                Some(id) => request.header(REQUEST_ID, id),
                None => request,
            }
        };
        let response = match build(&self.http, self.timeout).send().await {
            Ok(response) => response,
            // A kept-alive connection that the provider closed meanwhile (it restarted, or
            // its idle timeout struck) fails after the request went out and before any
            // answer, which would otherwise pass for a bad answer from a working provider.
            // Both calls are safe to repeat: send once more on a new connection, within
            // what is left of the time allowed.
            Err(err) if !err.is_timeout() && !err.is_connect() && err.is_request() => {
                let left = self.timeout.saturating_sub(started.elapsed());
                build(&self.fresh, left).send().await.map_err(send_error)?
            }
            Err(err) => return Err(send_error(err)),
        };
        match response.status() {
            status if status.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                return Err(SocialError::Rejected);
            }
            status => {
                return Err(SocialError::BadResponse(format!(
                    "unexpected status {status}"
                )));
            }
        }
        Ok(response)
    }
}

/// The seconds of a `max-age` directive in one `Cache-Control` value; `no-store` and
/// `no-cache` count as zero.
fn max_age(value: &str) -> Option<u64> {
    value.split(',').map(str::trim).find_map(|directive| {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        lower
            .strip_prefix("max-age=")?
            .trim_matches('"')
            .parse()
            .ok()
    })
}

/// The header that carries the request id to the provider.
const REQUEST_ID: &str = "x-request-id";

/// Runs one provider call of `backend` (`call`: `profile`, `introspect`), timing it and
/// counting its failures by kind. A refused token is the caller's fault, not a failure.
pub async fn observed<T>(
    backend: &str,
    call: &str,
    future: impl Future<Output = Result<T, SocialError>>,
) -> Result<T, SocialError> {
    let started = Instant::now();
    let result = future.await;
    let metrics = shared::telemetry::metrics();
    metrics
        .provider_latency
        .with_label_values(&[backend, call])
        .observe(started.elapsed().as_secs_f64());
    let reason = match &result {
        Ok(_)
        | Err(
            SocialError::Rejected
            | SocialError::MissingParameter(_)
            | SocialError::InvalidIdToken(_)
            | SocialError::WrongTokenType(_),
        ) => None,
        Err(SocialError::Timeout) => Some("timeout"),
        Err(SocialError::Unreachable(_)) => Some("unreachable"),
        Err(SocialError::BadResponse(_)) => Some("bad_response"),
    };
    if let Some(reason) = reason {
        metrics
            .provider_failures
            .with_label_values(&[backend, call, reason])
            .inc();
    }
    result
}

/// Refuses at start-up what could only fail on every request.
fn check_base_url(base_url: &str) -> Result<(), ClientBuildError> {
    let url = reqwest::Url::parse(base_url)
        .map_err(|_| ClientBuildError::InvalidBaseUrl("not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientBuildError::InvalidBaseUrl(
            "the scheme must be http or https",
        ));
    }
    if url.host().is_none() {
        return Err(ClientBuildError::InvalidBaseUrl("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ClientBuildError::InvalidBaseUrl(
            "credentials are not allowed",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        // Paths are appended to the base as text, so a query would swallow them.
        return Err(ClientBuildError::InvalidBaseUrl(
            "a query or fragment is not allowed",
        ));
    }
    Ok(())
}

/// The `Authorization` value, marked sensitive so that its Debug output is redacted and
/// HTTP/2, if ever enabled, never indexes it.
fn bearer(access_token: &Secret) -> Result<HeaderValue, SocialError> {
    // Only an RFC 6750 §2.1 `b64token` can have been issued by the provider. Anything else
    // (empty, a newline, non-ASCII, spaces) it would refuse as a malformed request, which
    // must count as a rejected token, not as a provider fault.
    if !shared::oauth2::bearer::is_b64token(access_token.expose()) {
        return Err(SocialError::Rejected);
    }
    let mut value = HeaderValue::try_from(format!("Bearer {}", access_token.expose()))
        .map_err(|_| SocialError::Rejected)?;
    value.set_sensitive(true);
    Ok(value)
}

/// Maps a failure to get a response's head. Timeouts first: a connect timeout is also a
/// connect error, and it is slowness, not absence, the operator needs to hear about.
fn send_error(err: reqwest::Error) -> SocialError {
    if err.is_timeout() {
        SocialError::Timeout
    } else if err.is_connect() || err.is_builder() {
        SocialError::Unreachable(describe(err))
    } else {
        // Something answered, but not with HTTP we could read.
        SocialError::BadResponse(describe(err))
    }
}

/// The error and its causes on one line. reqwest errors never include request headers, and
/// the URL is dropped too: it is ours, and it is already in the configuration.
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads the body chunk by chunk so that a huge or endless answer costs at most `cap` bytes
/// of memory; a declared length above the cap is refused before reading anything.
async fn read_capped(mut response: Response, cap: usize) -> Result<Vec<u8>, SocialError> {
    let too_large = || SocialError::BadResponse("response too large".to_owned());
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(body_error)? {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn body_error(err: reqwest::Error) -> SocialError {
    if err.is_timeout() {
        SocialError::Timeout
    } else {
        SocialError::BadResponse(format!("incomplete body: {}", describe(err)))
    }
}

/// The profile as it travels: `id` must be a JSON integer and `username` a string, while
/// the descriptive fields may be missing or null, as some providers leave them out.
#[derive(Deserialize)]
struct WireProfile {
    id: i64,
    username: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

fn parse_profile(body: &[u8]) -> Result<Profile, SocialError> {
    let wire: WireProfile = serde_json::from_slice(body)
        .map_err(|err| SocialError::BadResponse(format!("not a profile: {err}")))?;
    // The username seeds the local account's name; an empty one would make a nameless user.
    if wire.username.is_empty() {
        return Err(SocialError::BadResponse("empty username".to_owned()));
    }
    Ok(Profile {
        id: wire.id,
        username: wire.username,
        first_name: wire.first_name.unwrap_or_default(),
        last_name: wire.last_name.unwrap_or_default(),
        email: wire.email.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn max_age_is_read_from_cache_control_and_no_cache_is_zero() {
        assert_eq!(super::max_age("public, max-age=3600"), Some(3600));
        assert_eq!(super::max_age("Max-Age=\"60\", must-revalidate"), Some(60));
        assert_eq!(super::max_age("no-store"), Some(0));
        assert_eq!(super::max_age("private"), None);
        assert_eq!(super::max_age("max-age=soon"), None);
    }
}
