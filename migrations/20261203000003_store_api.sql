-- The Store API v2 (SPEC §8): merchants' API keys and webhook endpoints, idempotency
-- records, and what a store sent with each payment (the channel's own table).

-- A key is shown once; only its SHA-256 is kept, with what identifies it in a list.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    mall_id       TEXT NOT NULL REFERENCES malls (mall_id),
    -- test (sk_test_…, with the sandbox on) | live (sk_live_…)
    mode          TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    last4         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_mall ON api_keys (mall_id);

-- Where a merchant's store hears of its payments (SPEC §8.4). The secret (whsec_…) is
-- sealed; after a rotation the previous one signs too until previous_until (24 h).
CREATE TABLE webhook_endpoints (
    id                   TEXT PRIMARY KEY,
    mall_id              TEXT NOT NULL REFERENCES malls (mall_id),
    url                  TEXT NOT NULL,
    secret_enc           TEXT NOT NULL,
    previous_secret_enc  TEXT,
    previous_until       BIGINT,
    created_at           BIGINT NOT NULL,
    deleted_at           BIGINT
);
CREATE INDEX webhook_endpoints_mall ON webhook_endpoints (mall_id);

-- One row per (merchant, Idempotency-Key), kept 24 h (SPEC §8.1). The first request holds
-- it (in_progress, until locked_until) while it runs; its final answer is kept (done), or
-- the key is left to resume (resumable) after a 5xx or a lost PG answer. recovery_id is
-- the id the first attempt chose, so a resumed one asks the PG under the same reference.
CREATE TABLE idempotency_keys (
    mall_id          TEXT NOT NULL,
    idem_key         TEXT NOT NULL,
    method           TEXT NOT NULL,
    path             TEXT NOT NULL,
    body_hash        TEXT NOT NULL,
    state            TEXT NOT NULL,
    locked_until     BIGINT,
    recovery_id      TEXT,
    response_status  BIGINT,
    response_body    TEXT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    PRIMARY KEY (mall_id, idem_key)
);

-- What the store sent with a payment (SPEC §8.3).
CREATE TABLE store_api_payments (
    payment_id    TEXT PRIMARY KEY REFERENCES payments (id),
    -- card | token | token_registration
    method        TEXT NOT NULL,
    -- webhook | api
    finalization  TEXT NOT NULL,
    customer_id   TEXT,
    success_url   TEXT NOT NULL,
    fail_url      TEXT NOT NULL,
    -- A JSON object of at most 20 string pairs.
    metadata      TEXT NOT NULL
);
CREATE INDEX store_api_payments_customer ON store_api_payments (customer_id);

-- Store webhooks are signed when they are sent (Standard Webhooks: the timestamp is the
-- attempt's): the key that signs, e.g. standard-webhooks:whe_…; NULL for other messages.
ALTER TABLE outbox ADD COLUMN signing TEXT;
