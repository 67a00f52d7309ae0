-- External checkout (the storefront button): the products Cafe24 reserved, kept for the
-- review page and Cafe24's order calculation.
ALTER TABLE payments ADD COLUMN external_order TEXT;

-- The sandbox PG knows the buyer's shipping address in review mode (its wallet).
ALTER TABLE sandbox_pg_orders ADD COLUMN shipping_address TEXT;
