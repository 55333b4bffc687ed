-- Users, OAuth2 applications, tokens and server keys: what every provider needs.
-- Times are Unix seconds (UTC).

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 150),
    -- bcrypt ("$2b$..."), a Django hash ("pbkdf2_sha256$..."), or "!" for no usable password.
    password TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    is_active BOOLEAN NOT NULL DEFAULT 1,
    is_staff BOOLEAN NOT NULL DEFAULT 0,
    is_superuser BOOLEAN NOT NULL DEFAULT 0,
    date_joined BIGINT NOT NULL
);

CREATE TABLE applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    client_id TEXT NOT NULL UNIQUE CHECK (length(client_id) > 0),
    name TEXT NOT NULL,
    client_type TEXT NOT NULL CHECK (client_type IN ('public', 'confidential')),
    -- "sha256$<hex>" of the secret, or a Django hash; NULL for public clients.
    client_secret_hash TEXT,
    -- Space-separated grant types this client may use.
    grant_types TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created BIGINT NOT NULL
);

-- Access tokens are JWTs; only their id is stored, so revocation is immediate.
CREATE TABLE access_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    -- Every token descended from one grant shares a family (RFC 9700 §4.14).
    family TEXT NOT NULL,
    scope TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX access_tokens_family ON access_tokens (family);
CREATE INDEX access_tokens_user_application ON access_tokens (user_id, application_id);
CREATE INDEX access_tokens_expires ON access_tokens (expires);

-- Refresh tokens are opaque; only their SHA-256 is stored.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    access_jti TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    family TEXT NOT NULL,
    scope TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    -- Set when the token is rotated or revoked; presenting it again revokes the family.
    revoked BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_access_jti ON refresh_tokens (access_jti);
CREATE INDEX refresh_tokens_user_application ON refresh_tokens (user_id, application_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires);

-- Server-side secrets generated on first use (the JWT signing key when none is configured).
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    created BIGINT NOT NULL
);
