//! The backends file (`--backends FILE`): TOML declaring OpenID Connect backends, one
//! `[[backend]]` table each. Everything that could only fail on every request is refused
//! here, at start-up, with the file and line it is on.

use std::path::Path;

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use toml::Spanned;

/// The claim the local username is made from when the file does not say.
pub const DEFAULT_USERNAME_CLAIM: &str = "preferred_username";
/// Clock skew allowed on `exp`, `iat` and `nbf` when the file does not say, and its ceiling.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;
pub const MAX_LEEWAY_SECONDS: u64 = 60;

/// The signature algorithms a backend may allow: asymmetric ones only. `none` and the
/// HMACs are refused, since an HMAC "verified" with a public key is forgeable by anyone.
const ALLOWED: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// One OpenID Connect backend, as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    /// The URL segment and the key of its stored social links.
    pub name: String,
    /// Exactly the `iss` of its ID tokens; discovery is at `issuer/.well-known/...`.
    pub issuer: String,
    /// The `aud` (and `azp`) values accepted: the clients the tokens were issued to.
    pub client_ids: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    /// The claim the new user's username is made from.
    pub username_claim: String,
    pub leeway_seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    backend: Vec<Spanned<RawBackend>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    name: Spanned<String>,
    issuer: Spanned<String>,
    client_ids: Spanned<Vec<String>>,
    algorithms: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    username_claim: Option<Spanned<String>>,
    #[serde(default)]
    leeway_seconds: Option<Spanned<u64>>,
}

/// A refused file: what is wrong and on which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ConfigError {
    pub line: usize,
    pub message: String,
}

/// Reads and checks the file at `path`; `reserved` are the names the code backends hold.
/// The error names the file and the line.
pub fn load(path: &Path, reserved: &[&str]) -> anyhow::Result<Vec<BackendConfig>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("backends file {}: {e}", path.display()))?;
    parse(&text, reserved).map_err(|e| anyhow::anyhow!("backends file {}:{e}", path.display()))
}

/// Checks the text of a backends file.
pub fn parse(text: &str, reserved: &[&str]) -> Result<Vec<BackendConfig>, ConfigError> {
    let at = |span: std::ops::Range<usize>, message: String| ConfigError {
        line: line_of(text, span.start),
        message,
    };
    let file: File = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_owned();
        at(e.span().unwrap_or(0..0), message)
    })?;
    let mut backends: Vec<BackendConfig> = Vec::new();
    for raw in file.backend {
        let raw = raw.into_inner();
        let name = raw.name.get_ref();
        if !is_name(name) {
            return Err(at(
                raw.name.span(),
                format!("backend name {name:?} must be 1 to 64 of a-z, 0-9 and _"),
            ));
        }
        if reserved.contains(&name.as_str()) {
            return Err(at(
                raw.name.span(),
                format!("backend name {name:?} is taken by a built-in backend"),
            ));
        }
        if backends.iter().any(|b| &b.name == name) {
            return Err(at(
                raw.name.span(),
                format!("backend name {name:?} is declared twice"),
            ));
        }
        check_issuer(raw.issuer.get_ref()).map_err(|m| at(raw.issuer.span(), m))?;
        let client_ids = raw.client_ids.get_ref();
        if client_ids.is_empty() || client_ids.iter().any(|id| id.is_empty()) {
            return Err(at(
                raw.client_ids.span(),
                "client_ids must list at least one non-empty client id".to_owned(),
            ));
        }
        if raw.algorithms.get_ref().is_empty() {
            return Err(at(
                raw.algorithms.span(),
                "algorithms must list at least one algorithm".to_owned(),
            ));
        }
        let mut algorithms = Vec::new();
        for alg in raw.algorithms.get_ref() {
            let found = ALLOWED.iter().find(|(n, _)| n == alg.get_ref());
            let Some((_, alg)) = found else {
                let names: Vec<&str> = ALLOWED.iter().map(|(n, _)| *n).collect();
                return Err(at(
                    alg.span(),
                    format!(
                        "algorithm {:?} is not allowed (none and HMAC never are); use one of {}",
                        alg.get_ref(),
                        names.join(", ")
                    ),
                ));
            };
            algorithms.push(*alg);
        }
        let username_claim = match raw.username_claim {
            Some(claim) if claim.get_ref().is_empty() => {
                return Err(at(claim.span(), "username_claim is empty".to_owned()));
            }
            Some(claim) => claim.into_inner(),
            None => DEFAULT_USERNAME_CLAIM.to_owned(),
        };
        let leeway_seconds = match raw.leeway_seconds {
            Some(leeway) if *leeway.get_ref() > MAX_LEEWAY_SECONDS => {
                return Err(at(
                    leeway.span(),
                    format!("leeway_seconds must be at most {MAX_LEEWAY_SECONDS}"),
                ));
            }
            Some(leeway) => leeway.into_inner(),
            None => DEFAULT_LEEWAY_SECONDS,
        };
        backends.push(BackendConfig {
            name: name.clone(),
            issuer: raw.issuer.into_inner(),
            client_ids: raw.client_ids.into_inner(),
            algorithms,
            username_claim,
            leeway_seconds,
        });
    }
    Ok(backends)
}

