//! OAuth2 client applications (Django OAuth Toolkit's `oauth2_provider.application`).

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use std::io::Write;

use crate::security::secret::{Secret, constant_time_eq, sha256_hex};
use crate::storage::db::MultiBackend;
use crate::storage::schema::applications;
use crate::storage::tokens::SigningAlg;

/// Who a client is (RFC 6749 §2.1): a confidential client can keep a secret, a public one
/// (a browser or mobile app) cannot. Stored as Django OAuth Toolkit's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum ClientType {
    Public,
    Confidential,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Public => "public",
            ClientType::Confidential => "confidential",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "public" => Some(ClientType::Public),
            "confidential" => Some(ClientType::Confidential),
            _ => None,
        }
    }
}

/// A grant a client may use at the token endpoint, by its RFC name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    Password,
    RefreshToken,
    AuthorizationCode,
    ClientCredentials,
    /// RFC 8693.
    TokenExchange,
    /// drf-social-oauth2's grant for exchanging a social provider's token.
    ConvertToken,
}

impl GrantType {
    pub const ALL: [GrantType; 6] = [
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::TokenExchange,
        GrantType::ConvertToken,
    ];

    /// The `grant_type` value that names it.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            GrantType::ConvertToken => "convert_token",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == value)
    }
}

impl std::fmt::Display for GrantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The grants one client may use; stored space-separated. A name this code does not know
/// (from an imported database) is never a grant the client may use, so it is dropped when read.
#[derive(Debug, Clone, Default, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct GrantTypes(Vec<GrantType>);

impl GrantTypes {
    pub fn contains(&self, grant: GrantType) -> bool {
        self.0.contains(&grant)
    }

    pub fn iter(&self) -> impl Iterator<Item = GrantType> + '_ {
        self.0.iter().copied()
    }

    /// Parses a space-separated list of grant names; an unknown name is an error.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(' ')
            .filter(|g| !g.is_empty())
            .map(|g| GrantType::parse(g).ok_or_else(|| format!("unknown grant type {g:?}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::from)
    }

    /// Django OAuth Toolkit names one grant per application (`authorization_grant_type`, or
    /// `--grant-type` here): the grants it implies. `none` is a client that only
    /// authenticates, e.g. to introspect tokens.
    pub fn from_django(authorization_grant_type: &str) -> Result<Self, String> {
        Ok(Self::from(match authorization_grant_type {
            "password" => vec![GrantType::Password, GrantType::RefreshToken],
            "authorization-code" | "authorization_code" => {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            }
            "client-credentials" | "client_credentials" => vec![GrantType::ClientCredentials],
            "none" => Vec::new(),
            other => {
                let grant = GrantType::parse(other)
                    .ok_or_else(|| format!("unknown grant type {other:?}"))?;
                vec![grant]
            }
        }))
    }
}

impl From<Vec<GrantType>> for GrantTypes {
    /// In a stable order, each grant once.
    fn from(mut grants: Vec<GrantType>) -> Self {
        grants.sort_unstable();
        grants.dedup();
        GrantTypes(grants)
    }
}

impl FromIterator<GrantTypes> for GrantTypes {
    fn from_iter<I: IntoIterator<Item = GrantTypes>>(all: I) -> Self {
        Self::from(all.into_iter().flat_map(|g| g.0).collect::<Vec<_>>())
    }
}

impl std::fmt::Display for GrantTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.iter().map(GrantType::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

// Stored as text on every backend: written through `str`, read through `String`.
impl<DB: Backend> ToSql<Text, DB> for ClientType
where
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
    }
}

impl<DB: Backend> FromSql<Text, DB> for ClientType
where
    String: FromSql<Text, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, DB>>::from_sql(value)?;
        ClientType::parse(&text).ok_or_else(|| format!("unknown client type {text:?}").into())
    }
}

// The list is built when written, so each backend gets an owned string.
impl ToSql<Text, Sqlite> for GrantTypes {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.to_string());
        Ok(IsNull::No)
    }
}

impl ToSql<Text, Pg> for GrantTypes {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.to_string().as_bytes())?;
        Ok(IsNull::No)
    }
}

