-- The idempotent-request table of a SQL Server back end (the executor runs this file; it is idempotent).
-- One row per request id, written in the same transaction as the work it records:
--   running  the work's transaction holds the row; a concurrent duplicate waits on the key lock
--   done     result = the work's JSON result
--   aborted  result = '<exception type>' + CHAR(10) + '<message>' of the recorded abort
IF OBJECT_ID(N'dbo.mw_idempotent_requests', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.mw_idempotent_requests (
        request_id     NVARCHAR(400)  NOT NULL PRIMARY KEY,
        procedure_name NVARCHAR(400)  NOT NULL,
        args_hash      BIGINT         NOT NULL,
        status         NVARCHAR(16)   NOT NULL CHECK (status IN (N'running', N'done', N'aborted')),
        result         VARBINARY(MAX) NULL,
        created_at     DATETIME2      NOT NULL DEFAULT SYSUTCDATETIME()
    );
    CREATE INDEX mw_idempotent_requests_created ON dbo.mw_idempotent_requests (created_at);
END
