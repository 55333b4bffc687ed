//! Loads Django `dumpdata` fixtures (`[{"model", "pk", "fields"}]`), so data from a Django
//! deployment loads unchanged. Loading is idempotent by primary key, and each file is one
//! transaction: a bad record leaves the database as it was.
//!
//! This module knows `auth.user` and `oauth2_provider.application`; a service adds its own
//! models with [`ModelLoader`].

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::security::secret::Secret;
use crate::storage::applications::{self, ClientType, GrantTypes, NewApplication};
use crate::storage::db::Connection;
use crate::storage::users::{self, NewUser};

#[derive(Debug, Error)]
pub enum FixtureError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a Django fixture: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("record {index} ({model}): {reason}")]
    Invalid {
        index: usize,
        model: String,
        reason: String,
    },
    #[error("database error: {0}")]
    Storage(#[from] diesel::result::Error),
}

#[derive(Debug, Deserialize)]
struct Record {
    model: String,
    #[serde(default)]
    pk: Option<Value>,
    #[serde(default)]
    fields: Map<String, Value>,
}

/// A record's fields, with typed accessors that explain what is wrong.
#[derive(Debug)]
pub struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    pub fn str(&self, name: &str) -> Result<Option<&str>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("field {name} must be a string")),
        }
    }

    pub fn required_str(&self, name: &str) -> Result<&str, String> {
        self.str(name)?
            .ok_or_else(|| format!("field {name} is required"))
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("field {name} must be true or false")),
        }
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("field {name} must be an integer")),
        }
    }

    /// A user reference: a primary key or Django's natural key `["username"]`.
    pub fn user(&self, conn: &mut Connection, name: &str) -> Result<Option<i64>, String> {
        let username = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => {
                return n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| format!("field {name} is not a key"));
            }
            Some(Value::Array(key)) => match key.as_slice() {
                [Value::String(username)] => username,
                _ => return Err(format!("field {name} must be a pk or [\"username\"]")),
            },
            Some(_) => return Err(format!("field {name} must be a pk or [\"username\"]")),
        };
        match users::find_by_username(conn, username) {
            Ok(Some(user)) => Ok(Some(user.id)),
            Ok(None) => Err(format!("field {name}: no user named {username:?}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Loads one model's records; implemented by each service for its own tables.
pub trait ModelLoader: Sync + std::fmt::Debug {
    /// The Django label, e.g. `items.item`.
    fn model(&self) -> &'static str;
    fn load(
        &self,
        conn: &mut Connection,
        pk: Option<i64>,
        fields: &Fields<'_>,
    ) -> Result<(), String>;
}

/// Loads every record of `path` in one write transaction; returns how many.
pub fn load_file(
    conn: &mut Connection,
    path: &Path,
    loaders: &[&dyn ModelLoader],
) -> Result<usize, FixtureError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
        path: shown.clone(),
        source,
    })?;
    load_json(conn, &shown, &text, loaders)
}

/// Loads fixture text (`name` only labels errors); one write transaction.
pub fn load_json(
    conn: &mut Connection,
    name: &str,
    text: &str,
    loaders: &[&dyn ModelLoader],
) -> Result<usize, FixtureError> {
    let records: Vec<Record> = serde_json::from_str(text).map_err(|source| FixtureError::Json {
        path: name.to_owned(),
        source,
    })?;
    let builtin: [&dyn ModelLoader; 2] = [&UserLoader, &ApplicationLoader];
    conn.write_transaction(|conn| {
        for (index, record) in records.iter().enumerate() {
            let invalid = |reason: String| FixtureError::Invalid {
                index,
                model: record.model.clone(),
                reason,
            };
            let loader = builtin
                .iter()
                .chain(loaders)
                .find(|l| l.model() == record.model)
                .ok_or_else(|| invalid("unknown model".to_owned()))?;
            let pk = match &record.pk {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .ok_or_else(|| invalid("pk must be an integer".to_owned()))?,
                ),
            };
            loader
                .load(conn, pk, &Fields(&record.fields))
                .map_err(invalid)?;
        }
        crate::storage::db::reset_sequences(conn)?;
        Ok(records.len())
    })
}