impl ToSql<Text, MultiBackend> for GrantTypes {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((Text, self));
        Ok(IsNull::No)
    }
}

impl<DB: Backend> FromSql<Text, DB> for GrantTypes
where
    String: FromSql<Text, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, DB>>::from_sql(value)?;
        Ok(Self::from(
            text.split(' ')
                .filter_map(GrantType::parse)
                .collect::<Vec<_>>(),
        ))
    }
}

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = applications)]
pub struct Application {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub client_secret_hash: Option<String>,
    pub grant_types: GrantTypes,
    pub user_id: Option<i64>,
    pub created: i64,
    /// May call `/o/introspect/` (RFC 7662 §4); granted only by [`allow_introspection`].
    pub allow_introspection: bool,
    /// Django OAuth Toolkit's space-separated redirect URIs, matched exactly; set by
    /// [`set_openid_client`].
    pub redirect_uris: String,
    /// The JWS algorithm of this client's ID tokens (`ES256` or `RS256`).
    pub id_token_alg: String,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("client_type", &self.client_type)
            .field("grant_types", &self.grant_types)
            .field("allow_introspection", &self.allow_introspection)
            .field("redirect_uris", &self.redirect_uris)
            .field("id_token_alg", &self.id_token_alg)
            .finish_non_exhaustive()
    }
}

impl Application {
    pub fn is_confidential(&self) -> bool {
        self.client_type == ClientType::Confidential
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(grant)
    }

    /// Whether `uri` is one of the registered redirect URIs, compared exactly (RFC 9700
    /// §4.1.3: no prefix or pattern matching).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris
            .split(' ')
            .any(|registered| registered == uri)
    }

    /// Constant-time check of a presented secret against the stored hash. Slow for a hash in
    /// one of Django's password formats (see [`Application::has_slow_secret`]).
    pub fn verify_secret(&self, secret: &Secret) -> bool {
        match &self.client_secret_hash {
            Some(stored) => verify_secret_hash(secret, stored),
            None => false,
        }
    }

    /// True when the stored secret is in a slow format (imported from Django OAuth Toolkit),
    /// to be checked like a password and then stored again with [`hash_secret`].
    pub fn has_slow_secret(&self) -> bool {
        self.client_secret_hash
            .as_deref()
            .is_some_and(|stored| !stored.starts_with(FAST_PREFIX))
    }
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = applications)]
pub struct NewApplication {
    pub id: Option<i64>,
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub client_secret_hash: Option<String>,
    pub grant_types: GrantTypes,
    pub user_id: Option<i64>,
    pub created: i64,
}

/// Client secrets are long random strings, so one SHA-256 is enough to make a stolen
/// database useless (a slow hash protects low-entropy passwords, not these).
pub fn hash_secret(secret: &Secret) -> String {
    format!("{FAST_PREFIX}{}", sha256_hex(secret.expose()))
}

const FAST_PREFIX: &str = "sha256$";

/// A stored value that is already a hash (from a Django fixture) is kept as it is.
pub fn is_hashed(value: &str) -> bool {
    value.starts_with("sha256$") || value.starts_with("pbkdf2_sha256$")
}

fn verify_secret_hash(secret: &Secret, stored: &str) -> bool {
    if let Some(hex) = stored.strip_prefix(FAST_PREFIX) {
        return constant_time_eq(sha256_hex(secret.expose()).as_bytes(), hex.as_bytes());
    }
    // Django OAuth Toolkit 2+ stores secrets with Django's password hashers.
    crate::security::password::matches(secret, stored)
}

/// Compares against a fixed hash so that an unknown client costs what a wrong secret costs.
pub fn verify_against_dummy(secret: &Secret) {
    let _ = verify_secret_hash(
        secret,
        "sha256$0000000000000000000000000000000000000000000000000000000000000000",
    );
}

pub fn find_by_client_id(
    conn: &mut crate::storage::db::Connection,
    client_id: &str,
) -> QueryResult<Option<Application>> {
    if !crate::storage::db::storable(client_id) {
        return Ok(None);
    }
    applications::table
        .filter(applications::client_id.eq(client_id))
        .select(Application::as_select())
        .get_result(conn)
        .optional()
}

