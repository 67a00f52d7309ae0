-- The merchant admin: sessions, the app's Cafe24 OAuth tokens per mall, and what we
-- registered at Cafe24 for each shop.

-- Sessions live in the database so any instance serves any request. The cookie carries
-- the session id; only its SHA-256 is stored.
CREATE TABLE admin_sessions (
    id_hash       TEXT PRIMARY KEY,
    mall_id       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    lang          TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    -- The OAuth `state` this session is waiting for; cleared when used.
    oauth_state   TEXT,
    -- 1 once the OAuth code exchange succeeded for mall_id.
    authenticated BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);

-- The app's OAuth tokens for a mall, sealed (AES-256-GCM).
CREATE TABLE oauth_tokens (
    mall_id                   TEXT PRIMARY KEY REFERENCES malls (mall_id),
    access_token_enc          TEXT NOT NULL,
    refresh_token_enc         TEXT NOT NULL,
    expires_at                BIGINT NOT NULL,
    refresh_token_expires_at  BIGINT,
    scopes                    TEXT,
    -- One instance refreshes at a time: it holds this lease while it does.
    refresh_lease_until       BIGINT,
    updated_at                BIGINT NOT NULL
);

ALTER TABLE shops ADD COLUMN primary_domain TEXT;
ALTER TABLE shops ADD COLUMN scripttag_no TEXT;
ALTER TABLE shops ADD COLUMN scripttag_integrity TEXT;
ALTER TABLE shops ADD COLUMN pg_registered BIGINT NOT NULL DEFAULT 0;

-- The demo mall's simulated Cafe24 (SPEC §6): authorization codes, issued tokens, and
-- the payment gateways and scripttags apps registered. Empty unless SANDBOX is on.
CREATE TABLE demo_cafe24_grants (
    code          TEXT PRIMARY KEY,
    mall_id       TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    used          BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);
CREATE TABLE demo_cafe24_tokens (
    token       TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    mall_id     TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked     BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE demo_cafe24_registrations (
    id          TEXT PRIMARY KEY,
    mall_id     TEXT NOT NULL,
    shop_no     BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE TABLE demo_cafe24_faults (
    operation  TEXT PRIMARY KEY,
    fault      TEXT NOT NULL
);

-- One enable/disable of a shop at a time, across instances.
ALTER TABLE shops ADD COLUMN toggle_lease_until BIGINT;
