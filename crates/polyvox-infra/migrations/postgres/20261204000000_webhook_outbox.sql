-- Webhook outbox. A delivery row is written by a trigger in the same transaction as the job's
-- move to a terminal state, whichever statement makes it (worker success or failure, the lease
-- reaper's dead-letter, a cancel, a job born succeeded from the cache), so no code path can
-- finish a job and forget its webhook, and no crash can fall between the two. Whatever process
-- runs maintenance sends due rows (see polyvox-worker's outbox).
--
-- `id` is the Standard Webhooks `webhook-id`: one per job and event, the same on every retry,
-- so receivers can deduplicate.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    job_id           TEXT NOT NULL,
    event            TEXT NOT NULL,
    url              TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    last_status      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id);

CREATE FUNCTION jobs_webhook_outbox() RETURNS trigger AS $$
BEGIN
    IF NEW.webhook_url IS NOT NULL
       AND NEW.status IN ('succeeded', 'failed', 'cancelled')
       AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
        INSERT INTO webhook_deliveries
            (id, job_id, event, url, next_attempt_at, created_at, updated_at)
        VALUES ('msg_' || NEW.id || '_' || NEW.status, NEW.id, 'job.' || NEW.status,
                NEW.webhook_url, NEW.updated_at, NEW.updated_at, NEW.updated_at)
        ON CONFLICT (id) DO NOTHING;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER jobs_webhook_outbox AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_webhook_outbox();

-- Idempotency compares request bodies: the fingerprint of what the key was first used with.
ALTER TABLE jobs ADD COLUMN request_fingerprint TEXT;
