-- My API's own tables, beside the shared users/applications/tokens.

-- A user's identity at a social provider (python-social-auth's UserSocialAuth).
-- Keyed by (provider, uid), never by username or email.
CREATE TABLE social_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL CHECK (length(provider) > 0),
    uid TEXT NOT NULL CHECK (length(uid) > 0),
    extra_data TEXT NOT NULL DEFAULT '{}',
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    UNIQUE (provider, uid)
);
CREATE INDEX social_links_user ON social_links (user_id);

CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created BIGINT NOT NULL
);
CREATE INDEX items_owner ON items (owner_id);

CREATE TABLE concepts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    parent_id INTEGER REFERENCES concepts (id) ON DELETE SET NULL,
    created BIGINT NOT NULL
);
CREATE INDEX concepts_parent ON concepts (parent_id);
