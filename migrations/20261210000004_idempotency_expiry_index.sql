-- The maintenance worker purges idempotency records past their 24 h (SPEC §8.1).
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
