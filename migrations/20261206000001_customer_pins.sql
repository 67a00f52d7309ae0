-- Store API v2 PINs (SPEC §8.3): one PIN per customer of a merchant, and the single-use
-- verification tokens a correct PIN gives. Portable SQL (SQLite and PostgreSQL).

CREATE TABLE customer_pins (
    mall_id          TEXT NOT NULL REFERENCES malls (mall_id),
    customer_id      TEXT NOT NULL,
    -- argon2id PHC string of the PIN with the server-side pepper; never the PIN.
    pin_hash         TEXT NOT NULL,
    -- Consecutive wrong PINs; updated atomically in the database (exact under concurrency).
    failed_attempts  BIGINT NOT NULL DEFAULT 0,
    locked_until     BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (mall_id, customer_id)
);

-- `pv_…` tokens: only their SHA-256 is kept; single use, bound to one customer.
CREATE TABLE pin_verifications (
    token_hash   TEXT PRIMARY KEY,
    mall_id      TEXT NOT NULL REFERENCES malls (mall_id),
    customer_id  TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    created_at   BIGINT NOT NULL
);

CREATE INDEX pin_verifications_customer ON pin_verifications (mall_id, customer_id);
