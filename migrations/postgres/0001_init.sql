-- vytalcall schema (PostgreSQL). Times are Unix milliseconds; flags are 0/1 integers; ids are
-- UUID text. The PostgreSQL schema is the same with its own types.

CREATE TABLE calls (
    id                TEXT PRIMARY KEY,
    room_id           TEXT NOT NULL,
    patient_id        TEXT NOT NULL,
    provider_id       TEXT NOT NULL,
    initiated_by      TEXT NOT NULL,
    call_type         TEXT NOT NULL,
    status            TEXT NOT NULL,
    scheduled_at      BIGINT,
    appointment_id    TEXT,
    recording_enabled BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    ringing_at        BIGINT,
    answered_at       BIGINT,
    ended_at          BIGINT,
    end_reason        TEXT,
    version           BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX calls_by_created ON calls (created_at);
CREATE INDEX calls_by_status ON calls (status, ringing_at);

-- Everyone who belongs to a call (one patient, one or more providers) and how they answered.
CREATE TABLE call_members (
    call_id       TEXT NOT NULL REFERENCES calls (id),
    user_id       TEXT NOT NULL,
    role          TEXT NOT NULL,
    video_enabled BIGINT,
    audio_enabled BIGINT,
    answered_at   BIGINT,
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
    joined_at            BIGINT NOT NULL,
    left_at              BIGINT,
    leave_reason         TEXT,
    video_enabled        BIGINT NOT NULL,
    audio_enabled        BIGINT NOT NULL,
    screen_share_enabled BIGINT NOT NULL DEFAULT 0,
    media_updated_at     BIGINT
);
CREATE INDEX call_participants_by_call ON call_participants (call_id, user_id);

-- Every state change with its time, actor and reason.
CREATE TABLE call_transitions (
    id          BIGSERIAL PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    at          BIGINT NOT NULL,
    actor_id    TEXT,
    actor_role  TEXT,
    reason      TEXT
);
CREATE INDEX call_transitions_by_call ON call_transitions (call_id, id);

CREATE TABLE recording_consents (
    id          TEXT PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls (id),
    user_id     TEXT NOT NULL,
    consented   BIGINT NOT NULL,
    method      TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX recording_consents_by_call ON recording_consents (call_id, user_id);

CREATE TABLE call_recordings (
    id            TEXT PRIMARY KEY,
    call_id       TEXT NOT NULL REFERENCES calls (id),
    status        TEXT NOT NULL,
    started_by    TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    stopped_by    TEXT,
    stopped_at    BIGINT,
    transcription BIGINT NOT NULL DEFAULT 0,
    storage_key   TEXT,
    size_bytes    BIGINT,
    duration_ms   BIGINT,
    legal_hold    BIGINT NOT NULL DEFAULT 0
);

-- The audit trail: append-only and hash-chained (see vytalcall_domain::audit).
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,
    occurred_at  BIGINT NOT NULL,
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
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
