-- PostgreSQL's version of this migration makes every instance hear of revocations and key
-- changes at once (NOTIFY). SQLite has one serving process per file, which learns of its own
-- changes directly: nothing to do here. The migration exists so both sets keep one history.
SELECT 1;
