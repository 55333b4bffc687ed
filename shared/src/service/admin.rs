//! The admin commands both services have beside `createuser` (DESIGN.md §3), as Django's admin
//! offered them: `users`, `applications` and `tokens`. Each reads and writes through the
//! storage modules' queries only, so another database needs nothing here; output goes
//! through [`crate::service::table`] (a table, or JSON with `--json`).
//!
//! A running service sees a change made here (a deactivated user, revoked tokens) through
//! the database: at once for new logins, refreshes and token lookups, and for tokens its
//! in-process cache already validated within `TOKEN_CACHE_SECONDS` (the cache of another
//! process cannot be told).

use anyhow::Context;
use serde_json::{Value, json};

use crate::security::password::PasswordHasher;
use crate::security::secret::Secret;
use crate::service::logging::rfc3339;
use crate::service::table::{Record, print_list, print_one};
use crate::storage::applications::{self, Application};
use crate::storage::db::Connection;
use crate::storage::users::{self, User};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum UsersCommand {
    /// List every user.
    List,
    /// Show one user (a username, or an id).
    Show { user: String },
    /// Deactivate a user: its tokens stop working and no grant issues new ones.
    Deactivate { user: String },
    /// Activate a deactivated user again.
    Activate { user: String },
    /// Set a user's password (read from SETPASSWORD_PASSWORD, like createuser's).
    SetPassword {
        user: String,
        #[arg(long, env = "SETPASSWORD_PASSWORD", hide_env_values = true)]
        password: Secret,
        /// bcrypt cost of the password hash.
        #[arg(long, env = "BCRYPT_COST", default_value_t = crate::security::password::DEFAULT_COST,
              value_parser = clap::value_parser!(u32).range(4..=31))]
        bcrypt_cost: u32,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ApplicationsCommand {
    /// List every application.
    List,
    /// Show one application by client id.
    Show { client_id: String },
    /// Delete an application and its tokens.
    Delete { client_id: String },
    /// Give a confidential application a new secret, shown once.
    RotateSecret { client_id: String },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum TokensCommand {
    /// Revoke a user's access and refresh tokens, for one application or all.
    Revoke {
        /// The user (a username, or an id).
        #[arg(long)]
        user: String,
        /// Only the tokens of this application (a client id).
        #[arg(long)]
        application: Option<String>,
    },
}

/// Finds the user an operator named, or says there is none.
pub fn user(conn: &mut Connection, name: &str) -> anyhow::Result<User> {
    users::find_by_name_or_id(conn, name)?.with_context(|| format!("no user {name:?}"))
}

fn application(conn: &mut Connection, client_id: &str) -> anyhow::Result<Application> {
    applications::find_by_client_id(conn, client_id)?
        .with_context(|| format!("no application with client id {client_id:?}"))
}

pub fn user_record(user: &User) -> Record {
    vec![
        ("id", json!(user.id)),
        ("username", json!(user.username)),
        ("email", json!(user.email)),
        ("first_name", json!(user.first_name)),
        ("last_name", json!(user.last_name)),
        ("active", json!(user.is_active)),
        ("staff", json!(user.is_staff)),
        ("superuser", json!(user.is_superuser)),
        ("joined", json!(rfc3339(seconds(user.date_joined)))),
    ]
}

fn application_record(app: &Application) -> Record {
    let grants: Vec<&str> = app.grant_types.iter().map(|g| g.as_str()).collect();
    vec![
        ("id", json!(app.id)),
        ("client_id", json!(app.client_id)),
        ("name", json!(app.name)),
        ("client_type", json!(app.client_type.as_str())),
        ("grant_types", json!(grants.join(" "))),
        ("redirect_uris", json!(app.redirect_uris)),
        ("id_token_alg", json!(app.id_token_alg)),
        ("introspection", json!(app.allow_introspection)),
        ("owner_id", app.user_id.map_or(Value::Null, Value::from)),
        ("created", json!(rfc3339(seconds(app.created)))),
    ]
}

/// A Unix time in seconds as a time.
pub fn seconds(unix: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(unix).unwrap_or(0))
}

/// Prints what changed: the message, or with `--json` the record.
fn done(message: String, record: Record, json: bool) {
    if json {
        print_one(&record, true);
    } else {
        println!("{message}");
    }
}

