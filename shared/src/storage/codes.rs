//! Authorization codes (RFC 6749 §4.1.2): 256 random bits handed to the client, stored only
//! as SHA-256, bound to the client, redirect URI, PKCE challenge, nonce, scope and the time
//! of login. A code is redeemed once; redeeming it records the token family issued from it,
//! so a second use can revoke every token descended from it (§4.1.2, RFC 9700 §4.2.4).

use diesel::prelude::*;

use crate::clock::now;
use crate::security::secret::{Secret, random_token, sha256_hex};
use crate::storage::db::Connection;
use crate::storage::schema::authorization_codes;

/// What an authorization request granted, to be bound to its code.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = authorization_codes)]
pub struct NewCode {
    pub application_id: i64,
    pub user_id: i64,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
}

/// A stored code, as the token endpoint checks it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = authorization_codes)]
pub struct StoredCode {
    #[diesel(embed)]
    pub granted: NewCode,
    pub expires: i64,
    /// Set once the code was redeemed: the family of the tokens issued from it.
    pub family: Option<String>,
}

/// Stores a new code valid for `ttl` seconds and returns it (shown once, to the client).
pub fn create(conn: &mut Connection, new: &NewCode, ttl: i64) -> QueryResult<Secret> {
    let code = random_token(32);
    let now = now();
    diesel::insert_into(authorization_codes::table)
        .values((
            authorization_codes::code_hash.eq(sha256_hex(&code)),
            authorization_codes::application_id.eq(new.application_id),
            authorization_codes::user_id.eq(new.user_id),
            authorization_codes::redirect_uri.eq(&new.redirect_uri),
            authorization_codes::scope.eq(&new.scope),
            authorization_codes::code_challenge.eq(&new.code_challenge),
            authorization_codes::nonce.eq(&new.nonce),
            authorization_codes::auth_time.eq(new.auth_time),
            authorization_codes::created.eq(now),
            authorization_codes::expires.eq(now + ttl),
        ))
        .execute(conn)?;
    Ok(Secret::new(code))
}

/// The code presented, whether used or not.
pub fn find(conn: &mut Connection, code: &Secret) -> QueryResult<Option<StoredCode>> {
    authorization_codes::table
        .find(sha256_hex(code.expose()))
        .select(StoredCode::as_select())
        .get_result(conn)
        .optional()
}

/// Marks an unused code as redeemed by `family`; false when it was used meanwhile (one
/// conditional write, so of two concurrent redemptions one wins).
pub fn redeem(conn: &mut Connection, code: &Secret, family: &str) -> QueryResult<bool> {
    let updated = diesel::update(
        authorization_codes::table
            .find(sha256_hex(code.expose()))
            .filter(authorization_codes::family.is_null()),
    )
    .set(authorization_codes::family.eq(family))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Deletes codes that expired more than `keep` seconds ago. A redeemed code is kept that
/// long after its expiry so that a replay still revokes what was issued from it.
pub fn clear_expired(conn: &mut Connection, keep: i64) -> QueryResult<usize> {
    diesel::delete(authorization_codes::table.filter(authorization_codes::expires.lt(now() - keep)))
        .execute(conn)
}
