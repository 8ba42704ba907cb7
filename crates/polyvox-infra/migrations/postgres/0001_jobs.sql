-- Timestamps are Unix milliseconds (BIGINT) and JSON is TEXT so that PostgreSQL and SQLite share
-- one SQL text and one row decoder (sqlx `Any` driver).
CREATE TABLE jobs (
    id                 TEXT PRIMARY KEY,
    owner              TEXT,
    status             TEXT NOT NULL
                       CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    lane               TEXT NOT NULL CHECK (lane IN ('interactive', 'batch')),
    request            TEXT NOT NULL,
    cache_key          TEXT,
    idempotency_key    TEXT,
    attempts           BIGINT NOT NULL DEFAULT 0,
    max_attempts       BIGINT NOT NULL CHECK (max_attempts >= 1),
    last_error_code    TEXT,
    last_error_message TEXT,
    lease_owner        TEXT,
    lease_expires_at   BIGINT,
    chunks_done        BIGINT NOT NULL DEFAULT 0,
    chunks_total       BIGINT,
    audio_key          TEXT,
    audio_bytes        BIGINT,
    audio_seconds      DOUBLE PRECISION,
    webhook_url        TEXT,
    created_at         BIGINT NOT NULL,
    queued_at          BIGINT NOT NULL,
    started_at         BIGINT,
    finished_at        BIGINT,
    updated_at         BIGINT NOT NULL
);

-- NULL owners are one tenant (the keyless default), hence COALESCE: plain NULLs never collide.
CREATE UNIQUE INDEX jobs_idempotency ON jobs (COALESCE(owner, ''), idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- At most one in-flight job per identical request: this is what makes concurrent duplicates share.
CREATE UNIQUE INDEX jobs_inflight_cache_key ON jobs (COALESCE(owner, ''), cache_key)
    WHERE cache_key IS NOT NULL AND status IN ('queued', 'running');
CREATE INDEX jobs_running_lease ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_queued_at ON jobs (queued_at) WHERE status = 'queued';