pub fn create(
    conn: &mut crate::storage::db::Connection,
    new: &NewApplication,
) -> QueryResult<Application> {
    // `RETURNING` a `Selectable` is built per backend.
    crate::per_backend!(conn, |conn| diesel::insert_into(applications::table)
        .values(new)
        .returning(Application::as_returning())
        .get_result(conn))
}

/// Replaces a client's stored secret hash, unless it changed since `old` was read (a secret
/// rotated meanwhile wins). Returns whether it was replaced.
pub fn replace_secret_hash(
    conn: &mut crate::storage::db::Connection,
    id: i64,
    old: &str,
    new: &str,
) -> QueryResult<bool> {
    let updated = diesel::update(
        applications::table
            .find(id)
            .filter(applications::client_secret_hash.eq(old)),
    )
    .set(applications::client_secret_hash.eq(new))
    .execute(conn)?;
    Ok(updated == 1)
}

pub fn upsert(conn: &mut crate::storage::db::Connection, new: &NewApplication) -> QueryResult<()> {
    crate::per_backend!(conn, |conn| diesel::insert_into(applications::table)
        .values(new)
        .on_conflict(applications::id)
        .do_update()
        .set(new)
        .execute(conn))?;
    Ok(())
}

/// Grants (or withdraws) the permission to introspect tokens. Kept apart from creating a
/// client, so that granting it is always an explicit act. Returns whether the client exists.
pub fn allow_introspection(
    conn: &mut crate::storage::db::Connection,
    client_id: &str,
    allowed: bool,
) -> QueryResult<bool> {
    let updated = diesel::update(applications::table.filter(applications::client_id.eq(client_id)))
        .set(applications::allow_introspection.eq(allowed))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Checks a redirect URI before it is registered: absolute (a scheme and something after
/// it), no fragment (RFC 6749 §3.1.2), no spaces or control characters (the list is
/// space-separated).
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !scheme_ok {
        return Err(format!("redirect URI {uri:?} is not an absolute URI"));
    }
    if uri.contains('#') {
        return Err(format!("redirect URI {uri:?} has a fragment"));
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "redirect URI {uri:?} holds a space, a control or a non-ASCII character \
             (percent-encode it)"
        ));
    }
    Ok(())
}

/// Sets a client's redirect URIs and ID-token algorithm (OpenID Connect registration),
/// checking both. Kept apart from creating a client, as [`allow_introspection`] is. Returns
/// whether the client exists.
pub fn set_openid_client(
    conn: &mut crate::storage::db::Connection,
    client_id: &str,
    redirect_uris: &[String],
    id_token_alg: &str,
) -> Result<bool, String> {
    for uri in redirect_uris {
        check_redirect_uri(uri)?;
    }
    let alg: SigningAlg = id_token_alg
        .parse()
        .map_err(|_| format!("ID-token algorithm {id_token_alg:?} is not ES256 or RS256"))?;
    let updated = diesel::update(applications::table.filter(applications::client_id.eq(client_id)))
        .set((
            applications::redirect_uris.eq(redirect_uris.join(" ")),
            applications::id_token_alg.eq(alg.as_str()),
        ))
        .execute(conn)
        .map_err(|e| e.to_string())?;
    Ok(updated == 1)
}

/// The ID-token algorithms registered clients use, each once.
pub fn id_token_algs_in_use(conn: &mut crate::storage::db::Connection) -> QueryResult<Vec<String>> {
    applications::table
        .select(applications::id_token_alg)
        .distinct()
        .load(conn)
}

