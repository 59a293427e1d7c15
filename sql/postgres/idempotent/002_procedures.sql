-- The idempotent-request contract as PostgreSQL functions, for teams whose logic lives in the database.
-- Call them inside the transaction that does the work:
--   SELECT * FROM mw_begin_request(id, procedure, args_hash)  -> ('new', NULL): do the work, then
--                                                                 mw_complete_request(id, result)
--                                                              -> ('done' | 'aborted', result): return it, do nothing
--   mw_abort_request(id, message): record a business abort (the work rolled back to a savepoint first).
-- A duplicate running at the same time waits on the primary key until the first commits, then sees its outcome.
-- The same id with another procedure or other arguments raises unique_violation with a clear message.

CREATE OR REPLACE FUNCTION mw_begin_request(p_request_id TEXT, p_procedure TEXT, p_args_hash BIGINT)
RETURNS TABLE (status TEXT, result BYTEA) LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mw_idempotent_requests (request_id, procedure, args_hash, status)
    VALUES (p_request_id, p_procedure, p_args_hash, 'running')
    ON CONFLICT (request_id) DO NOTHING;
    IF FOUND THEN
        RETURN QUERY SELECT 'new'::TEXT, NULL::BYTEA;
        RETURN;
    END IF;
    RETURN QUERY SELECT r.status, r.result FROM mw_idempotent_requests r
        WHERE r.request_id = p_request_id AND r.procedure = p_procedure AND r.args_hash = p_args_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'request id % was already used for another procedure or other arguments; a new request needs a new id', p_request_id
            USING ERRCODE = 'unique_violation';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION mw_complete_request(p_request_id TEXT, p_result BYTEA)
RETURNS VOID LANGUAGE sql AS $$
    UPDATE mw_idempotent_requests SET status = 'done', result = p_result WHERE request_id = p_request_id AND status = 'running';
$$;

CREATE OR REPLACE FUNCTION mw_abort_request(p_request_id TEXT, p_message TEXT)
RETURNS VOID LANGUAGE sql AS $$
    UPDATE mw_idempotent_requests SET status = 'aborted', result = convert_to(p_message, 'UTF8')
    WHERE request_id = p_request_id AND status = 'running';
$$;
