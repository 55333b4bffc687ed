//! Asymmetric signing keys: the JWK Set, `SIGNING_KEY_FILE`, `rotatekeys` while serving, and
//! tokens that name a key or an algorithm they must not.

use std::path::PathBuf;

/// A key from the tests' key folder (made by openssl; see its README).
pub fn test_key(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/src/storage/tokens/test-keys")
        .join(name)
}
