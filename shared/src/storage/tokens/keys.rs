//! The signing keys in the database (`signing_keys`): generated on first start and kept there,
//! or installed from `SIGNING_KEY_FILE`, never committed. One active key per algorithm signs;
//! `rotatekeys` makes a new one active and retires the old one, whose public key stays
//! published (and verifies) until `expires`, when the periodic prune deletes it.
//!
//! Every instance on the database reads the same rows (see `JwtKeys`'s reload), so a rotation
//! made by a command or another instance reaches all of them.

use diesel::prelude::*;

use crate::clock::now;
use crate::storage::db::{Connection, is_unique_violation};
use crate::storage::schema::signing_keys;
use crate::storage::tokens::signing::{
    KeyError, SigningAlg, SigningKey, generate_pkcs8, random_kid,
};

/// Seconds a retired key stays published beyond the lifetime of what it signed: an instance
/// that has not reloaded yet may still sign with it for up to its reload interval (at most
/// this, see `ProviderSettings::signing_keys_reload_seconds`).
pub const RELOAD_MARGIN: i64 = 60;

/// When a key retired at `retired` may leave the JWK Set: once every token it signed has
/// expired. ID tokens have the access token's lifetime, so `token_ttl` is the longest.
pub fn expiry(retired: i64, token_ttl: i64) -> i64 {
    retired + token_ttl + RELOAD_MARGIN
}

/// A stored key, as read.
#[derive(Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
struct Row {
    kid: String,
    alg: String,
    private_key: Vec<u8>,
    created: i64,
    retired: Option<i64>,
    expires: Option<i64>,
}

impl Row {
    fn parse(self) -> Result<SigningKey, KeyError> {
        let alg: SigningAlg = self
            .alg
            .parse()
            .map_err(|_| KeyError::Corrupt(SigningAlg::Es256))?;
        Ok(
            SigningKey::from_pkcs8(&self.kid, alg, &self.private_key, self.created)?
                .retire_at(self.retired, self.expires),
        )
    }
}

/// The kids of the keys published at `now`: active ones and retired ones not yet expired.
pub fn published_kids(conn: &mut Connection, now: i64) -> QueryResult<Vec<(String, Option<i64>)>> {
    signing_keys::table
        .filter(
            signing_keys::expires
                .is_null()
                .or(signing_keys::expires.gt(now)),
        )
        .select((signing_keys::kid, signing_keys::retired))
        .order(signing_keys::created)
        .load(conn)
}

/// The published keys among `kids`, parsed. A row that does not parse is skipped and
/// logged (by kid): one corrupt row must not stop verification with the others.
pub fn load(conn: &mut Connection, kids: &[String]) -> QueryResult<Vec<SigningKey>> {
    let rows: Vec<Row> = signing_keys::table
        .filter(signing_keys::kid.eq_any(kids))
        .select(Row::as_select())
        .order(signing_keys::created)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let kid = row.kid.clone();
            row.parse()
                .inspect_err(|e| log::error!("signing key {kid} is unusable: {e}"))
                .ok()
        })
        .collect())
}

/// The algorithm of the active key, for each algorithm that has one.
pub fn active_algs(conn: &mut Connection) -> QueryResult<Vec<SigningAlg>> {
    let algs: Vec<String> = signing_keys::table
        .filter(signing_keys::retired.is_null())
        .select(signing_keys::alg)
        .load(conn)?;
    Ok(algs.iter().filter_map(|a| a.parse().ok()).collect())
}

