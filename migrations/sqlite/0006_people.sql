-- Everyone the server has met: each authenticated user's role and display name, from the
-- claims of their latest token (the `name` claim; a token without one keeps the name held).
-- Names are PHI: they are sent to the people who share a call and never logged or audited
-- (crates/server/src/people.rs). Written only when a process sees a name or role that differs
-- from what it last wrote, so a request costs no write.
CREATE TABLE people (
    user_id    TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    name       TEXT,
    first_seen INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Everyone who was in a call before this table existed is known too (without a name until
-- they next sign in), so a pasted id of an earlier patient is not taken for a stranger's.
INSERT INTO people (user_id, role, name, first_seen, updated_at)
SELECT m.user_id, MIN(m.role), NULL, MIN(c.created_at), MAX(c.created_at)
FROM call_members m JOIN calls c ON c.id = m.call_id
GROUP BY m.user_id;
