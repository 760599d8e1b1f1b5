-- Each recording's data key, wrapped (AES-256-GCM) under the master key named by
-- master_key_id (see crates/server/src/recording/keyring.rs). Objects written from here on
-- (format version 2) carry no key: deleting a recording deletes this row in the same
-- transaction as the recording's row and its audit entry, so every copy of the object that
-- may remain (old object versions, backups, a spool file left by a crash) is ciphertext
-- without a key. Version-1 objects keep their key in their header until
-- `vytalcall recording rewrap` moves it here.
CREATE TABLE recording_keys (
    recording_id  TEXT PRIMARY KEY REFERENCES call_recordings (id) ON DELETE CASCADE,
    master_key_id TEXT NOT NULL,
    wrapped_key   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
-- What rewrap looks for: keys not under the current master key.
CREATE INDEX recording_keys_by_master ON recording_keys (master_key_id);
