-- Crash counting (issue 15). `crashes` counts attempts that ended with their worker gone: the
-- lease expired and the reaper or another worker's claim took the job back. A worker that
-- reports a failure or hands a job back on shutdown does not add to it. At `max_crashes` the
-- job is dead-lettered as `failed` (`worker_crashed`) instead of taking down another worker.
-- The limit is fixed when the job is submitted, like `max_attempts`; rows from before this
-- migration get the default of `--job-max-crashes`.
--
-- The dead-letter is an UPDATE of `status`, so the webhook outbox trigger
-- (20261204000000_webhook_outbox) writes its delivery row in the same statement.
ALTER TABLE jobs ADD COLUMN crashes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN max_crashes BIGINT NOT NULL DEFAULT 2 CHECK (max_crashes >= 1);
