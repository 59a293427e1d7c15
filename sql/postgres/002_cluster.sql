-- Schema version 2 of the PostgreSQL log store: the cluster tables (IClusterStore).
-- Never edit a released script: add 003_*.sql instead.
--
-- Times are the server's clock: clock_timestamp() (the real time of the statement, not now(), which is the
-- start of the transaction), so a heartbeat's age is measured by one clock whichever silo wrote it.

-- Membership. status: 1 active, 2 dead (missed its window; marked by the next listing or claim), 3 left.
-- A silo is live while status = 1 and clock_timestamp() - heartbeat < dead_after_ms.
CREATE TABLE silos (
    silo_id       text COLLATE "C" PRIMARY KEY,
    address       text        NOT NULL,  -- protocol endpoint, host:port
    http_address  text,                  -- health/metrics endpoint, or NULL
    status        smallint    NOT NULL,
    heartbeat     timestamptz NOT NULL,
    dead_after_ms bigint      NOT NULL,  -- the window the silo joined with
    activations   integer     NOT NULL,  -- as reported by its last heartbeat
    joined_at     timestamptz NOT NULL
);

-- Ownership by silo is components.owner (001). A silo that leaves releases everything it owns with one
-- UPDATE ... WHERE owner = $1. Appends never change owner, so their updates of the row stay HOT-eligible and
-- never touch this index. (Equality under the database's deterministic collation is exact already.)
CREATE INDEX components_owner ON components(owner);

-- Virtual sessions. reserved is the highest request number handed out so far: every open adds its
-- reservation to it in one statement (INSERT ... ON CONFLICT DO UPDATE, which locks the row), so ranges never
-- overlap. status: 1 open, 2 closed (never reopened).
CREATE TABLE sessions (
    session_id     text COLLATE "C" PRIMARY KEY,
    status         smallint    NOT NULL,
    reserved       bigint      NOT NULL,
    opens          integer     NOT NULL,
    created_at     timestamptz NOT NULL,
    last_opened_at timestamptz NOT NULL
);

CREATE INDEX sessions_last_opened ON sessions(last_opened_at DESC);

-- Key/value items of a session (removed by setting a null value).
CREATE TABLE session_items (
    session_id text COLLATE "C" NOT NULL,  -- sessions.session_id
    item_key   text COLLATE "C" NOT NULL,
    item_value text NOT NULL,
    PRIMARY KEY (session_id, item_key)
);
