-- RFC 7662 §4: introspection answers say who holds which token, so only clients granted it
-- explicitly may introspect (`createapplication ... --allow-introspection`).
ALTER TABLE applications ADD COLUMN allow_introspection BOOLEAN NOT NULL DEFAULT FALSE;
-- Upgrading keeps what deployments rely on: a confidential client registered with no grant
-- at all (`--grant-type none`) can do nothing but authenticate, and was registered for
-- introspection (My API's client at Fake Social Site). Every other client loses it.
UPDATE applications SET allow_introspection = TRUE
    WHERE client_type = 'confidential' AND grant_types = '';
