ALTER TABLE applications DROP COLUMN allow_introspection;
