-- Changes every serving instance must hear about at once, sent with NOTIFY on the channel
-- `oauth2_changes` by the transaction that makes them (PostgreSQL delivers a notification when
-- that transaction commits, and never for one that rolls back). Triggers rather than calls in
-- the code, so that every path counts: a revocation (RFC 7009, a refresh rotation, a reused
-- refresh token's family, `tokens revoke`), `users deactivate`, an application deleted, or an
-- operator's own SQL. Deleted tokens are not announced here: the exchange's replacement of a
-- user's tokens announces itself after its commit (see `shared/src/storage/changes.rs`; a
-- NOTIFY in the transaction would make such commits run one at a time), and the prune only
-- deletes tokens that are already refused.
--   'tokens': an access token was revoked, or a user or an application changed or went, so
--             a cached token check may be stale (instances empty their token caches);
--   'keys':   the signing keys changed (`rotatekeys`, a new key, a prune), so instances
--             reload them.
-- Statement triggers with transition tables, so a statement that touched no row sends nothing
-- (a user's first exchange deletes no old token), and one that touched many sends one.

CREATE FUNCTION oauth2_notify_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        PERFORM pg_notify('oauth2_changes', 'tokens');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION oauth2_notify_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        PERFORM pg_notify('oauth2_changes', 'keys');
    END IF;
    RETURN NULL;
END
$$;

-- One trigger per table and event: a transition table belongs to a single event.
CREATE TRIGGER access_tokens_updated AFTER UPDATE ON access_tokens
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION oauth2_notify_tokens();
CREATE TRIGGER users_updated AFTER UPDATE ON users
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION oauth2_notify_tokens();
CREATE TRIGGER users_deleted AFTER DELETE ON users
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION oauth2_notify_tokens();
CREATE TRIGGER applications_updated AFTER UPDATE ON applications
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION oauth2_notify_tokens();
CREATE TRIGGER applications_deleted AFTER DELETE ON applications
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION oauth2_notify_tokens();
CREATE TRIGGER signing_keys_inserted AFTER INSERT ON signing_keys
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION oauth2_notify_keys();
CREATE TRIGGER signing_keys_updated AFTER UPDATE ON signing_keys
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION oauth2_notify_keys();
CREATE TRIGGER signing_keys_deleted AFTER DELETE ON signing_keys
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION oauth2_notify_keys();
