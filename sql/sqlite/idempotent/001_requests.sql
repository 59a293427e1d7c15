-- The idempotent-request table of a SQLite back end (the executor runs this file; it is idempotent).
-- One row per request id, written in the same transaction as the work it records:
--   running  the work's transaction holds the row (never visible after a commit)
--   done     result = the work's JSON result
--   aborted  result = '<exception type>\n<message>' of the recorded abort
CREATE TABLE IF NOT EXISTS mw_idempotent_requests (
    request_id TEXT PRIMARY KEY,
    procedure  TEXT NOT NULL,
    args_hash  INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('running', 'done', 'aborted')),
    result     BLOB,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