pub fn users(conn: &mut Connection, command: UsersCommand, json: bool) -> anyhow::Result<()> {
    match command {
        UsersCommand::List => {
            let records: Vec<Record> = users::list(conn)?.iter().map(user_record).collect();
            print_list(&records, json);
        }
        UsersCommand::Show { user: name } => print_one(&user_record(&user(conn, &name)?), json),
        UsersCommand::Deactivate { user: name } => set_active(conn, &name, false, json)?,
        UsersCommand::Activate { user: name } => set_active(conn, &name, true, json)?,
        UsersCommand::SetPassword {
            user: name,
            password,
            bcrypt_cost,
        } => {
            anyhow::ensure!(!password.is_empty(), "the password must not be empty");
            let found = user(conn, &name)?;
            let hash = PasswordHasher::new(bcrypt_cost, 1).hash_blocking(&password)?;
            users::set_password(conn, found.id, &hash)?;
            done(
                format!("Password of {} (id {}) set.", found.username, found.id),
                user_record(&found),
                json,
            );
        }
    }
    Ok(())
}

fn set_active(conn: &mut Connection, name: &str, active: bool, json: bool) -> anyhow::Result<()> {
    let mut found = user(conn, name)?;
    users::set_active(conn, found.id, active)?;
    found.is_active = active;
    let message = if active {
        format!("Activated {} (id {}).", found.username, found.id)
    } else {
        format!(
            "Deactivated {} (id {}): no grant issues it tokens, and its tokens stop working \
             (in a running service within TOKEN_CACHE_SECONDS).",
            found.username, found.id
        )
    };
    done(message, user_record(&found), json);
    Ok(())
}

pub fn applications(
    conn: &mut Connection,
    command: ApplicationsCommand,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        ApplicationsCommand::List => {
            let records: Vec<Record> = applications::list(conn)?
                .iter()
                .map(application_record)
                .collect();
            print_list(&records, json);
        }
        ApplicationsCommand::Show { client_id } => {
            print_one(&application_record(&application(conn, &client_id)?), json);
        }
        ApplicationsCommand::Delete { client_id } => {
            let app = application(conn, &client_id)?;
            anyhow::ensure!(
                applications::delete(conn, &client_id)?,
                "no application with client id {client_id:?}"
            );
            done(
                format!(
                    "Deleted application {} ({}) and its tokens.",
                    app.name, app.client_id
                ),
                application_record(&app),
                json,
            );
        }
        ApplicationsCommand::RotateSecret { client_id } => {
            let app = application(conn, &client_id)?;
            anyhow::ensure!(
                app.is_confidential(),
                "{client_id:?} is a public client: it has no secret"
            );
            let secret = applications::rotate_secret(conn, &client_id)?
                .with_context(|| format!("no application with client id {client_id:?}"))?;
            // Shown once on the operator's terminal, never logged; only its hash is kept.
            if json {
                let mut record = application_record(&app);
                record.push(("client_secret", json!(secret.expose())));
                print_one(&record, true);
            } else {
                println!("client_id: {client_id}");
                println!("client_secret: {}", secret.expose());
                println!("Store the secret now: it cannot be shown again.");
            }
        }
    }
    Ok(())
}

pub fn tokens(conn: &mut Connection, command: TokensCommand, json: bool) -> anyhow::Result<()> {
    match command {
        TokensCommand::Revoke {
            user: name,
            application: client_id,
        } => {
            let found = user(conn, &name)?;
            let app = client_id
                .as_deref()
                .map(|id| application(conn, id))
                .transpose()?;
            let revoked = crate::storage::tokens::revoke_user_tokens(
                conn,
                found.id,
                app.as_ref().map(|a| a.id),
            )?;
            let scope = app.as_ref().map_or_else(
                || "all applications".to_owned(),
                |a| format!("application {}", a.client_id),
            );
            done(
                format!(
                    "Revoked {revoked} access token(s) of {} for {scope}, with their refresh tokens.",
                    found.username
                ),
                vec![
                    ("user", json!(found.username)),
                    ("application", json!(app.map(|a| a.client_id))),
                    ("revoked_access_tokens", json!(revoked)),
                ],
                json,
            );
        }
    }
    Ok(())
}
