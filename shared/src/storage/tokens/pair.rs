//! The rows of a new access and refresh token pair, and the statements that write them.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text};

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

impl NewPair {
    /// Inserts both rows.
    pub(super) fn insert(&self, conn: &mut Connection) -> QueryResult<()> {
        let claims = &self.recorded.claims;
        diesel::insert_into(access_tokens::table)
            .values((
                access_tokens::jti.eq(&claims.jti),
                access_tokens::user_id.eq(self.user_id),
                access_tokens::application_id.eq(self.application_id),
                access_tokens::family.eq(&self.family),
                access_tokens::scope.eq(&claims.scope),
                access_tokens::created.eq(claims.iat),
                access_tokens::expires.eq(claims.exp),
            ))
            .execute(conn)?;
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::token_hash.eq(&self.refresh_hash),
                refresh_tokens::access_jti.eq(&claims.jti),
                refresh_tokens::user_id.eq(self.user_id),
                refresh_tokens::application_id.eq(self.application_id),
                refresh_tokens::family.eq(&self.family),
                refresh_tokens::scope.eq(&claims.scope),
                refresh_tokens::created.eq(claims.iat),
                refresh_tokens::expires.eq(self.refresh_expires),
            ))
            .execute(conn)?;
        Ok(())
    }
}

/// PostgreSQL's one statement for "delete the user's tokens for the application and insert
/// this pair". The parts of a data-modifying `WITH` query share one snapshot, so the deletes
/// never see the new rows. Its text never changes, so Diesel prepares it once per connection
/// (the `QueryId` is static) and each use is a single round trip.
#[derive(Debug)]
pub(super) struct Replace<'a>(pub(super) &'a NewPair);

impl QueryId for Replace<'_> {
    type QueryId = Replace<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl RunQueryDsl<diesel::PgConnection> for Replace<'_> {}

impl QueryFragment<Pg> for Replace<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let pair = self.0;
        let claims = &pair.recorded.claims;
        // Diesel numbers the binds as they are pushed, so a value used twice is bound twice.
        let owner = |out: &mut AstPass<'_, 'b, Pg>| -> QueryResult<()> {
            out.push_sql(" WHERE user_id = ");
            out.push_bind_param::<BigInt, _>(&pair.user_id)?;
            out.push_sql(" AND application_id = ");
            out.push_bind_param::<BigInt, _>(&pair.application_id)
        };
        out.push_sql("WITH old_access AS (DELETE FROM access_tokens");
        owner(&mut out)?;
        out.push_sql("), old_refresh AS (DELETE FROM refresh_tokens");
        owner(&mut out)?;
        out.push_sql(
            "), new_access AS (INSERT INTO access_tokens \
             (jti, user_id, application_id, family, scope, created, expires) VALUES (",
        );
        out.push_bind_param::<Text, _>(&claims.jti)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&pair.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&pair.application_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&pair.family)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&claims.scope)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&claims.iat)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&claims.exp)?;
        out.push_sql(
            ")) INSERT INTO refresh_tokens \
             (token_hash, access_jti, user_id, application_id, family, scope, created, expires) \
             VALUES (",
        );
        out.push_bind_param::<Text, _>(&pair.refresh_hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&claims.jti)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&pair.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&pair.application_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&pair.family)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&claims.scope)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&claims.iat)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&pair.refresh_expires)?;
        out.push_sql(")");
        Ok(())
    }
}
