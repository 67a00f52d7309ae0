-- The core learns capture, expiry and purchase confirmation (SPEC §8.3).
-- What the PG took: the whole amount when it paid at once, at most the authorized amount
-- when the merchant captured (every payment so far was paid in full).
ALTER TABLE payments ADD COLUMN captured_minor BIGINT NOT NULL DEFAULT 0;
UPDATE payments SET captured_minor = amount_minor WHERE status IN (2, 3, 7);
-- automatic | manual
ALTER TABLE payments ADD COLUMN capture_method TEXT NOT NULL DEFAULT 'automatic';
-- Unix ms: an intent not finalized by then fails (expired).
ALTER TABLE payments ADD COLUMN expires_at BIGINT;
-- Unix ms: an authorization not captured by then is voided (authorization_expired).
ALTER TABLE payments ADD COLUMN capture_before BIGINT;
ALTER TABLE payments ADD COLUMN confirmed_at BIGINT;
ALTER TABLE payments ADD COLUMN delivered_at BIGINT;
-- Grows by one with every change of the payment (SPEC §8.2 `version`).
ALTER TABLE payments ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
-- A worker (intent expiry, authorization expiry, auto-confirm) holds a payment while it
-- acts on it; another instance leaves it alone until then.
ALTER TABLE payments ADD COLUMN worker_lease_until BIGINT;
CREATE INDEX payments_expiry ON payments (status, expires_at);
CREATE INDEX payments_capture_window ON payments (status, capture_before);
CREATE INDEX payments_delivered ON payments (delivered_at);
