-- Retention of finished audio. `expires_at` is when the audio stops being served (absolute Unix
-- milliseconds, NULL = kept forever); `expired_at` is when the sweeper deleted the object. A
-- succeeded row's lease columns belong to the sweeper while it deletes (see db/queries.rs).
ALTER TABLE jobs ADD COLUMN expires_at INTEGER;
ALTER TABLE jobs ADD COLUMN expired_at INTEGER;

-- The sweeper's scan: only succeeded rows with audio still to delete.
CREATE INDEX jobs_expiring ON jobs (expires_at)
    WHERE status = 'succeeded' AND expires_at IS NOT NULL AND expired_at IS NULL;
-- The queue-length gauge counts queued rows per lane.
CREATE INDEX jobs_queued_lane ON jobs (lane) WHERE status = 'queued';
