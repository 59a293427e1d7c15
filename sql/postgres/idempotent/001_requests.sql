-- The idempotent-request table of a PostgreSQL back end (the executor runs this file; it is idempotent).
-- One row per request id, written in the same transaction as the work it records:
--   running  the work's transaction holds the row; a concurrent duplicate waits on the primary key
--   done     result = the work's JSON result
--   aborted  result = '<exception type>\n<message>' of the recorded abort
-- CREATE ... IF NOT EXISTS is not safe against itself: two sessions creating the table at once (several
-- executors or processes on a new database) make one fail on pg_type's unique index. One DO block is one
-- transaction (here and in psql), so a transaction-level advisory lock ("mwidempo" in ASCII) serializes the
-- creators and the later ones find the table and index already there.
DO $$
BEGIN
    PERFORM pg_advisory_xact_lock(7887889152282030191);
    CREATE TABLE IF NOT EXISTS mw_idempotent_requests (
        request_id TEXT PRIMARY KEY,
        procedure  TEXT NOT NULL,
        args_hash  BIGINT NOT NULL,
        status     TEXT NOT NULL CHECK (status IN ('running', 'done', 'aborted')),
        result     BYTEA,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX IF NOT EXISTS mw_idempotent_requests_created ON mw_idempotent_requests (created_at);
END $$;
