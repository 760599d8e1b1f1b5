-- Waiting rooms (docs/signaling.md, "Waiting room"). A call with a waiting room keeps its
-- patient outside until one of its providers admits them; the server enforces it.
ALTER TABLE calls ADD COLUMN waiting_room BIGINT NOT NULL DEFAULT 0;

-- Everyone at a call's door: waiting (place set; the queue is in place order) or admitted
-- (place NULL, until sent back or the call ends). devices counts the person's connected
-- devices waiting, so a second device does not queue twice and the last one leaving
-- leaves the queue. device_check is their own report (JSON), shown to the providers.
CREATE TABLE waiting_room (
    call_id      TEXT NOT NULL REFERENCES calls (id),
    user_id      TEXT NOT NULL,
    place        BIGINT,
    since        BIGINT NOT NULL,
    device_check TEXT,
    devices      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (call_id, user_id)
);
