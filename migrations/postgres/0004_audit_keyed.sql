-- Entries are authenticated from here on: `mac` is the HMAC-SHA-256 of the entry's hash under
-- AUDIT_KEY, which the database never sees (see vytalcall_domain::audit). Entries written
-- before this migration keep a NULL code and verify as unkeyed legacy entries: their hash
-- chain is still checked, and the first keyed entry links to the last of them.
ALTER TABLE audit_log ADD COLUMN mac TEXT;

-- Row triggers do not fire on TRUNCATE; this statement-level one does.
CREATE FUNCTION audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate();

-- Appends no longer keep a head row: they are serialised by a transaction-scoped advisory
-- lock and continue from the newest entry, so the serving role needs nothing on the trail
-- but INSERT and SELECT (docs/audit-trail.md shows the grants). The head that counts is the
-- keyed checkpoint kept outside the database.
DROP TABLE audit_head;
