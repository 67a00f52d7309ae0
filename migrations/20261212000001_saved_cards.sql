-- Saved cards of the Store API v2 (SPEC §8.3): the PG keeps the card, we keep its
-- reference sealed (AES-256-GCM under ENCRYPTION_KEY, resealed by rotate-keys) and the
-- display data only. Portable SQL (SQLite and PostgreSQL).

-- A payment that registers a card (status 1 → 9 with a token, or → 4): who the card is
-- for and what it may be used for.
CREATE TABLE card_registrations (
    payment_id   TEXT PRIMARY KEY REFERENCES payments (id),
    customer_id  TEXT NOT NULL,
    -- on_session | off_session
    usage        TEXT NOT NULL
);

-- A card the PG keeps (tok_…), made by one registration.
CREATE TABLE card_tokens (
    id               TEXT PRIMARY KEY,
    mall_id          TEXT NOT NULL REFERENCES malls (mall_id),
    customer_id      TEXT NOT NULL,
    usage            TEXT NOT NULL,
    -- The connector that keeps it (`sandbox`, …).
    gateway          TEXT NOT NULL,
    -- The PG's reference to the card, sealed; never shown, never logged.
    reference_enc    TEXT NOT NULL,
    brand            TEXT NOT NULL,
    last4            TEXT NOT NULL,
    exp_month        BIGINT NOT NULL,
    exp_year         BIGINT NOT NULL,
    registration_id  TEXT NOT NULL UNIQUE REFERENCES payments (id),
    created_at       BIGINT NOT NULL,
    deleted_at       BIGINT
);
CREATE INDEX card_tokens_customer ON card_tokens (mall_id, customer_id, created_at);

-- A payment made with a saved card, and who started it (customer | merchant).
CREATE TABLE card_token_payments (
    payment_id  TEXT PRIMARY KEY REFERENCES payments (id),
    token_id    TEXT NOT NULL REFERENCES card_tokens (id),
    initiator   TEXT NOT NULL
);
CREATE INDEX card_token_payments_token ON card_token_payments (token_id);
