-- The idempotent-request table of a PostgreSQL back end (the executor runs this file; it is idempotent).
-- One row per request id, written in the same transaction as the work it records:
--   running  the work's transaction holds the row; a concurrent duplicate waits on the primary key
--   done     result = the work's JSON result
--   aborted  result = '<exception type>\n<message>' of the recorded abort
CREATE TABLE IF NOT EXISTS mw_idempotent_requests (
    request_id TEXT PRIMARY KEY,
    procedure  TEXT NOT NULL,
    args_hash  BIGINT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('running', 'done', 'aborted')),
    result     BYTEA,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS mw_idempotent_requests_created ON mw_idempotent_requests (created_at);
