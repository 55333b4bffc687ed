//! The JWT signing key: from configuration, or generated once and kept in the database so
//! tokens survive restarts without anyone committing a key.

use diesel::prelude::*;

use crate::security::secret::Secret;
use crate::storage::db::Connection;
use crate::storage::schema::server_keys;

const SIGNING_KEY_NAME: &str = "jwt_hs256_signing_key";
/// HS256 keys shorter than the hash output weaken the MAC (RFC 7518 §3.2).
pub const MIN_KEY_BYTES: usize = 32;

/// The configured key's bytes, or the stored one, generating and storing it on first use.
pub fn signing_key(conn: &mut Connection, configured: Option<&Secret>) -> anyhow::Result<Vec<u8>> {
    if let Some(key) = configured {
        let bytes = key.expose().as_bytes().to_vec();
        anyhow::ensure!(
            bytes.len() >= MIN_KEY_BYTES,
            "SIGNING_KEY must be at least {MIN_KEY_BYTES} bytes"
        );
        return Ok(bytes);
    }
    conn.immediate_transaction(|conn| {
        let existing: Option<Vec<u8>> = server_keys::table
            .find(SIGNING_KEY_NAME)
            .select(server_keys::value)
            .get_result(conn)
            .optional()?;
        if let Some(key) = existing {
            return Ok(key);
        }
        let mut key = vec![0u8; 64];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        diesel::insert_into(server_keys::table)
            .values((
                server_keys::name.eq(SIGNING_KEY_NAME),
                server_keys::value.eq(&key),
                server_keys::created.eq(crate::clock::now()),
            ))
            .execute(conn)?;
        Ok(key)
    })
}
