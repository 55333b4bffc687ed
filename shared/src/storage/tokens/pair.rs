//! The rows of a new access and refresh token pair, and the statements that write them.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};

use super::RecordedTokens;
use crate::storage::db::Connection;
use crate::storage::schema::{access_tokens, refresh_tokens};

/// A pair not written yet; the access token's row is read from its claims.
#[derive(Debug)]
pub(super) struct NewPair {
    pub(super) user_id: i64,
    pub(super) application_id: i64,
    pub(super) family: String,
    pub(super) refresh_hash: String,
    pub(super) refresh_expires: i64,
    pub(super) recorded: RecordedTokens,
}

/// The inserts of a pair's two rows, written once for both databases and both paths (a
/// statement's type spells out every column, so they are macros rather than functions).
macro_rules! insert_access {
    ($pair:expr) => {{
        let pair: &NewPair = $pair;
        let claims = &pair.recorded.claims;
        diesel::insert_into(access_tokens::table).values((
            access_tokens::jti.eq(&claims.jti),
            access_tokens::user_id.eq(pair.user_id),
            access_tokens::application_id.eq(pair.application_id),
            access_tokens::family.eq(&pair.family),
            access_tokens::scope.eq(&claims.scope),
            access_tokens::created.eq(claims.iat),
            access_tokens::expires.eq(claims.exp),
        ))
    }};
}

macro_rules! insert_refresh {
    ($pair:expr) => {{
        let pair: &NewPair = $pair;
        let claims = &pair.recorded.claims;
        diesel::insert_into(refresh_tokens::table).values((
            refresh_tokens::token_hash.eq(&pair.refresh_hash),
            refresh_tokens::access_jti.eq(&claims.jti),
            refresh_tokens::user_id.eq(pair.user_id),
            refresh_tokens::application_id.eq(pair.application_id),
            refresh_tokens::family.eq(&pair.family),
            refresh_tokens::scope.eq(&claims.scope),
            refresh_tokens::created.eq(claims.iat),
            refresh_tokens::expires.eq(pair.refresh_expires),
        ))
    }};
}

impl NewPair {
    /// Inserts both rows.
    pub(super) fn insert(&self, conn: &mut Connection) -> QueryResult<()> {
        insert_access!(self).execute(conn)?;
        insert_refresh!(self).execute(conn)?;
        Ok(())
    }

    /// On PostgreSQL, deletes the user's tokens for the application and inserts both rows,
    /// in one statement.
    pub(super) fn replace(&self, pg: &mut diesel::PgConnection) -> QueryResult<()> {
        let (user_id, application_id) = (self.user_id, self.application_id);
        Replace {
            old_access: diesel::delete(
                access_tokens::table
                    .filter(access_tokens::user_id.eq(user_id))
                    .filter(access_tokens::application_id.eq(application_id)),
            ),
            old_refresh: diesel::delete(
                refresh_tokens::table
                    .filter(refresh_tokens::user_id.eq(user_id))
                    .filter(refresh_tokens::application_id.eq(application_id)),
            ),
            new_access: insert_access!(self),
            new_refresh: insert_refresh!(self),
        }
        .execute(pg)?;
        Ok(())
    }
}

/// PostgreSQL's one statement for "delete the user's tokens for the application and insert
/// this pair", made of the very statements the other path runs one by one. The parts of a
/// data-modifying `WITH` query share one snapshot, so the deletes never see the new rows. Its
/// text never changes, so Diesel prepares it once per connection (the parts' `QueryId`s are
/// static) and each use is a single round trip.
#[derive(Debug, QueryId)]
struct Replace<A, B, C, D> {
    old_access: A,
    old_refresh: B,
    new_access: C,
    new_refresh: D,
}

impl<A, B, C, D> RunQueryDsl<diesel::PgConnection> for Replace<A, B, C, D> {}

impl<A, B, C, D> QueryFragment<Pg> for Replace<A, B, C, D>
where
    A: QueryFragment<Pg>,
    B: QueryFragment<Pg>,
    C: QueryFragment<Pg>,
    D: QueryFragment<Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH old_access AS (");
        self.old_access.walk_ast(out.reborrow())?;
        out.push_sql("), old_refresh AS (");
        self.old_refresh.walk_ast(out.reborrow())?;
        out.push_sql("), new_access AS (");
        self.new_access.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.new_refresh.walk_ast(out.reborrow())
    }
}
