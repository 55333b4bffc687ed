-- The HS256 secret is regenerated at start by a build that wants it.
DROP INDEX signing_keys_one_active_per_alg;
DROP TABLE signing_keys;
