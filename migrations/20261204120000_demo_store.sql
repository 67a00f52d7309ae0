-- The sandbox's demo store for the Store API v2: the webhooks its receiver took, after
-- their Standard Webhooks signature was verified (a refused one is not kept). One row per
-- webhook-id: a redelivery of the same event is kept once.
CREATE TABLE demo_store_webhooks (
    webhook_id      TEXT PRIMARY KEY,
    payment_id      TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payment_status  TEXT NOT NULL,
    version         BIGINT NOT NULL,
    received_at     BIGINT NOT NULL
);
CREATE INDEX demo_store_webhooks_payment ON demo_store_webhooks (payment_id, received_at);
