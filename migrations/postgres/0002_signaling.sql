-- Connection-quality reports, sampled: at most one row per participant per sampling
-- interval (QUALITY_SAMPLE_SECONDS). Packet loss is stored in thousandths of a percent so
-- every column stays an integer.
CREATE TABLE call_quality_samples (
    id                TEXT PRIMARY KEY,
    call_id           TEXT NOT NULL REFERENCES calls (id),
    user_id           TEXT NOT NULL,
    device_id         TEXT,
    at                BIGINT NOT NULL,
    bandwidth_kbps    BIGINT NOT NULL,
    latency_ms        BIGINT NOT NULL,
    packet_loss_milli BIGINT NOT NULL,
    jitter_ms         BIGINT NOT NULL,
    video_resolution  TEXT,
    warning           TEXT
);
CREATE INDEX call_quality_samples_by_participant ON call_quality_samples (call_id, user_id, at);
