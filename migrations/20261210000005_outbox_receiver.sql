-- One payment's notifications keep their order per receiver (SPEC §5, §8.4): a store
-- webhook endpoint that fails holds up only its own later webhooks, not another
-- endpoint's nor Cafe24's. The receiver is the endpoint (whe_…) for store webhooks and
-- cafe24 for Cafe24's notys (whatever URL each goes to).
ALTER TABLE outbox ADD COLUMN receiver TEXT NOT NULL DEFAULT '';
UPDATE outbox SET receiver = CASE
    WHEN signing LIKE 'standard-webhooks:%' THEN substr(signing, 19)
    ELSE 'cafe24'
END;
CREATE INDEX outbox_payment_receiver ON outbox (payment_id, receiver, status, position);
