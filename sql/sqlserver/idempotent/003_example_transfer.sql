-- Example: making an existing stored procedure idempotent without changing it (see the PostgreSQL twin).
IF OBJECT_ID(N'dbo.example_accounts', N'U') IS NULL
    CREATE TABLE dbo.example_accounts (id NVARCHAR(100) NOT NULL PRIMARY KEY, balance BIGINT NOT NULL);
GO
CREATE OR ALTER PROCEDURE dbo.transfer_funds @from NVARCHAR(100), @to NVARCHAR(100), @amount BIGINT, @remaining BIGINT OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    UPDATE dbo.example_accounts SET @remaining = balance = balance - @amount WHERE id = @from;
    IF @remaining IS NULL OR @remaining < 0
        THROW 50002, N'insufficient funds', 1;
    UPDATE dbo.example_accounts SET balance = balance + @amount WHERE id = @to;
END
GO
CREATE OR ALTER PROCEDURE dbo.transfer_funds_idempotent
    @request_id NVARCHAR(400), @from NVARCHAR(100), @to NVARCHAR(100), @amount BIGINT,
    @status NVARCHAR(16) OUTPUT, @result VARBINARY(MAX) OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT OFF;
    DECLARE @hash BIGINT = CAST(HASHBYTES(N'SHA2_256', CONCAT(@from, N'|', @to, N'|', @amount)) AS BIGINT);
    DECLARE @remaining BIGINT;
    BEGIN TRANSACTION;
    EXEC dbo.mw_begin_request @request_id, N'transfer_funds', @hash, @status OUTPUT, @result OUTPUT;
    IF @status <> N'new'
    BEGIN
        COMMIT;
        RETURN;
    END
    SAVE TRANSACTION before_work;
    BEGIN TRY
        EXEC dbo.transfer_funds @from, @to, @amount, @remaining OUTPUT;
        SET @result = CAST(CAST(@remaining AS NVARCHAR(40)) AS VARBINARY(MAX));
        EXEC dbo.mw_complete_request @request_id, @result;
        SET @status = N'done';
    END TRY
    BEGIN CATCH
        ROLLBACK TRANSACTION before_work;
        DECLARE @message NVARCHAR(4000) = ERROR_MESSAGE();
        EXEC dbo.mw_abort_request @request_id, @message;
        SET @status = N'aborted';
        SET @result = CAST(@message AS VARBINARY(MAX));
    END CATCH
    COMMIT;
END
GO
