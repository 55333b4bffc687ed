DROP TABLE consents;
DROP TABLE login_sessions;
DROP TABLE authorization_codes;
ALTER TABLE applications DROP COLUMN id_token_alg;
ALTER TABLE applications DROP COLUMN redirect_uris;
