//! `DATABASE_URL` (or `--database`): which backend, and where. A plain path, `sqlite://…` or
//! `sqlite:…` is a SQLite file; `postgres://…` or `postgresql://…` is a PostgreSQL server
//! (libpq's URI form). Anything else is refused by name. A password in the URL never leaves
//! this module in clear: [`DatabaseUrl`]'s `Display` and `Debug`, and every error, show it as
//! `***`.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where the database is, parsed once from the configuration.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL for libpq, kept whole (it may hold a password: see [`Self::redacted`]).
    Postgres(String),
}

/// Why a database URL was refused; the URL is shown without its password.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("the database URL is empty")]
    Empty,
    #[error(
        "unsupported database URL {0}: give a SQLite path, a sqlite:// URL or a postgres:// URL"
    )]
    Scheme(String),
    #[error("bad PostgreSQL URL {url}: {reason}")]
    Postgres { url: String, reason: &'static str },
}

impl DatabaseUrl {
    /// Parses a configured URL; see the module's comment for the forms accepted.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(UrlError::Empty);
        }
        if let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        {
            check_postgres(url, rest)?;
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(UrlError::Empty);
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if url.contains("://") {
            return Err(UrlError::Scheme(redact(url)));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(url)))
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            DatabaseUrl::Sqlite(path) => Some(path),
            DatabaseUrl::Postgres(_) => None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }

    /// The URL as it may be logged or printed: any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => path.display().to_string(),
            DatabaseUrl::Postgres(url) => redact(url),
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            DatabaseUrl::Postgres(_) => f.debug_tuple("Postgres").field(&self.redacted()).finish(),
        }
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = UrlError;
    fn from_str(url: &str) -> Result<Self, UrlError> {
        Self::parse(url)
    }
}

impl From<&DatabaseUrl> for DatabaseUrl {
    fn from(url: &DatabaseUrl) -> Self {
        url.clone()
    }
}

impl From<PathBuf> for DatabaseUrl {
    fn from(path: PathBuf) -> Self {
        DatabaseUrl::Sqlite(path)
    }
}

impl From<&Path> for DatabaseUrl {
    fn from(path: &Path) -> Self {
        DatabaseUrl::Sqlite(path.to_owned())
    }
}

impl From<&PathBuf> for DatabaseUrl {
    fn from(path: &PathBuf) -> Self {
        DatabaseUrl::Sqlite(path.clone())
    }
}

/// What libpq would refuse late, or misread, refused now with a clear reason: the authority
/// must be `[user[:password]@]host[:port]` with a numeric port (or empty, for the default
/// unix socket with `?host=/dir`).
fn check_postgres(url: &str, rest: &str) -> Result<(), UrlError> {
    let bad = |reason| UrlError::Postgres {
        url: redact(url),
        reason,
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.contains(char::is_whitespace) || rest.contains(char::is_whitespace) {
        return Err(bad("it holds whitespace"));
    }
    // An IPv6 literal is bracketed; the port follows the bracket.
    let port = if let Some(v6) = host_port.strip_prefix('[') {
        let (_, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("an unclosed [ in the host"))?;
        after.strip_prefix(':')
    } else {
        host_port.split_once(':').map(|(_, p)| p)
    };
    if let Some(port) = port
        && (port.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(bad("the port is not a number from 0 to 65535"));
    }
    Ok(())
}

/// `url` with the password of its user info, and any `password=` parameter, as `***`.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (mut body, query) = match rest.split_once('?') {
        Some((body, query)) => (body.to_owned(), Some(query)),
        None => (rest.to_owned(), None),
    };
    let authority_end = body.find('/').unwrap_or(body.len());
    if let Some(at) = body[..authority_end].rfind('@')
        && let Some(colon) = body[..at].find(':')
    {
        body.replace_range(colon + 1..at, "***");
    }
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    let mut out = if scheme.is_empty() {
        body
    } else {
        format!("{scheme}://{body}")
    };
    if let Some(query) = query {
        out.push('?');
        out.push_str(&query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_and_the_sqlite_forms_are_sqlite_files() {
        for (url, path) in [
            ("data/my-api.sqlite3", "data/my-api.sqlite3"),
            ("/var/lib/x.sqlite3", "/var/lib/x.sqlite3"),
            ("sqlite:///var/lib/x.sqlite3", "/var/lib/x.sqlite3"),
            ("sqlite://data/x.sqlite3", "data/x.sqlite3"),
            ("sqlite:data/x.sqlite3", "data/x.sqlite3"),
            ("sqlite:/var/lib/x.sqlite3", "/var/lib/x.sqlite3"),
        ] {
            assert_eq!(
                DatabaseUrl::parse(url),
                Ok(DatabaseUrl::Sqlite(PathBuf::from(path))),
                "{url}"
            );
        }
    }

    #[test]
    fn postgres_urls_are_kept_whole_for_libpq() {
        for url in [
            "postgres://app:pw@127.0.0.1:5432/my_api",
            "postgresql://localhost/my_api",
            "postgres://app@[::1]:5433/db?sslmode=disable",
            "postgres:///my_api?host=/run/postgresql",
        ] {
            assert_eq!(
                DatabaseUrl::parse(url),
                Ok(DatabaseUrl::Postgres(url.to_owned())),
                "{url}"
            );
            assert!(DatabaseUrl::parse(url).expect("parses").is_postgres());
        }
    }

    #[test]
    fn a_bad_url_is_named_without_its_password() {
        let cases = [
            (
                "mysql://root:s3cret@db/app",
                "unsupported database URL mysql://root:***@db/app",
            ),
            (
                "postgres://app:s3cret@db:54x2/app",
                "bad PostgreSQL URL postgres://app:***@db:54x2/app: the port is not a number",
            ),
            (
                "postgres://app:s3cret@db:/app",
                "bad PostgreSQL URL postgres://app:***@db:/app: the port",
            ),
            (
                "postgres://app@db:99999/app?password=s3cret",
                "bad PostgreSQL URL postgres://app@db:99999/app?password=***: the port",
            ),
        ];
        for (url, start) in cases {
            let message = DatabaseUrl::parse(url).expect_err(url).to_string();
            assert!(message.starts_with(start), "{url}: {message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
        assert_eq!(DatabaseUrl::parse("  "), Err(UrlError::Empty));
        assert_eq!(DatabaseUrl::parse("sqlite://"), Err(UrlError::Empty));
    }

    #[test]
    fn display_and_debug_never_show_the_password() {
        let url =
            DatabaseUrl::parse("postgres://app:s3cret@db/app?password=s3cret&x=1").expect("parses");
        assert_eq!(
            url.to_string(),
            "postgres://app:***@db/app?password=***&x=1"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        // A password holding '@' or ':' is hidden whole.
        let url = DatabaseUrl::parse("postgres://app:p@ss:w@db/app").expect("parses");
        assert_eq!(url.to_string(), "postgres://app:***@db/app");
    }
}
