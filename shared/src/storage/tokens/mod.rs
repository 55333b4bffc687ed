//! Token issue, validation, rotation, revocation and introspection (DESIGN.md §5).
//!
//! Access tokens are JWTs whose `jti` is recorded, so revocation takes effect at once.
//! Refresh tokens are 256 random bits stored only as SHA-256 and rotated on every use; every
//! token descended from one grant shares a `family`, and presenting a refresh token that was
//! already rotated revokes the whole family (RFC 9700 §4.14). Callers run the writing
//! functions inside a write transaction (`Db::write`).

pub mod cache;
pub mod jwt;
pub mod keys;
mod pair;
pub mod signing;
#[cfg(test)]
mod tests;

use diesel::prelude::*;
use serde::Serialize;
use thiserror::Error;

use crate::clock::now;
use crate::security::scope::Scope;
use crate::security::secret::{Secret, random_token, sha256_hex};
use crate::storage::applications::Application;
use crate::storage::db::Connection;
use crate::storage::schema::{access_tokens, applications, refresh_tokens, users};
use crate::storage::users::User;
pub use jwt::{Claims, ConfiguredKey, JwtKeys, KeyPolicy, SigningAlg};
use pair::NewPair;

/// Django OAuth Toolkit's default access token lifetime, which the original demo returned.
pub const DEFAULT_ACCESS_TTL: i64 = 36_000;
pub const DEFAULT_REFRESH_TTL: i64 = 30 * 24 * 3600;

#[derive(Debug, Error)]
pub enum TokenError {
    #[error("database error")]
    Storage(#[from] diesel::result::Error),
    #[error("cannot sign the token")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// A freshly issued pair, as the token endpoint returns it.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: Secret,
    pub refresh_token: Secret,
    pub expires_in: i64,
    pub scope: String,
}

/// A pair recorded in the database whose access token is not signed yet. Signing costs tens of
/// microseconds; [`TokenService::record`] lets the caller do it after its write transaction,
/// outside the writer lock every other write queues on.
#[derive(Debug)]
pub struct RecordedTokens {
    claims: Claims,
    keys: JwtKeys,
    refresh_token: Secret,
    expires_in: i64,
}

impl RecordedTokens {
    /// Signs the access token: the pair as the token endpoint returns it.
    pub fn sign(self) -> Result<IssuedTokens, TokenError> {
        let access_token = self.keys.encode(&self.claims)?;
        Ok(IssuedTokens {
            access_token: Secret::new(access_token),
            refresh_token: self.refresh_token,
            expires_in: self.expires_in,
            scope: self.claims.scope,
        })
    }
}

/// Who a valid access token speaks for.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub user: User,
    pub client_id: String,
    pub scope: Scope,
    pub jti: String,
}

#[derive(Debug)]
pub enum RefreshOutcome {
    /// Recorded; the caller signs the access token once its transaction is over.
    Rotated(RecordedTokens),
    /// Unknown, expired, revoked, reused, another client's, or the user is inactive.
    Refused,
    /// The requested scope exceeds the original grant.
    ScopeTooWide,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    /// RFC 7009: the server answers 200 for tokens it does not know.
    Unknown,
    /// The token belongs to another client.
    NotYours,
}

/// RFC 7662 answer for an active token (an inactive one is only `{"active": false}`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Introspection {
    pub active: bool,
    pub scope: String,
    pub client_id: String,
    pub username: String,
    pub token_type: &'static str,
    pub exp: i64,
    pub iat: i64,
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    pub iss: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TokenService {
    keys: JwtKeys,
    access_ttl: i64,
    refresh_ttl: i64,
}

