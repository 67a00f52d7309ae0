-- Whoever holds an idempotency key (SPEC §8.1) holds it under a token of its own: a
-- request slower than its lease, whose key another request resumed meanwhile, can no
-- longer record an answer or a recovery id over the resumer's.
ALTER TABLE idempotency_keys ADD COLUMN lease_token TEXT;
