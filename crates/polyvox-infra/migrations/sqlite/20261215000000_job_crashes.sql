-- Crash counting; see the PostgreSQL migration of the same name. The dead-letter is an UPDATE
-- of `status`, which fires jobs_webhook_outbox_update like any other ending.
ALTER TABLE jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN max_crashes INTEGER NOT NULL DEFAULT 2 CHECK (max_crashes >= 1);
