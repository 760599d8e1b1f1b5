-- Webhooks (docs/webhooks.md). An event is written to webhook_events, with one
-- webhook_deliveries row per endpoint that asked for it, in the transaction of the fact it
-- reports (beside that fact's audit entry), so a rolled-back change never produces an event
-- and a crash after the commit still delivers it. Bodies hold ids, times, states and reasons:
-- never a name or other PHI.

-- Where events go. The endpoint of WEBHOOK_URL is the row with source 'env'. Deleted
-- endpoints keep their row (deleted_at set) so their deliveries stay readable.
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT,
    rotated_at  INTEGER,
    deleted_at  INTEGER
);

-- The outbox: each event once, its body as sent (so every retry and redelivery carries the
-- same bytes and the same webhook-id).
CREATE TABLE webhook_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    call_id     TEXT,
    occurred_at INTEGER NOT NULL,
    body        TEXT NOT NULL
);

-- One event to one endpoint. order_key (the call's id, else the event's) keeps a call's
-- events in order: the worker sends a delivery only when no earlier one of the same key to
-- the same endpoint is still pending. locked_until/owner are the lease a node takes (a
-- compare-and-set UPDATE) before sending, so with several nodes each delivery has one sender.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq       INTEGER NOT NULL REFERENCES webhook_events (seq),
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id),
    order_key       TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL DEFAULT 0,
    owner           TEXT,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    created_at      INTEGER NOT NULL,
    -- Retries stop this long after window_start (the event, or the last redelivery request).
    window_start    INTEGER NOT NULL
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, order_key, event_seq);
