-- Schema version 4 of the PostgreSQL log store: the hash of each session's token. A session's token is issued to the
-- client that creates it (32 random bytes); a silo holding keys resumes the session, and serves its request ids, only
-- for a client that proves the token. The store keeps the SHA-256 of the token (lowercase hex, 64 characters), never
-- the token. Never edit a released script: add 005_*.sql instead.
--
-- token_hash: set when the session is created, never changed. NULL for sessions created before this version: a silo
-- holding keys refuses to resume those (open a new session); a silo without keys resumes them as before.
ALTER TABLE sessions ADD COLUMN token_hash text NULL;