/// Hash formats a fixture may carry; a plaintext password would never verify.
fn is_password_hash(value: &str) -> bool {
    value == crate::security::password::UNUSABLE
        || value.starts_with('!')
        || value.starts_with("$2")
        || ["bcrypt$", "bcrypt_sha256$", "pbkdf2_sha256$"]
            .iter()
            .any(|p| value.starts_with(p))
}

#[derive(Debug)]
struct UserLoader;

impl ModelLoader for UserLoader {
    fn model(&self) -> &'static str {
        "auth.user"
    }

    fn load(&self, conn: &mut Connection, pk: Option<i64>, f: &Fields<'_>) -> Result<(), String> {
        let password = f.required_str("password")?;
        if !is_password_hash(password) {
            return Err(
                "password must be a bcrypt or Django hash, not a plaintext password".into(),
            );
        }
        let mut user = NewUser::new(f.required_str("username")?, password);
        user.id = pk;
        user.email = f.str("email")?.unwrap_or_default().to_owned();
        user.first_name = f.str("first_name")?.unwrap_or_default().to_owned();
        user.last_name = f.str("last_name")?.unwrap_or_default().to_owned();
        user.is_active = f.bool("is_active", true)?;
        user.is_staff = f.bool("is_staff", false)?;
        user.is_superuser = f.bool("is_superuser", false)?;
        let result = match pk {
            Some(_) => users::upsert(conn, &user),
            None => users::create(conn, &user).map(|_| ()),
        };
        result.map_err(|e| e.to_string())
    }
}

#[derive(Debug)]
struct ApplicationLoader;

impl ModelLoader for ApplicationLoader {
    fn model(&self) -> &'static str {
        "oauth2_provider.application"
    }

    fn load(&self, conn: &mut Connection, pk: Option<i64>, f: &Fields<'_>) -> Result<(), String> {
        let client_type = match f.str("client_type")? {
            None => ClientType::Public,
            Some(name) => ClientType::parse(name)
                .ok_or_else(|| format!("client_type {name:?} is not public or confidential"))?,
        };
        let grant_types = match f.str("grant_types")? {
            // This project's extension: several grants, space-separated.
            Some(list) => GrantTypes::parse(list)?,
            None => {
                GrantTypes::from_django(f.str("authorization_grant_type")?.unwrap_or("password"))?
            }
        };
        // Public clients have no secret; a confidential one's is hashed unless it already is.
        let confidential = client_type == ClientType::Confidential;
        let client_secret_hash = match (confidential, f.str("client_secret")?) {
            (true, Some(s)) if applications::is_hashed(s) => Some(s.to_owned()),
            (true, Some(s)) if !s.is_empty() => Some(applications::hash_secret(&Secret::from(s))),
            (true, _) => {
                return Err("a confidential application needs a client_secret".into());
            }
            (false, _) => None,
        };
        // This project's extension (DESIGN.md §7): may the client introspect tokens?
        let introspection = f.bool("allow_introspection", false)?;
        if introspection && !confidential {
            return Err("only a confidential application may introspect tokens".into());
        }
        let client_id = f.required_str("client_id")?;
        let app = NewApplication {
            id: pk,
            client_id: client_id.to_owned(),
            name: f.str("name")?.unwrap_or_default().to_owned(),
            client_type,
            client_secret_hash,
            grant_types,
            user_id: f.user(conn, "user")?,
            created: crate::clock::now(),
        };
        let result = match pk {
            Some(_) => applications::upsert(conn, &app),
            None => applications::create(conn, &app).map(|_| ()),
        };
        result
            .and_then(|()| applications::allow_introspection(conn, client_id, introspection))
            .map_err(|e| e.to_string())?;
        // Django OAuth Toolkit's space-separated `redirect_uris`, and this project's
        // `id_token_alg` (DESIGN.md §7).
        let redirect_uris: Vec<String> = f
            .str("redirect_uris")?
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let id_token_alg = f.str("id_token_alg")?.unwrap_or("ES256");
        applications::set_openid_client(conn, client_id, &redirect_uris, id_token_alg).map(|_| ())
    }
}
