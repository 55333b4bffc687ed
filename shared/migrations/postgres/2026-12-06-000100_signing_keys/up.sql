-- Asymmetric signing keys (RFC 7517/7518): every token names its key by `kid`, and the public
-- keys are published at /.well-known/jwks.json. One active key per algorithm signs; a retired
-- key only verifies, and stays published until `expires` (its retirement plus the longest
-- lifetime of anything it signed), so rotating never invalidates a live token.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    -- PKCS#8 DER. Only the service's role may read this table (grant nothing to others).
    private_key BYTEA NOT NULL,
    created BIGINT NOT NULL,
    retired BIGINT,
    expires BIGINT,
    CHECK ((retired IS NULL) = (expires IS NULL))
);
CREATE UNIQUE INDEX signing_keys_one_active_per_alg ON signing_keys (alg) WHERE retired IS NULL;
-- The HS256 secret of the symmetric scheme signs nothing any more.
DELETE FROM server_keys WHERE name = 'jwt_hs256_signing_key';
