//! OAuth2 client applications (Django OAuth Toolkit's `oauth2_provider.application`).

use diesel::prelude::*;

use crate::security::secret::{Secret, constant_time_eq, sha256_hex};
use crate::storage::schema::applications;

pub mod grant {
    pub const PASSWORD: &str = "password";
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// RFC 8693.
    pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    /// drf-social-oauth2's grant for exchanging a social provider's token.
    pub const CONVERT_TOKEN: &str = "convert_token";
}

pub const PUBLIC: &str = "public";
pub const CONFIDENTIAL: &str = "confidential";

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = applications)]
pub struct Application {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub client_type: String,
    pub client_secret_hash: Option<String>,
    pub grant_types: String,
    pub user_id: Option<i64>,
    pub created: i64,
    /// May call `/o/introspect/` (RFC 7662 §4); granted only by [`allow_introspection`].
    pub allow_introspection: bool,
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
            .finish_non_exhaustive()
    }
}

impl Application {
    pub fn is_confidential(&self) -> bool {
        self.client_type == CONFIDENTIAL
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.split(' ').any(|g| g == grant_type)
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
    pub client_type: String,
    pub client_secret_hash: Option<String>,
    pub grant_types: String,
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

/// Django OAuth Toolkit names one grant per application; map it to the grants it implies.
pub fn grants_for_django_type(authorization_grant_type: &str) -> String {
    match authorization_grant_type {
        "password" => format!("{} {}", grant::PASSWORD, grant::REFRESH_TOKEN),
        "authorization-code" => format!("authorization_code {}", grant::REFRESH_TOKEN),
        "client-credentials" => "client_credentials".to_owned(),
        // A client that only authenticates, e.g. to introspect tokens.
        "none" => String::new(),
        other => other.replace('-', "_"),
    }
}

pub fn find_by_client_id(
    conn: &mut crate::storage::db::Connection,
    client_id: &str,
) -> QueryResult<Option<Application>> {
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
    diesel::insert_into(applications::table)
        .values(new)
        .returning(Application::as_returning())
        .get_result(conn)
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
    diesel::insert_into(applications::table)
        .values(new)
        .on_conflict(applications::id)
        .do_update()
        .set(new)
        .execute(conn)?;
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
    conn.immediate_transaction(|conn| {
        let updated =
            diesel::update(applications::table.filter(applications::client_id.eq(client_id)))
                .set((
                    applications::client_type.eq(CONFIDENTIAL),
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
                    client_type: CONFIDENTIAL.to_owned(),
                    client_secret_hash: Some(hash.clone()),
                    // Introspection needs no grant.
                    grant_types: String::new(),
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
