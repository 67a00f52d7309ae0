-- The PIN's key material (SPEC §8.3), shared by every instance on the database.
-- Portable SQL (SQLite and PostgreSQL).

-- The P-256 key pairs buyers' browsers encrypt PINs to (JWE, ECDH-ES + A256GCM). One is
-- current (served by GET /api/v2/pin/public-key); a rotated-out one still decrypts until
-- `decrypts_until`, so a page that fetched the old key finishes its PIN entry.
CREATE TABLE pin_keys (
    kid               TEXT PRIMARY KEY,
    -- The public JWK as served (kty, crv, x, y, use, alg, kid).
    public_jwk        TEXT NOT NULL,
    -- The private key (PKCS#8 DER, base64) sealed under ENCRYPTION_KEY (AES-GCM, bound to
    -- `pin_key:<kid>`); re-encrypted by `paybridge rotate-keys`.
    private_key_enc   TEXT NOT NULL,
    -- 1 for the current key, NULL for the others: UNIQUE lets any number of NULLs but one 1,
    -- so two instances creating or rotating at once cannot both make a current key.
    is_current        BIGINT UNIQUE CHECK (is_current = 1),
    created_at        BIGINT NOT NULL,
    -- Set when it stops being current.
    retired_at        BIGINT,
    decrypts_until    BIGINT
);

-- Server-side secrets made once and kept sealed under ENCRYPTION_KEY: `pin_pepper`, the
-- argon2id secret of every PIN hash (it never changes: a PIN cannot be re-hashed without
-- the PIN, so rotate-keys re-encrypts the pepper, never replaces it).
CREATE TABLE server_secrets (
    name         TEXT PRIMARY KEY,
    secret_enc   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE INDEX pin_verifications_expiry ON pin_verifications (expires_at);
