-- Sandbox PG (SPEC §6): an order whose webhooks go out unsigned, to play a PG without
-- webhook signatures (we then ask the PG instead), and why a refund was refused, for
-- the refund the merchant reads back.
ALTER TABLE sandbox_pg_orders ADD COLUMN unsigned_webhooks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sandbox_pg_refunds ADD COLUMN message TEXT;
