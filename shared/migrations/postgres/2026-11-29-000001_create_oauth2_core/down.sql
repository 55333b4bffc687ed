DROP TABLE server_keys;
DROP TABLE refresh_tokens;
DROP TABLE access_tokens;
DROP TABLE applications;
DROP TABLE users;
