-- Where a Store API key came from: the admin (admin), or SANDBOX_API_KEY, provisioned
-- for the demo mall at start (sandbox). When SANDBOX_API_KEY changes, the key provisioned
-- before is revoked; the admin's keys are never touched.
ALTER TABLE api_keys ADD COLUMN origin TEXT NOT NULL DEFAULT 'admin';
-- The default SANDBOX_API_KEY (sk_test_paybridge_demomall), by its SHA-256.
UPDATE api_keys SET origin = 'sandbox'
 WHERE mall_id = 'demomall' AND key_hash = '9898087e1a7dabb68fbb8fe654503e0358d26f62470e1cf98f273d25f22c09e6';
