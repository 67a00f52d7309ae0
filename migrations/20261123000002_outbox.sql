-- The transactional outbox (SPEC §5): every notification is a row written in the same
-- transaction as the state change that causes it, and a worker delivers it.

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    payment_id       TEXT REFERENCES payments (id),
    -- The payment's event sequence number when enqueued: one payment's notifications are
    -- delivered in this order (a later one waits while an earlier one is pending).
    position         BIGINT,
    kind             TEXT NOT NULL,
    target_url       TEXT NOT NULL,
    -- application/x-www-form-urlencoded, fixed when enqueued: every attempt sends the same.
    body             TEXT NOT NULL,
    -- pending | delivered | failed
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    -- A worker holds a row while it delivers it; an expired lease means the worker died.
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_payment ON outbox (payment_id);

-- One row per delivery attempt, for the admin and for proving no attempt overlapped.
CREATE TABLE outbox_attempts (
    id           TEXT PRIMARY KEY,
    outbox_id    TEXT NOT NULL REFERENCES outbox (id),
    attempt      BIGINT NOT NULL,
    worker       TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL,
    http_status  BIGINT,
    outcome      TEXT NOT NULL,
    error        TEXT
);
CREATE INDEX outbox_attempts_message ON outbox_attempts (outbox_id);

ALTER TABLE sandbox_pg_orders ADD COLUMN last_webhook TEXT;
ALTER TABLE sandbox_pg_orders ADD COLUMN next_refund_outcome TEXT;
ALTER TABLE sandbox_pg_refunds ADD COLUMN webhook_url TEXT;

-- What the demo mall's noty receivers got (SPEC §6).
CREATE TABLE demo_mall_notifications (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  BIGINT NOT NULL
);
CREATE INDEX demo_mall_notifications_order ON demo_mall_notifications (order_id, received_at);
