-- Example: making an existing stored procedure idempotent without changing it.
-- transfer_funds is the "existing" procedure: it moves money and raises an exception on overdraft.
-- transfer_funds_idempotent wraps it: the first call for a request id runs it and records the outcome in the
-- same transaction; every repeat returns that outcome; an overdraft is recorded as an abort (the transfer's
-- own changes are rolled back to the EXCEPTION block's savepoint) and returned again on every repeat.

CREATE TABLE IF NOT EXISTS example_accounts (id TEXT PRIMARY KEY, balance BIGINT NOT NULL);

CREATE OR REPLACE FUNCTION transfer_funds(p_from TEXT, p_to TEXT, p_amount BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE remaining BIGINT;
BEGIN
    UPDATE example_accounts SET balance = balance - p_amount WHERE id = p_from RETURNING balance INTO remaining;
    IF remaining IS NULL OR remaining < 0 THEN
        RAISE EXCEPTION 'insufficient funds in %', p_from;
    END IF;
    UPDATE example_accounts SET balance = balance + p_amount WHERE id = p_to;
    RETURN remaining;
END $$;

CREATE OR REPLACE FUNCTION transfer_funds_idempotent(p_request_id TEXT, p_from TEXT, p_to TEXT, p_amount BIGINT)
RETURNS TABLE (status TEXT, result BYTEA) LANGUAGE plpgsql AS $$
DECLARE
    begun RECORD;
    remaining BIGINT;
BEGIN
    SELECT * INTO begun FROM mw_begin_request(p_request_id, 'transfer_funds',
        hashtextextended(p_from || '|' || p_to || '|' || p_amount::TEXT, 0));
    IF begun.status <> 'new' THEN
        RETURN QUERY SELECT begun.status, begun.result;
        RETURN;
    END IF;
    BEGIN
        remaining := transfer_funds(p_from, p_to, p_amount);
    EXCEPTION WHEN raise_exception THEN
        PERFORM mw_abort_request(p_request_id, SQLERRM);
        RETURN QUERY SELECT 'aborted'::TEXT, convert_to(SQLERRM, 'UTF8');
        RETURN;
    END;
    PERFORM mw_complete_request(p_request_id, convert_to(remaining::TEXT, 'UTF8'));
    RETURN QUERY SELECT 'done'::TEXT, convert_to(remaining::TEXT, 'UTF8');
END $$;