/// A name that is one URL segment and a metrics label as it is.
fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_issuer(issuer: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(issuer).map_err(|_| format!("issuer {issuer:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("issuer {issuer:?} must be an http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "issuer {issuer:?} must not have credentials, a query or a fragment"
        ));
    }
    Ok(())
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESERVED: &[&str] = &["fake_social_site", "fake_social_site_with_params"];

    const ISSUE_EXAMPLE: &str = r#"
[[backend]]
name = "fake_social_site_oidc"
issuer = "http://127.0.0.1:8005"
client_ids = ["ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d"]
algorithms = ["ES256", "RS256"]
"#;

    #[test]
    fn the_issues_example_works_as_written_with_the_defaults() {
        let backends = parse(ISSUE_EXAMPLE, RESERVED).expect("a valid file");
        assert_eq!(
            backends,
            [BackendConfig {
                name: "fake_social_site_oidc".into(),
                issuer: "http://127.0.0.1:8005".into(),
                client_ids: vec!["ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d".into()],
                algorithms: vec![Algorithm::ES256, Algorithm::RS256],
                username_claim: DEFAULT_USERNAME_CLAIM.into(),
                leeway_seconds: DEFAULT_LEEWAY_SECONDS,
            }]
        );
        assert_eq!(parse("", RESERVED), Ok(vec![]));
    }

    #[test]
    fn the_sample_file_in_deploy_is_valid() {
        let text = include_str!("../../../../deploy/backends.example.toml");
        let backends = parse(text, RESERVED).expect("a valid sample");
        assert_eq!(backends[0].name, "fake_social_site_oidc");
    }

    fn refused(text: &str) -> ConfigError {
        parse(text, RESERVED).expect_err("a refused file")
    }

    #[test]
    fn every_bad_file_is_refused_on_the_line_at_fault() {
        let with =
            |line: &str| ISSUE_EXAMPLE.replacen("algorithms = [\"ES256\", \"RS256\"]", line, 1);
        let cases = [
            (with("algorithms = [\"none\"]"), 6, "not allowed"),
            (
                with("algorithms = [\"RS256\",\n  \"HS256\"]"),
                7,
                "not allowed",
            ),
            (with("algorithms = []"), 6, "at least one"),
            (
                with("algorithms = [\"ES256\"]\nsurprise = 1"),
                7,
                "unknown field",
            ),
            (
                with("algorithms = [\"ES256\"]\nleeway_seconds = 61"),
                7,
                "at most 60",
            ),
            (with("algorithms = [\"ES256\"] oops"), 6, ""),
            (
                ISSUE_EXAMPLE.replace("http://127.0.0.1:8005", "ftp://example.com"),
                4,
                "http(s)",
            ),
            (
                ISSUE_EXAMPLE.replace("[\"ZQcMr611iZMcUskTGoRcyZuhqCjZYy08lyOsWM5d\"]", "[]"),
                5,
                "at least one",
            ),
            (
                ISSUE_EXAMPLE.replace("fake_social_site_oidc", "fake_social_site"),
                3,
                "built-in",
            ),
            (
                format!("{ISSUE_EXAMPLE}{ISSUE_EXAMPLE}"),
                9,
                "declared twice",
            ),
            (
                ISSUE_EXAMPLE.replace("name = ", "nom = "),
                3,
                "unknown field",
            ),
            (
                ISSUE_EXAMPLE.replace("issuer = \"http://127.0.0.1:8005\"\n", ""),
                2,
                "missing field",
            ),
        ];
        for (text, line, words) in cases {
            let error = refused(&text);
            assert_eq!(error.line, line, "{text}\n{error}");
            assert!(error.message.contains(words), "{text}\n{error}");
        }
    }
}