/// Makes sure `alg` has an active key, generating one if not (outside any transaction: an
/// RSA key takes a while, and the write lock is not held meanwhile). Returns its kid.
pub fn ensure_active(conn: &mut Connection, alg: SigningAlg) -> anyhow::Result<String> {
    if let Some(kid) = active_kid(conn, alg)? {
        return Ok(kid);
    }
    let der = generate_pkcs8(alg)?;
    let kid = random_kid();
    let inserted = insert(conn, &kid, alg, &der, None, None);
    match inserted {
        Ok(_) => Ok(kid),
        // Another instance won the race to the first key: use theirs.
        Err(e) if is_unique_violation(&e) => {
            active_kid(conn, alg)?.ok_or_else(|| anyhow::anyhow!("no active {alg} key"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Stores a key this process generated and already signs with (see `JwtKeys`): active if
/// `alg` still has no active key, else (another instance made one meanwhile) retired at once,
/// published for as long as what it signed lives.
pub fn adopt(
    conn: &mut Connection,
    kid: &str,
    alg: SigningAlg,
    der: &[u8],
    token_ttl: i64,
) -> QueryResult<()> {
    conn.write_transaction(|conn| {
        let now = now();
        let (retired, expires) = match active_kid(conn, alg)? {
            None => (None, None),
            Some(_) => (Some(now), Some(expiry(now, token_ttl))),
        };
        insert(conn, kid, alg, der, retired, expires)?;
        Ok(())
    })
}

/// Makes the configured key (`SIGNING_KEY_FILE`) the active key of its algorithm, retiring
/// the one it replaces. Its kid is its RFC 7638 thumbprint, so this is a no-op on restarts.
pub fn install(
    conn: &mut Connection,
    kid: &str,
    alg: SigningAlg,
    der: &[u8],
    token_ttl: i64,
) -> QueryResult<()> {
    conn.write_transaction(|conn| {
        if active_kid(conn, alg)?.as_deref() == Some(kid) {
            return Ok(());
        }
        retire_active(conn, alg, token_ttl)?;
        diesel::delete(signing_keys::table.find(kid)).execute(conn)?;
        insert(conn, kid, alg, der, None, None)?;
        Ok(())
    })
}

/// `rotatekeys`: a new active key for `alg`, the old one retired until its tokens expired.
/// Returns the new kid and the retired one (if there was one).
pub fn rotate(
    conn: &mut Connection,
    alg: SigningAlg,
    token_ttl: i64,
) -> anyhow::Result<(String, Option<String>)> {
    let der = generate_pkcs8(alg)?;
    let kid = random_kid();
    let old = conn.write_transaction(|conn| {
        let old = retire_active(conn, alg, token_ttl)?;
        insert(conn, &kid, alg, &der, None, None)?;
        QueryResult::Ok(old)
    })?;
    Ok((kid, old))
}

/// Deletes the keys whose public half may leave the JWK Set. Returns how many went.
pub fn delete_expired(conn: &mut Connection, now: i64) -> QueryResult<usize> {
    diesel::delete(signing_keys::table.filter(signing_keys::expires.le(now))).execute(conn)
}

fn active_kid(conn: &mut Connection, alg: SigningAlg) -> QueryResult<Option<String>> {
    signing_keys::table
        .filter(signing_keys::alg.eq(alg.as_str()))
        .filter(signing_keys::retired.is_null())
        .select(signing_keys::kid)
        .first(conn)
        .optional()
}

fn retire_active(
    conn: &mut Connection,
    alg: SigningAlg,
    token_ttl: i64,
) -> QueryResult<Option<String>> {
    let Some(old) = active_kid(conn, alg)? else {
        return Ok(None);
    };
    let now = now();
    diesel::update(signing_keys::table.find(&old))
        .set((
            signing_keys::retired.eq(now),
            signing_keys::expires.eq(expiry(now, token_ttl)),
        ))
        .execute(conn)?;
    Ok(Some(old))
}

/// Stores a key: `retired` and `expires` unset for the active one.
fn insert(
    conn: &mut Connection,
    kid: &str,
    alg: SigningAlg,
    der: &[u8],
    retired: Option<i64>,
    expires: Option<i64>,
) -> QueryResult<usize> {
    diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::kid.eq(kid),
            signing_keys::alg.eq(alg.as_str()),
            signing_keys::private_key.eq(der),
            signing_keys::created.eq(now()),
            signing_keys::retired.eq(retired),
            signing_keys::expires.eq(expires),
        ))
        .execute(conn)
}
