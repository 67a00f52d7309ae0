-- One payment core, channels beside it (ARCHITECTURE: "a channel's own fields live in
-- its own tables"). The core's tables lose Cafe24's fields, which move to
-- cafe24_payments and cafe24_refunds; every payment so far came in through Cafe24.
-- Outbox rows say how they are delivered (content type, headers, what counts as taken).
--
-- Portable on SQLite and PostgreSQL: each table is rebuilt as <name>_core, its rows are
-- carried over, the old tables are dropped (children first) and the new ones renamed.
-- SQLite cannot drop a UNIQUE column (status_key), so ALTER TABLE DROP COLUMN is no way
-- there; SQLite's RENAME rewrites the foreign keys that name the renamed table, and
-- PostgreSQL's follow the table itself.

CREATE TABLE payments_core (
    id               TEXT PRIMARY KEY,
    mall_id          TEXT NOT NULL REFERENCES malls (mall_id),
    -- cafe24 | store_api: the protocol the payment came in by.
    channel          TEXT NOT NULL,
    order_id         TEXT NOT NULL,
    currency         TEXT NOT NULL,
    amount_minor     BIGINT NOT NULL,
    cancelled_minor  BIGINT NOT NULL DEFAULT 0,
    status           BIGINT NOT NULL,
    failure_reason   TEXT,
    -- capture | deposit, while in status 5.
    pending_reason   TEXT,
    gateway          TEXT NOT NULL,
    tid              TEXT,
    checkout_url     TEXT,
    description      TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (mall_id, order_id)
);
INSERT INTO payments_core (id, mall_id, channel, order_id, currency, amount_minor, cancelled_minor, status,
    failure_reason, pending_reason, gateway, tid, checkout_url, description, created_at, updated_at)
SELECT id, mall_id, 'cafe24', order_id, currency, amount_minor, cancelled_minor, status, failure_reason,
    CASE WHEN status = 5 THEN 'deposit' ELSE NULL END, gateway, tid, payment_url, goods_name, created_at, updated_at
FROM payments;

-- What Cafe24 sent with a payment request (SPEC §4.1, §4.6), kept for its answers and notys.
CREATE TABLE cafe24_payments (
    payment_id       TEXT PRIMARY KEY REFERENCES payments_core (id),
    partner_id       TEXT NOT NULL,
    shop_no          BIGINT NOT NULL,
    -- sync | async | external
    flow             TEXT NOT NULL,
    -- Exactly as Cafe24 sent it (hash_data is computed over it); NULL when the amount is
    -- ours (the external checkout settles it to Cafe24's total), written in major units.
    amount_text      TEXT,
    paymethod        TEXT NOT NULL,
    -- The key Cafe24 reads the payment with (SPEC §4.3): 256 random bits.
    status_key       TEXT NOT NULL UNIQUE,
    return_url       TEXT NOT NULL,
    return_noty_url  TEXT,
    extra_data       TEXT,
    -- External checkout: the products Cafe24 reserved (JSON).
    external_order   TEXT
);
INSERT INTO cafe24_payments (payment_id, partner_id, shop_no, flow, amount_text, paymethod, status_key, return_url,
    return_noty_url, extra_data, external_order)
SELECT id, partner_id, shop_no, flow, CASE WHEN flow = 'external' THEN NULL ELSE amount_text END, paymethod,
    status_key, return_url, return_noty_url, extra_data, external_order
FROM payments;

CREATE TABLE payment_events_core (
    id               TEXT PRIMARY KEY,
    payment_id       TEXT NOT NULL REFERENCES payments_core (id),
    seq              BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    from_status      BIGINT,
    to_status        BIGINT,
    amount_minor     BIGINT,
    source           TEXT NOT NULL,
    source_event_id  TEXT,
    detail           TEXT,
    created_at       BIGINT NOT NULL,
    UNIQUE (payment_id, seq)
);
INSERT INTO payment_events_core (id, payment_id, seq, kind, from_status, to_status, amount_minor, source,
    source_event_id, detail, created_at)
SELECT id, payment_id, seq, kind, from_status, to_status, amount_minor, source, source_event_id, detail, created_at
FROM payment_events;

CREATE TABLE refunds_core (
    id                 TEXT PRIMARY KEY,
    payment_id         TEXT NOT NULL REFERENCES payments_core (id),
    amount_minor       BIGINT NOT NULL,
    -- requested | unknown | pending | succeeded | failed
    status             TEXT NOT NULL,
    -- sync (the PG answers now) | async (the PG may decide later)
    mode               TEXT NOT NULL,
    gateway_refund_id  TEXT,
    reason             TEXT,
    failure_message    TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
INSERT INTO refunds_core (id, payment_id, amount_minor, status, mode, gateway_refund_id, reason, failure_message,
    created_at, updated_at)
SELECT id, payment_id, amount_minor, status, mode, gateway_refund_id, reason, failure_message, created_at, updated_at
FROM refunds;

-- What Cafe24 sent with a cancel (SPEC §4.5).
CREATE TABLE cafe24_refunds (
    refund_id        TEXT PRIMARY KEY REFERENCES refunds_core (id),
    -- Exactly as Cafe24 sent it: the cancel noty's hash covers it.
    amount_text      TEXT NOT NULL,
    cancel_noty_url  TEXT,
    extra_data       TEXT
);
INSERT INTO cafe24_refunds (refund_id, amount_text, cancel_noty_url, extra_data)
SELECT id, amount_text, cancel_noty_url, extra_data FROM refunds;

CREATE TABLE outbox_core (
    id               TEXT PRIMARY KEY,
    payment_id       TEXT REFERENCES payments_core (id),
    position         BIGINT,
    kind             TEXT NOT NULL,
    target_url       TEXT NOT NULL,
    -- Fixed when enqueued: every attempt sends the same body.
    body             TEXT NOT NULL,
    -- The delivery policy: the body's content type, further headers (a JSON array of
    -- [name, value]), and what answer counts as taken: 2xx | result_ok (a 2xx whose
    -- JSON body is {"result":"OK"}, Cafe24).
    content_type     TEXT NOT NULL,
    headers          TEXT NOT NULL,
    accept           TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);
INSERT INTO outbox_core (id, payment_id, position, kind, target_url, body, content_type, headers, accept, status,
    attempts, next_attempt_at, lease_owner, lease_until, last_error, created_at, updated_at, delivered_at)
SELECT id, payment_id, position, kind, target_url, body, 'application/x-www-form-urlencoded', '[]',
    CASE WHEN kind LIKE 'cafe24.%' THEN 'result_ok' ELSE '2xx' END, status, attempts, next_attempt_at, lease_owner,
    lease_until, last_error, created_at, updated_at, delivered_at
FROM outbox;

CREATE TABLE outbox_attempts_core (
    id           TEXT PRIMARY KEY,
    outbox_id    TEXT NOT NULL REFERENCES outbox_core (id),
    attempt      BIGINT NOT NULL,
    worker       TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL,
    http_status  BIGINT,
    outcome      TEXT NOT NULL,
    error        TEXT
);
INSERT INTO outbox_attempts_core (id, outbox_id, attempt, worker, started_at, finished_at, http_status, outcome,
    error)
SELECT id, outbox_id, attempt, worker, started_at, finished_at, http_status, outcome, error FROM outbox_attempts;

DROP TABLE outbox_attempts;
DROP TABLE outbox;
DROP TABLE refunds;
DROP TABLE payment_events;
DROP TABLE payments;

ALTER TABLE payments_core RENAME TO payments;
ALTER TABLE payment_events_core RENAME TO payment_events;
ALTER TABLE refunds_core RENAME TO refunds;
ALTER TABLE outbox_core RENAME TO outbox;
ALTER TABLE outbox_attempts_core RENAME TO outbox_attempts;

CREATE UNIQUE INDEX payments_gateway_tid ON payments (gateway, tid);
CREATE UNIQUE INDEX payment_events_source_event ON payment_events (payment_id, source, source_event_id);
CREATE INDEX refunds_payment ON refunds (payment_id, status);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_payment ON outbox (payment_id);
CREATE INDEX outbox_attempts_message ON outbox_attempts (outbox_id);
