-- A payment company that signs its webhooks with a secret of its own (Stripe's whsec_…):
-- kept sealed beside the secret key, like it (AES-256-GCM). NULL for the sandbox PG,
-- which signs with the merchant's secret key.
ALTER TABLE pg_credentials ADD COLUMN webhook_secret_enc TEXT;
