-- API keys and usage metering (issue: tenancy). Same conventions as 0001: Unix-millisecond
-- BIGINT timestamps and types both engines share, so one SQL text serves PostgreSQL and SQLite.

-- The secret itself is never stored: only its SHA-256. Keys are looked up by their public id (part
-- of the token), then the hash is compared in constant time in the application.
CREATE TABLE api_keys (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    secret_sha256       TEXT NOT NULL,
    -- NULL = the server's default limit; 0 = unlimited.
    requests_per_minute BIGINT CHECK (requests_per_minute >= 0),
    chars_per_minute    BIGINT CHECK (chars_per_minute >= 0),
    -- NULL = no monthly quota.
    monthly_chars       BIGINT CHECK (monthly_chars >= 0),
    created_at          BIGINT NOT NULL,
    revoked_at          BIGINT
);

-- One row per key and UTC day; a month is the sum of its days. Upserted with ON CONFLICT so
-- concurrent API instances and workers add up instead of overwriting each other.
CREATE TABLE usage_daily (
    key_id        TEXT NOT NULL,
    day           TEXT NOT NULL,
    requests      BIGINT NOT NULL DEFAULT 0,
    characters    BIGINT NOT NULL DEFAULT 0,
    audio_seconds REAL NOT NULL DEFAULT 0,
    cache_hits    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
);

-- A key's jobs, for isolation checks and listing.
CREATE INDEX jobs_owner ON jobs (owner, created_at) WHERE owner IS NOT NULL;
