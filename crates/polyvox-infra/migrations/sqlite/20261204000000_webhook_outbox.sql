-- Webhook outbox; see the PostgreSQL migration of the same name for the design. SQLite has no
-- trigger functions, so the insert and the update case are two triggers with one body.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    job_id           TEXT NOT NULL,
    event            TEXT NOT NULL,
    url              TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id);

CREATE TRIGGER jobs_webhook_outbox_insert AFTER INSERT ON jobs
    WHEN NEW.webhook_url IS NOT NULL AND NEW.status IN ('succeeded', 'failed', 'cancelled')
BEGIN
    INSERT OR IGNORE INTO webhook_deliveries
        (id, job_id, event, url, next_attempt_at, created_at, updated_at)
    VALUES ('msg_' || NEW.id || '_' || NEW.status, NEW.id, 'job.' || NEW.status,
            NEW.webhook_url, NEW.updated_at, NEW.updated_at, NEW.updated_at);
END;

CREATE TRIGGER jobs_webhook_outbox_update AFTER UPDATE OF status ON jobs
    WHEN NEW.webhook_url IS NOT NULL AND NEW.status IN ('succeeded', 'failed', 'cancelled')
         AND OLD.status <> NEW.status
BEGIN
    INSERT OR IGNORE INTO webhook_deliveries
        (id, job_id, event, url, next_attempt_at, created_at, updated_at)
    VALUES ('msg_' || NEW.id || '_' || NEW.status, NEW.id, 'job.' || NEW.status,
            NEW.webhook_url, NEW.updated_at, NEW.updated_at, NEW.updated_at);
END;

ALTER TABLE jobs ADD COLUMN request_fingerprint TEXT;
