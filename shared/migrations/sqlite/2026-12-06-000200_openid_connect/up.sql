-- OpenID Connect at Fake Social Site: the authorization code flow with PKCE, login sessions
-- and remembered consents (issue 13).

-- Django OAuth Toolkit's space-separated redirect URIs, matched exactly.
ALTER TABLE applications ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';
-- The JWS algorithm of this client's ID tokens (`id_token_signed_response_alg`).
ALTER TABLE applications ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'ES256'
    CHECK (id_token_alg IN ('ES256', 'RS256'));

-- Authorization codes: only their SHA-256 is stored. A code is used once; `family` is set
-- then to the token family issued from it, so a second use can revoke that family.
CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    application_id INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    -- RFC 7636 S256 challenge (base64url of the verifier's SHA-256).
    code_challenge TEXT NOT NULL,
    nonce TEXT,
    -- When the user logged in (OpenID Connect `auth_time`).
    auth_time BIGINT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    family TEXT
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires);

-- Browser login sessions at the provider: the cookie holds a random id, stored hashed.
CREATE TABLE login_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX login_sessions_expires ON login_sessions (expires);

-- What a user allowed a client, per (user, client, scopes).
CREATE TABLE consents (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (user_id, application_id, scope)
);
