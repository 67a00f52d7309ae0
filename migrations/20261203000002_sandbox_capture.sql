-- Sandbox PG (SPEC §8.5): checkouts finalized by the merchant's API call with one-time
-- authData, manual-capture authorizations, and what each order took.
ALTER TABLE sandbox_pg_orders ADD COLUMN capture_method TEXT NOT NULL DEFAULT 'automatic';
ALTER TABLE sandbox_pg_orders ADD COLUMN finalization TEXT NOT NULL DEFAULT 'webhook';
-- The one-time authData an api-finalization checkout hands the buyer back with.
ALTER TABLE sandbox_pg_orders ADD COLUMN auth_data TEXT;
ALTER TABLE sandbox_pg_orders ADD COLUMN auth_data_used BIGINT NOT NULL DEFAULT 0;
-- decline: the next approval with authData is declined (a test switch).
ALTER TABLE sandbox_pg_orders ADD COLUMN next_approve_outcome TEXT;
ALTER TABLE sandbox_pg_orders ADD COLUMN captured_minor BIGINT NOT NULL DEFAULT 0;
UPDATE sandbox_pg_orders SET captured_minor = amount_minor WHERE status = 'paid';
