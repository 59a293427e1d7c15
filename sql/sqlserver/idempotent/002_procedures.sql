-- The idempotent-request contract as SQL Server procedures, for teams whose logic lives in the database.
-- Call them inside the transaction that does the work:
--   EXEC mw_begin_request @id, @procedure, @args_hash, @status OUTPUT, @result OUTPUT
--     @status = N'new': do the work, then EXEC mw_complete_request @id, @result
--     @status = N'done' | N'aborted': return @result, do nothing
--   EXEC mw_abort_request @id, @message: record a business abort (roll the work back to a savepoint first).
-- UPDLOCK + HOLDLOCK make a concurrent duplicate wait until the first commits, then see its outcome.
-- No SQL Server engine runs on the machine this was written on: these scripts are checked only when the
-- SQL Server tests run with MIDDLEWARE_TEST_SQLSERVER set.
CREATE OR ALTER PROCEDURE dbo.mw_begin_request
    @request_id NVARCHAR(400), @procedure NVARCHAR(400), @args_hash BIGINT,
    @status NVARCHAR(16) OUTPUT, @result VARBINARY(MAX) OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @recorded_procedure NVARCHAR(400), @recorded_hash BIGINT;
    SELECT @status = status, @result = result, @recorded_procedure = procedure_name, @recorded_hash = args_hash
    FROM dbo.mw_idempotent_requests WITH (UPDLOCK, HOLDLOCK) WHERE request_id = @request_id;
    IF @status IS NULL
    BEGIN
        INSERT INTO dbo.mw_idempotent_requests (request_id, procedure_name, args_hash, status)
        VALUES (@request_id, @procedure, @args_hash, N'running');
        SET @status = N'new';
        SET @result = NULL;
        RETURN;
    END
    IF @recorded_procedure <> @procedure OR @recorded_hash <> @args_hash
        THROW 50001, N'The request id was already used for another procedure or other arguments; a new request needs a new id.', 1;
END
GO
CREATE OR ALTER PROCEDURE dbo.mw_complete_request @request_id NVARCHAR(400), @result VARBINARY(MAX)
AS
    UPDATE dbo.mw_idempotent_requests SET status = N'done', result = @result WHERE request_id = @request_id AND status = N'running';
GO
CREATE OR ALTER PROCEDURE dbo.mw_abort_request @request_id NVARCHAR(400), @message NVARCHAR(4000)
AS
    UPDATE dbo.mw_idempotent_requests SET status = N'aborted', result = CAST(@message AS VARBINARY(MAX))
    WHERE request_id = @request_id AND status = N'running';
GO
