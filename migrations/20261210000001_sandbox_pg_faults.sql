-- Sandbox PG fault switch for tests (SPEC §8.1's "5xx or a lost PG answer"): the next
-- `remaining` API calls whose path starts with `target` answer 503, without acting
-- (mode before) or after acting, their answer lost (mode after).
CREATE TABLE sandbox_pg_faults (
    target     TEXT PRIMARY KEY,
    remaining  BIGINT NOT NULL,
    mode       TEXT NOT NULL
);
