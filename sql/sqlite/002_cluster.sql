-- Schema version 2 of the SQLite log store: the cluster tables (IClusterStore). Several silo processes open
-- the same file; every cluster operation runs in one BEGIN IMMEDIATE transaction on the writer connection,
-- so the conditions below are checked and applied under SQLite's write lock, across processes.
--
-- Times here are the store's clock, not the callers': unix milliseconds computed by SQLite itself,
-- CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER), read once per operation.
-- Never edit a released script: add 003_*.sql instead.

-- Membership. status: 1 active, 2 dead (missed its window; marked by the next listing or claim), 3 left.
-- A silo is live while status = 1 and now - heartbeat < dead_after_ms.
CREATE TABLE silos (
    silo_id       TEXT    NOT NULL PRIMARY KEY,
    address       TEXT    NOT NULL,      -- protocol endpoint, host:port
    http_address  TEXT,                  -- health/metrics endpoint, or NULL
    status        INTEGER NOT NULL,
    heartbeat     INTEGER NOT NULL,      -- unix ms, store clock
    dead_after_ms INTEGER NOT NULL,      -- the window the silo joined with
    activations   INTEGER NOT NULL,      -- as reported by its last heartbeat
    joined_at     INTEGER NOT NULL       -- unix ms, store clock, of the latest join
) WITHOUT ROWID;

-- Ownership by silo is components.owner (001). A silo that leaves releases everything it owns with one
-- UPDATE ... WHERE owner = ?; owner changes only on claims and hand-overs, never on the append path, so the
-- index costs appends nothing.
CREATE INDEX components_owner ON components(owner);

-- Virtual sessions. reserved is the highest request number handed out so far: every open adds its
-- reservation to it in the same transaction, so ranges never overlap. status: 1 open, 2 closed (never reopened).
CREATE TABLE sessions (
    session_id     TEXT    NOT NULL PRIMARY KEY,
    status         INTEGER NOT NULL,
    reserved       INTEGER NOT NULL,
    opens          INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,     -- unix ms, store clock
    last_opened_at INTEGER NOT NULL      -- unix ms, store clock
) WITHOUT ROWID;

CREATE INDEX sessions_last_opened ON sessions(last_opened_at);

-- Key/value items of a session (removed by setting a null value).
CREATE TABLE session_items (
    session_id TEXT NOT NULL,            -- sessions.session_id
    item_key   TEXT NOT NULL,
    item_value TEXT NOT NULL,
    PRIMARY KEY (session_id, item_key)
) WITHOUT ROWID;
