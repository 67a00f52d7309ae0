-- Sandbox PG (SPEC §6): how many of an order's webhooks are still being sent (retried
-- until the merchant takes them), so a test can wait until the PG has said everything.
ALTER TABLE sandbox_pg_orders ADD COLUMN webhooks_in_flight BIGINT NOT NULL DEFAULT 0;
-- How many delivery attempts its webhooks have had, answered or not.
ALTER TABLE sandbox_pg_orders ADD COLUMN webhook_attempts BIGINT NOT NULL DEFAULT 0;
