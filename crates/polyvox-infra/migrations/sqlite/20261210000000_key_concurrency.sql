-- Per-key cap on syntheses in progress at once (issue 22). NULL = the server's default
-- (--max-concurrent-per-key); 0 = unlimited.
ALTER TABLE api_keys ADD COLUMN concurrent_syntheses BIGINT CHECK (concurrent_syntheses >= 0);
