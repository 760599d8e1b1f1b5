-- vytalcall schema (SQLite). Times are Unix milliseconds; flags are 0/1 integers; ids are
-- UUID text. The PostgreSQL schema is the same with its own types.

CREATE TABLE calls (
    id                TEXT PRIMARY KEY,
    room_id           TEXT NOT NULL,
    patient_id        TEXT NOT NULL,
    provider_id       TEXT NOT NULL,
    initiated_by      TEXT NOT NULL,
    call_type         TEXT NOT NULL,
    status            TEXT NOT NULL,
    scheduled_at      INTEGER,
    appointment_id    TEXT,
    recording_enabled INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    ringing_at        INTEGER,
    answered_at       INTEGER,
    ended_at          INTEGER,
    end_reason        TEXT,
    version           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX calls_by_created ON calls (created_at);
CREATE INDEX calls_by_status ON calls (status, ringing_at);

-- Everyone who belongs to a call (one patient, one or more providers) and how they answered.
CREATE TABLE call_members (
    call_id       TEXT NOT NULL REFERENCES calls (id),
    user_id       TEXT NOT NULL,
    role          TEXT NOT NULL,
    video_enabled INTEGER,
    audio_enabled INTEGER,
    answered_at   INTEGER,
    PRIMARY KEY (call_id, user_id)
);
CREATE INDEX call_members_by_user ON call_members (user_id, call_id);

-- One row per device session in a call: joined, left, media state.
CREATE TABLE call_participants (
    id                   TEXT PRIMARY KEY,
    call_id              TEXT NOT NULL REFERENCES calls (id),
    user_id              TEXT NOT NULL,
    role                 TEXT NOT NULL,
    device_id            TEXT,
    joined_at            INTEGER NOT NULL,
    left_at              INTEGER,
    leave_reason         TEXT,
    video_enabled        INTEGER NOT NULL,
    audio_enabled        INTEGER NOT NULL,
    screen_share_enabled INTEGER NOT NULL DEFAULT 0,
    media_updated_at     INTEGER
);
CREATE INDEX call_participants_by_call ON call_participants (call_id, user_id);

-- Every state change with its time, actor and reason.
CREATE TABLE call_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     TEXT NOT NULL REFERENCES calls (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    at          INTEGER NOT NULL,
    actor_id    TEXT,
    actor_role  TEXT,
    reason      TEXT
);
CREATE INDEX call_transitions_by_call ON call_transitions (call_id, id);

CREATE TABLE recording_consents (
    id          TEXT PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls (id),
    user_id     TEXT NOT NULL,
    consented   INTEGER NOT NULL,
    method      TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX recording_consents_by_call ON recording_consents (call_id, user_id);

CREATE TABLE call_recordings (
    id            TEXT PRIMARY KEY,
    call_id       TEXT NOT NULL REFERENCES calls (id),
    status        TEXT NOT NULL,
    started_by    TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    stopped_by    TEXT,
    stopped_at    INTEGER,
    transcription INTEGER NOT NULL DEFAULT 0,
    storage_key   TEXT,
    size_bytes    INTEGER,
    duration_ms   INTEGER,
    legal_hold    INTEGER NOT NULL DEFAULT 0
);

-- The audit trail: append-only and hash-chained (see vytalcall_domain::audit).
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    occurred_at  INTEGER NOT NULL,
    actor_id     TEXT,
    actor_role   TEXT,
    device_id    TEXT,
    client_addr  TEXT,
    action       TEXT NOT NULL,
    call_id      TEXT,
    recording_id TEXT,
    outcome      TEXT NOT NULL,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_log_by_call ON audit_log (call_id, seq);

-- The chain's head, updated in the same transaction as each append. Writers take its row
-- lock first, which serialises appends across processes.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
