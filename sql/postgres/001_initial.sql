-- Schema version 1 of the PostgreSQL log store.
-- The provider embeds this file and runs it at open, under a transaction-level advisory lock, when the
-- database is below version 1; it records the version in schema_version in the same transaction (DDL is
-- transactional in PostgreSQL, so a crash mid-upgrade leaves the previous version intact).
-- Never edit a released script: add 002_*.sql instead.
--
-- Ids are "C"-collated: compared byte for byte (exactly, like the other stores) and indexed without the
-- cost of a linguistic collation. Times are timestamptz taken from the server clock (now(), the start of
-- the writing transaction), so every record of one append call carries the same commit time whichever
-- machine wrote it.

-- One row per applied script. The provider refuses a database whose highest version is above the highest
-- script it ships, or whose rows are not exactly 1..N.
CREATE TABLE schema_version (
    version    integer     PRIMARY KEY,
    script     text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Ownership and head of each component. Every append locks the rows of the components it writes
-- (SELECT ... FOR UPDATE, in id order) and checks epoch and last_seq on them: that is the epoch fence.
CREATE TABLE components (
    id             text COLLATE "C" PRIMARY KEY,
    epoch          bigint      NOT NULL,
    owner          text,
    last_seq       bigint      NOT NULL,
    checkpoint_seq bigint      NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- The log, keyed by (component, seq). Unlike the SQLite store (which avoids a second B-tree by chaining
-- rows), PostgreSQL always writes a heap row, so the primary key index is the only extra cost, and it is
-- what range reads and truncation use directly; each component's next rows land at the right edge of
-- its own key range. Measured on this 2-core machine (bench append mode, fsync and synchronous_commit
-- on, machine shared): one 64-record commit took ~4.3 ms (p50), a 1-record commit ~1.1 ms, so one
-- writer at a time is bound by per-commit latency; throughput comes from several commits in flight.
CREATE TABLE log (
    component    text COLLATE "C" NOT NULL,
    seq          bigint      NOT NULL,
    epoch        bigint      NOT NULL,
    kind         smallint    NOT NULL,
    committed_at timestamptz NOT NULL,
    payload      bytea       NOT NULL,
    PRIMARY KEY (component, seq)
);

-- Checkpoints; the latest one of a component is the one with the highest seq.
CREATE TABLE checkpoints (
    component  text COLLATE "C" NOT NULL,
    seq        bigint      NOT NULL,
    epoch      bigint      NOT NULL,
    state      bytea       NOT NULL,
    state_hash text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (component, seq)
);

-- Request ids recorded with checkpoints, kept after the log before them is truncated.
CREATE TABLE dedup (
    component  text COLLATE "C" NOT NULL,
    request_id text COLLATE "C" NOT NULL,
    seq        bigint      NOT NULL,
    args_hash  bigint      NOT NULL,
    reply      bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (component, request_id)
);
