-- The reconciliation worker (issue 14): a capture or void asked of the PG is marked on the
-- payment until its answer is applied (`pg_call_since`, unix ms), so a lost answer is
-- found; `reconciled_at` is when the worker last asked the PG about the payment, so an
-- open checkout, a pending refund or a PG that keeps failing is not asked on every pass.
ALTER TABLE payments ADD COLUMN pg_call_since BIGINT;
ALTER TABLE payments ADD COLUMN reconciled_at BIGINT;
