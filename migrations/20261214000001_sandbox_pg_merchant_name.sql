-- The sandbox PG's payment page names the shop the checkout was opened for ("Pay Tindahan"),
-- not the merchant's public key.
ALTER TABLE sandbox_pg_orders ADD COLUMN merchant_name TEXT;