/// Creates the confidential client `client_id`, or gives it a new secret, sets whether it may
/// introspect, and returns the secret: shown to the caller once, only its hash is stored.
/// Used to provision one service's client at another (My API's introspection client at Fake
/// Social Site).
pub fn provision_confidential(
    conn: &mut crate::storage::db::Connection,
    client_id: &str,
    name: &str,
    introspection: bool,
) -> QueryResult<Secret> {
    let secret = Secret::new(crate::security::secret::random_alphanumeric(64));
    let hash = hash_secret(&secret);
    conn.write_transaction(|conn| {
        let updated =
            diesel::update(applications::table.filter(applications::client_id.eq(client_id)))
                .set((
                    applications::client_type.eq(ClientType::Confidential),
                    applications::client_secret_hash.eq(&hash),
                ))
                .execute(conn)?;
        if updated == 0 {
            create(
                conn,
                &NewApplication {
                    id: None,
                    client_id: client_id.to_owned(),
                    name: name.to_owned(),
                    client_type: ClientType::Confidential,
                    client_secret_hash: Some(hash.clone()),
                    // Introspection needs no grant.
                    grant_types: GrantTypes::default(),
                    user_id: None,
                    created: crate::clock::now(),
                },
            )?;
        }
        allow_introspection(conn, client_id, introspection)?;
        QueryResult::Ok(())
    })?;
    Ok(secret)
}

/// Every application, by id (admin commands).
pub fn list(conn: &mut crate::storage::db::Connection) -> QueryResult<Vec<Application>> {
    applications::table
        .order(applications::id)
        .select(Application::as_select())
        .load(conn)
}

/// Deletes an application and its tokens; false when there is none with this client id.
pub fn delete(conn: &mut crate::storage::db::Connection, client_id: &str) -> QueryResult<bool> {
    use crate::storage::schema::{access_tokens, refresh_tokens};
    conn.write_transaction(|conn| {
        let Some(app) = find_by_client_id(conn, client_id)? else {
            return Ok(false);
        };
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::application_id.eq(app.id)))
            .execute(conn)?;
        diesel::delete(access_tokens::table.filter(access_tokens::application_id.eq(app.id)))
            .execute(conn)?;
        diesel::delete(applications::table.find(app.id)).execute(conn)?;
        Ok(true)
    })
}

/// Gives a confidential client a new random secret (its hash is stored) and returns it;
/// `None` when there is no such client. A public client has no secret to rotate.
pub fn rotate_secret(
    conn: &mut crate::storage::db::Connection,
    client_id: &str,
) -> QueryResult<Option<Secret>> {
    let secret = Secret::new(crate::security::secret::random_alphanumeric(64));
    let updated = diesel::update(
        applications::table
            .filter(applications::client_id.eq(client_id))
            .filter(applications::client_type.eq(ClientType::Confidential)),
    )
    .set(applications::client_secret_hash.eq(hash_secret(&secret)))
    .execute(conn)?;
    Ok((updated == 1).then_some(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_lists_read_django_names_print_rfc_names_and_refuse_unknown_ones() {
        let password = GrantTypes::from_django("password").expect("known");
        assert_eq!(password.to_string(), "password refresh_token");
        assert!(password.contains(GrantType::RefreshToken));
        assert!(!password.contains(GrantType::AuthorizationCode));
        assert_eq!(GrantTypes::from_django("none"), Ok(GrantTypes::default()));
        assert_eq!(
            GrantTypes::from_django("authorization-code")
                .expect("known")
                .to_string(),
            "refresh_token authorization_code"
        );
        let both: GrantTypes = ["password", "convert_token", "password"]
            .into_iter()
            .map(|g| GrantTypes::from_django(g).expect("known"))
            .collect();
        assert_eq!(both.to_string(), "password refresh_token convert_token");
        assert_eq!(GrantTypes::parse(&both.to_string()), Ok(both));
        assert!(GrantTypes::parse("password implicit").is_err());
        assert!(GrantTypes::from_django("openid-hybrid").is_err());
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.as_str()), Some(grant));
        }
    }

    #[test]
    fn a_stored_grant_this_code_does_not_know_is_never_allowed() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let fresh = crate::storage::testdb::TestDb::create(dir.path(), "applications");
        let db = crate::storage::db::Db::open(&fresh.config(), &[]).expect("open");
        let mut conn = db.get().expect("a connection");
        diesel::sql_query(
            "INSERT INTO applications (client_id, name, client_type, grant_types, created) \
             VALUES ('c', 'c', 'public', 'password openid_hybrid', 0)",
        )
        .execute(&mut conn)
        .expect("insert");
        let app = find_by_client_id(&mut conn, "c")
            .expect("read")
            .expect("found");
        assert_eq!(app.client_type, ClientType::Public);
        assert_eq!(app.grant_types.to_string(), "password");
    }
}
