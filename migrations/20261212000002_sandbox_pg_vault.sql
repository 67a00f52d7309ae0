-- The sandbox PG's card vault (SPEC §8.5): a registration is a hosted page where the
-- buyer enters a card; once registered it is the card, charged by its token. The vault
-- keeps no card number and no token: the brand, last 4 digits and expiry, and the
-- SHA-256 of the token (derived from the registration code with the vault's key, so it
-- can be answered again). Charges are orders (`sandbox_pg_orders`, mode `token`).
CREATE TABLE sandbox_pg_registrations (
    code                TEXT PRIMARY KEY,
    merchant            TEXT NOT NULL,
    reference           TEXT NOT NULL,
    customer            TEXT NOT NULL,
    -- on_session | off_session
    usage               TEXT NOT NULL,
    callback_url        TEXT NOT NULL,
    webhook_url         TEXT,
    -- open | registered | failed
    status              TEXT NOT NULL,
    failure_message     TEXT,
    token_hash          TEXT UNIQUE,
    brand               TEXT,
    last4               TEXT,
    exp_month           BIGINT,
    exp_year            BIGINT,
    -- decline: every charge of this card is declined (the declining test card of §8.5).
    charge_outcome      TEXT,
    deleted_at          BIGINT,
    webhooks_in_flight  BIGINT NOT NULL DEFAULT 0,
    webhook_attempts    BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (merchant, reference)
);
