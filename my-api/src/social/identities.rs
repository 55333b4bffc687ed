//! `identities list --user U` and `identities unlink --user U --backend B`: the social
//! identities linked to a local account (Django's "user social auths" admin). Unlinking
//! leaves the account; the next exchange with that identity creates a new account.
//!
//! The same queries serve a signed-in user's own linking (`exchange::link`, `api::me`).

use anyhow::Context;
use diesel::prelude::*;
use serde_json::json;
use shared::clock::now;
use shared::service::admin::{seconds, user};
use shared::service::logging::rfc3339;
use shared::service::table::{Record, print_list};
use shared::storage::db::Connection;

use crate::schema::social_links;
use crate::social::profile::SocialProfile;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum IdentitiesCommand {
    /// List a user's social identities.
    List {
        /// The user (a username, or an id).
        #[arg(long)]
        user: String,
    },
    /// Unlink a user's identity at one backend.
    Unlink {
        /// The user (a username, or an id).
        #[arg(long)]
        user: String,
        /// The backend, e.g. fake_social_site.
        #[arg(long)]
        backend: String,
    },
}

/// A link as stored.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = social_links)]
pub struct Link {
    pub id: i64,
    pub provider: String,
    pub uid: String,
    pub created: i64,
    pub modified: i64,
}

/// A user's links, by backend.
pub fn links(conn: &mut Connection, user_id: i64) -> QueryResult<Vec<Link>> {
    social_links::table
        .filter(social_links::user_id.eq(user_id))
        .order((social_links::provider, social_links::id))
        .select(Link::as_select())
        .load(conn)
}

/// Removes a user's links at `backend`; how many there were.
pub fn unlink(conn: &mut Connection, user_id: i64, backend: &str) -> QueryResult<usize> {
    diesel::delete(
        social_links::table
            .filter(social_links::user_id.eq(user_id))
            .filter(social_links::provider.eq(backend)),
    )
    .execute(conn)
}

/// The local user an identity (backend, provider user id) is linked to, if any.
pub fn owner(conn: &mut Connection, backend: &str, uid: &str) -> QueryResult<Option<i64>> {
    social_links::table
        .filter(social_links::provider.eq(backend))
        .filter(social_links::uid.eq(uid))
        .select(social_links::user_id)
        .get_result(conn)
        .optional()
}

/// Links the identity `profile` at `backend` to `user_id`. The (provider, uid) key refuses a
/// second owner with a unique violation, which the caller turns into a conflict.
pub fn link(
    conn: &mut Connection,
    user_id: i64,
    backend: &str,
    profile: &SocialProfile,
) -> QueryResult<()> {
    diesel::insert_into(social_links::table)
        .values((
            social_links::user_id.eq(user_id),
            social_links::provider.eq(backend),
            social_links::uid.eq(&profile.uid),
            social_links::extra_data.eq(json!({ "id": profile.uid }).to_string()),
            social_links::created.eq(now()),
            social_links::modified.eq(now()),
        ))
        .execute(conn)
        .map(drop)
}

fn record(link: &Link) -> Record {
    vec![
        ("id", json!(link.id)),
        ("backend", json!(link.provider)),
        ("uid", json!(link.uid)),
        ("created", json!(rfc3339(seconds(link.created)))),
        ("modified", json!(rfc3339(seconds(link.modified)))),
    ]
}

/// Runs one `identities` command.
pub fn run(conn: &mut Connection, command: IdentitiesCommand, json: bool) -> anyhow::Result<()> {
    match command {
        IdentitiesCommand::List { user: name } => {
            let found = user(conn, &name)?;
            let records: Vec<Record> = links(conn, found.id)?.iter().map(record).collect();
            print_list(&records, json);
        }
        IdentitiesCommand::Unlink {
            user: name,
            backend,
        } => {
            let found = user(conn, &name)?;
            let removed = unlink(conn, found.id, &backend)?;
            (removed > 0)
                .then_some(())
                .with_context(|| format!("{} has no identity at {backend:?}", found.username))?;
            if json {
                let record =
                    json!({ "user": found.username, "backend": backend, "unlinked": removed });
                println!("{record}");
            } else {
                println!("Unlinked {} from {backend}.", found.username);
            }
        }
    }
    Ok(())
}
