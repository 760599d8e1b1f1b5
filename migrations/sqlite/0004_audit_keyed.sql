-- Entries are authenticated from here on: `mac` is the HMAC-SHA-256 of the entry's hash under
-- AUDIT_KEY, which the database never sees (see vytalcall_domain::audit). Entries written
-- before this migration keep a NULL code and verify as unkeyed legacy entries: their hash
-- chain is still checked, and the first keyed entry links to the last of them.
ALTER TABLE audit_log ADD COLUMN mac TEXT;