impl TokenService {
    pub fn new(keys: JwtKeys, access_ttl: i64, refresh_ttl: i64) -> Self {
        TokenService {
            keys,
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn keys(&self) -> &JwtKeys {
        &self.keys
    }

    /// Issues an access and refresh token pair; `family` continues an existing grant.
    pub fn issue(
        &self,
        conn: &mut Connection,
        user_id: i64,
        app: &Application,
        scope: &Scope,
        family: Option<&str>,
    ) -> Result<IssuedTokens, TokenError> {
        self.record(conn, user_id, app, scope, family)?.sign()
    }

    /// Records an access and refresh token pair, leaving the access token to be signed (see
    /// [`RecordedTokens`]); `family` continues an existing grant.
    pub fn record(
        &self,
        conn: &mut Connection,
        user_id: i64,
        app: &Application,
        scope: &Scope,
        family: Option<&str>,
    ) -> Result<RecordedTokens, TokenError> {
        let pair = self.new_pair(conn, user_id, app, scope, family)?;
        pair.insert(conn)?;
        Ok(pair.recorded)
    }

    /// Records a new pair of a new grant in place of the user's previous tokens for `app`,
    /// which are deleted (the exchange's replacement). On PostgreSQL the four writes are one
    /// statement, so one round trip to the server instead of four.
    pub fn replace(
        &self,
        conn: &mut Connection,
        user_id: i64,
        app: &Application,
        scope: &Scope,
    ) -> Result<RecordedTokens, TokenError> {
        let pair = self.new_pair(conn, user_id, app, scope, None)?;
        match conn {
            Connection::Postgres(pg) => pair.replace(pg)?,
            Connection::Sqlite(_) => {
                delete_user_application_tokens(conn, user_id, app.id)?;
                pair.insert(conn)?;
            }
        }
        Ok(pair.recorded)
    }

    /// The rows and the unsigned token of a new pair; `family` continues an existing grant.
    fn new_pair(
        &self,
        conn: &mut Connection,
        user_id: i64,
        app: &Application,
        scope: &Scope,
        family: Option<&str>,
    ) -> Result<NewPair, TokenError> {
        let now = now();
        let jti = uuid::Uuid::new_v4().to_string();
        let family = family.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let scope = scope.to_string();
        // A key rotated elsewhere (a command, another instance) is picked up here, on a
        // connection the caller already holds, once the set is older than its reload interval.
        self.keys.refresh(conn)?;
        let refresh_token = random_token(32);
        Ok(NewPair {
            user_id,
            application_id: app.id,
            family,
            refresh_hash: sha256_hex(&refresh_token),
            refresh_expires: now + self.refresh_ttl,
            recorded: RecordedTokens {
                claims: Claims {
                    iss: self.keys.issuer().to_owned(),
                    sub: user_id.to_string(),
                    aud: self.keys.issuer().to_owned(),
                    client_id: app.client_id.clone(),
                    scope,
                    iat: now,
                    exp: now + self.access_ttl,
                    jti,
                },
                keys: self.keys.clone(),
                refresh_token: Secret::new(refresh_token),
                expires_in: self.access_ttl,
            },
        })
    }

    /// The grant behind a bearer token whose signature and expiry were already checked.
    pub fn authenticate(
        &self,
        conn: &mut Connection,
        claims: &Claims,
    ) -> QueryResult<Option<AccessGrant>> {
        let row: Option<(User, String, String)> = access_tokens::table
            .inner_join(users::table)
            .inner_join(applications::table)
            .filter(access_tokens::jti.eq(&claims.jti))
            .filter(access_tokens::revoked.eq(false))
            .filter(access_tokens::expires.gt(now()))
            .filter(users::is_active.eq(true))
            .select((
                User::as_select(),
                applications::client_id,
                access_tokens::scope,
            ))
            .get_result(conn)
            .optional()?;
        Ok(row.and_then(|(user, client_id, scope)| {
            Some(AccessGrant {
                user,
                client_id,
                scope: Scope::parse(&scope)?,
                jti: claims.jti.clone(),
            })
        }))
    }

    /// Rotates a refresh token: one conditional write, so concurrent uses see one winner.
    pub fn refresh(
        &self,
        conn: &mut Connection,
        presented: &Secret,
        app: &Application,
        requested: Option<&Scope>,
    ) -> Result<RefreshOutcome, TokenError> {
        let hash = sha256_hex(presented.expose());
        let query = refresh_tokens::table
            .find(&hash)
            .filter(refresh_tokens::application_id.eq(app.id))
            .select((
                refresh_tokens::access_jti,
                refresh_tokens::family,
                refresh_tokens::user_id,
                refresh_tokens::scope,
                refresh_tokens::expires,
                refresh_tokens::revoked,
            ));
        // On PostgreSQL the presented token's row is locked as it is read, so concurrent uses
        // of one token queue here, each then reading what the one before it did: they never
        // lock the family's rows in different orders (a deadlock), and a reuse is always
        // seen as one. SQLite's immediate transaction has queued them already.
        let row: Option<(String, String, i64, String, i64, bool)> = match conn {
            crate::storage::connection::AnyConnection::Postgres(pg) => {
                query.for_update().get_result(pg).optional()?
            }
            _ => query.get_result(conn).optional()?,
        };
        let Some((access_jti, family, user_id, scope, expires, revoked)) = row else {
            return Ok(RefreshOutcome::Refused);
        };
        if revoked {
            // A rotated or revoked token came back: it may have been stolen. Revoke the family.
            revoke_family(conn, &family)?;
            log::warn!("refresh token reuse detected; token family revoked");
            return Ok(RefreshOutcome::Refused);
        }
        if expires <= now() {
            return Ok(RefreshOutcome::Refused);
        }
        let original = Scope::parse(&scope).unwrap_or_else(Scope::all);
        let scope = match requested {
            Some(requested) if !requested.is_subset(&original) => {
                return Ok(RefreshOutcome::ScopeTooWide);
            }
            Some(requested) => requested.clone(),
            None => original,
        };
        let active: Option<bool> = users::table
            .find(user_id)
            .select(users::is_active)
            .get_result(conn)
            .optional()?;
        if active != Some(true) {
            return Ok(RefreshOutcome::Refused);
        }
        let rotated = diesel::update(
            refresh_tokens::table
                .find(&hash)
                .filter(refresh_tokens::revoked.eq(false)),
        )
        .set(refresh_tokens::revoked.eq(true))
        .execute(conn)?;
        if rotated != 1 {
            // Another use of this token rotated it between the read above and this write:
            // a reuse too, so the family goes as above. Only concurrent writers get here
            // (PostgreSQL's); SQLite's queue, and the later one reads the token revoked.
            revoke_family(conn, &family)?;
            log::warn!("refresh token reuse detected; token family revoked");
            return Ok(RefreshOutcome::Refused);
        }
        diesel::update(access_tokens::table.find(&access_jti))
            .set(access_tokens::revoked.eq(true))
            .execute(conn)?;
        let recorded = self.record(conn, user_id, app, &scope, Some(&family))?;
        Ok(RefreshOutcome::Rotated(recorded))
    }

    /// RFC 7009: revokes an access token (and the refresh token issued with it) or a
    /// refresh token (and its access token), whatever the hint said.
    pub fn revoke(
        &self,
        conn: &mut Connection,
        token: &Secret,
        app: &Application,
    ) -> QueryResult<RevokeOutcome> {
        if let Some(claims) = self.keys.decode_any_age(token.expose()) {
            let owner: Option<i64> = access_tokens::table
                .find(&claims.jti)
                .select(access_tokens::application_id)
                .get_result(conn)
                .optional()?;
            return match owner {
                None => Ok(RevokeOutcome::Unknown),
                Some(owner) if owner != app.id => Ok(RevokeOutcome::NotYours),
                Some(_) => {
                    revoke_access(conn, &claims.jti)?;
                    Ok(RevokeOutcome::Revoked)
                }
            };
        }
        let hash = sha256_hex(token.expose());
        let row: Option<(i64, String)> = refresh_tokens::table
            .find(&hash)
            .select((refresh_tokens::application_id, refresh_tokens::access_jti))
            .get_result(conn)
            .optional()?;
        match row {
            None => Ok(RevokeOutcome::Unknown),
            Some((owner, _)) if owner != app.id => Ok(RevokeOutcome::NotYours),
            Some((_, access_jti)) => {
                diesel::update(refresh_tokens::table.find(&hash))
                    .set(refresh_tokens::revoked.eq(true))
                    .execute(conn)?;
                revoke_access(conn, &access_jti)?;
                Ok(RevokeOutcome::Revoked)
            }
        }
    }

    /// RFC 7662: what an active token is; `None` for anything unknown, expired or revoked.
    pub fn introspect(
        &self,
        conn: &mut Connection,
        token: &Secret,
    ) -> QueryResult<Option<Introspection>> {
        let now = now();
        if let Some(claims) = self.keys.decode(token.expose()) {
            return Ok(self
                .authenticate(conn, &claims)?
                .map(|grant| Introspection {
                    active: true,
                    scope: grant.scope.to_string(),
                    client_id: grant.client_id,
                    username: grant.user.username,
                    token_type: "Bearer",
                    exp: claims.exp,
                    iat: claims.iat,
                    sub: claims.sub,
                    aud: Some(claims.aud),
                    iss: claims.iss,
                    jti: Some(claims.jti),
                }));
        }
        let row: Option<(String, i64, i64, i64, String, String)> = refresh_tokens::table
            .inner_join(users::table)
            .inner_join(applications::table)
            .filter(refresh_tokens::token_hash.eq(sha256_hex(token.expose())))
            .filter(refresh_tokens::revoked.eq(false))
            .filter(refresh_tokens::expires.gt(now))
            .filter(users::is_active.eq(true))
            .select((
                refresh_tokens::scope,
                refresh_tokens::expires,
                refresh_tokens::created,
                refresh_tokens::user_id,
                users::username,
                applications::client_id,
            ))
            .get_result(conn)
            .optional()?;
        Ok(row.map(
            |(scope, exp, iat, user_id, username, client_id)| Introspection {
                active: true,
                scope,
                client_id,
                username,
                token_type: "refresh_token",
                exp,
                iat,
                sub: user_id.to_string(),
                aud: None,
                iss: self.keys.issuer().to_owned(),
                jti: None,
            },
        ))
    }
}

fn revoke_access(conn: &mut Connection, jti: &str) -> QueryResult<()> {
    diesel::update(access_tokens::table.find(jti))
        .set(access_tokens::revoked.eq(true))
        .execute(conn)?;
    diesel::update(refresh_tokens::table.filter(refresh_tokens::access_jti.eq(jti)))
        .set(refresh_tokens::revoked.eq(true))
        .execute(conn)?;
    Ok(())
}

/// Revokes every access and refresh token of one grant.
pub fn revoke_family(conn: &mut Connection, family: &str) -> QueryResult<()> {
    diesel::update(access_tokens::table.filter(access_tokens::family.eq(family)))
        .set(access_tokens::revoked.eq(true))
        .execute(conn)?;
    diesel::update(refresh_tokens::table.filter(refresh_tokens::family.eq(family)))
        .set(refresh_tokens::revoked.eq(true))
        .execute(conn)?;
    Ok(())
}

/// Deletes every token a user holds for one application, as the original exchange deleted
/// the user's previous token for its application. Deleting rather than flagging keeps the
/// rows of a (user, application) to the live pair, so this stays one index probe however
/// often the user exchanges (flagged rows piled up and made each exchange slower).
///
/// Call it in the write transaction that then issues the new tokens, with the user's row
/// already locked ([`lock_user`], or a read `FOR UPDATE`), so that two exchanges of one user
/// replace each other's tokens in turn. SQLite's immediate transaction already serialises
/// them; PostgreSQL's concurrent ones would otherwise each delete only what was committed
/// before they began, and both new pairs would live.
pub fn delete_user_application_tokens(
    conn: &mut Connection,
    user_id: i64,
    application_id: i64,
) -> QueryResult<()> {
    diesel::delete(
        access_tokens::table
            .filter(access_tokens::user_id.eq(user_id))
            .filter(access_tokens::application_id.eq(application_id)),
    )
    .execute(conn)?;
    diesel::delete(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::application_id.eq(application_id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Holds the user's row until the transaction ends (PostgreSQL's `FOR UPDATE`; on SQLite the
/// immediate transaction holds the whole database already): writes that check a user's state
/// before changing it (tokens, linked identities) then run one after the other per user.
pub fn lock_user(conn: &mut Connection, user_id: i64) -> QueryResult<()> {
    use crate::storage::connection::AnyConnection;
    use crate::storage::schema::users;
    if let AnyConnection::Postgres(pg) = conn {
        users::table
            .find(user_id)
            .select(users::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

/// Revokes every access and refresh token of a user, for one application or all; returns
/// how many access tokens were live.
pub fn revoke_user_tokens(
    conn: &mut Connection,
    user_id: i64,
    application_id: Option<i64>,
) -> QueryResult<usize> {
    conn.write_transaction(|conn| {
        let mut access = diesel::update(access_tokens::table)
            .filter(access_tokens::user_id.eq(user_id))
            .filter(access_tokens::revoked.eq(false))
            .into_boxed();
        let mut refresh = diesel::update(refresh_tokens::table)
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked.eq(false))
            .into_boxed();
        if let Some(id) = application_id {
            access = access.filter(access_tokens::application_id.eq(id));
            refresh = refresh.filter(refresh_tokens::application_id.eq(id));
        }
        let revoked = access.set(access_tokens::revoked.eq(true)).execute(conn)?;
        refresh
            .set(refresh_tokens::revoked.eq(true))
            .execute(conn)?;
        Ok(revoked)
    })
}

/// Deletes expired and revoked access tokens and the refresh tokens of dead families (see
/// [`clear_token_batch`]), `batch` rows per transaction so writers never wait long. Returns
/// how many rows went.
pub fn clear_tokens(conn: &mut Connection, batch: i64) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let removed = clear_token_batch(conn, batch)?;
        total += removed;
        if removed == 0 {
            return Ok(total);
        }
    }
}

/// One transaction of [`clear_tokens`]: up to `batch` access tokens that are expired or
/// revoked and `batch` refresh tokens of dead families (every token of the family expired or
/// revoked). Returns how many rows went (0: nothing left).
pub fn clear_token_batch(conn: &mut Connection, batch: i64) -> QueryResult<usize> {
    let now = now();
    conn.write_transaction(|conn| {
        let access: Vec<String> = access_tokens::table
            .filter(
                access_tokens::revoked
                    .eq(true)
                    .or(access_tokens::expires.le(now)),
            )
            .select(access_tokens::jti)
            .limit(batch)
            .load(conn)?;
        // A rotated refresh token stays while its family lives: presenting it again must
        // still revoke the family (reuse detection), whenever the thief comes back. A family
        // is dead once none of its tokens is both unrevoked and unexpired; then all its rows
        // go, so the table stays bounded by the live families.
        let live = diesel::alias!(refresh_tokens as live);
        let refresh: Vec<String> = refresh_tokens::table
            .filter(
                refresh_tokens::revoked
                    .eq(true)
                    .or(refresh_tokens::expires.le(now)),
            )
            .filter(diesel::dsl::not(diesel::dsl::exists(
                live.filter(
                    live.field(refresh_tokens::family)
                        .eq(refresh_tokens::family),
                )
                .filter(live.field(refresh_tokens::revoked).eq(false))
                .filter(live.field(refresh_tokens::expires).gt(now)),
            )))
            .select(refresh_tokens::token_hash)
            .limit(batch)
            .load(conn)?;
        let a = diesel::delete(access_tokens::table.filter(access_tokens::jti.eq_any(&access)))
            .execute(conn)?;
        let r = diesel::delete(
            refresh_tokens::table.filter(refresh_tokens::token_hash.eq_any(&refresh)),
        )
        .execute(conn)?;
        QueryResult::Ok(a + r)
    })
}
