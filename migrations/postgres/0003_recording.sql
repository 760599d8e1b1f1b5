-- Recording media: the sealed WebM head (rewritten when a recording ends, so it lives here
-- and not in the append-only stored object), who was recorded, and the stored object's size.
-- size_bytes is the playable WebM's size; stored_bytes the encrypted object's.
ALTER TABLE call_recordings ADD COLUMN media_head TEXT;
ALTER TABLE call_recordings ADD COLUMN participants TEXT NOT NULL DEFAULT '[]';
ALTER TABLE call_recordings ADD COLUMN stored_bytes BIGINT;
ALTER TABLE call_recordings ADD COLUMN consent_method TEXT;
ALTER TABLE call_recordings ADD COLUMN node_id TEXT;
CREATE INDEX call_recordings_by_call ON call_recordings (call_id, started_at);
CREATE INDEX call_recordings_by_status ON call_recordings (status, started_at);
-- At most one running recording per call, even when two start requests race.
CREATE UNIQUE INDEX call_recordings_one_running ON call_recordings (call_id) WHERE status = 'recording';
