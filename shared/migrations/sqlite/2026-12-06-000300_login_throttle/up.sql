-- The login throttle's counts, for instances that share this database (issue 15): one row
-- per key, `pair <address> <username>`, `address <address>` or `username <username>`.
-- Times are Unix milliseconds. Rows quiet for the throttle's window and not locked are
-- deleted by the periodic prune.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    last_ms BIGINT NOT NULL,
    blocked_until_ms BIGINT
);
CREATE INDEX login_throttle_last_ms ON login_throttle (last_ms);
