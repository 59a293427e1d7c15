-- Schema version 1 of the SQLite log store.
-- The provider embeds this file and runs it at open when the database is below version 1; it then records
-- the version in schema_version in the same transaction. Never edit a released script: add 002_*.sql instead.

-- One row per applied script. The provider refuses a database whose highest version is above the highest
-- script it ships, or whose rows are not exactly 1..N.
CREATE TABLE schema_version (
    version    INTEGER PRIMARY KEY,
    script     TEXT    NOT NULL,
    applied_at INTEGER NOT NULL  -- UTC ticks
);

-- The log: append-only, keyed by a monotonic position (the rowid). There is deliberately no secondary
-- index: a (component, seq) index dirties one extra B-tree page per record and caps appends far lower.
-- A component's records form a chain through prev_pos (the pos of its previous record, 0 for none),
-- walked backwards from components.last_pos or from a checkpoint's pos.
CREATE TABLE log (
    pos          INTEGER PRIMARY KEY,
    component    TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    epoch        INTEGER NOT NULL,
    kind         INTEGER NOT NULL,
    prev_pos     INTEGER NOT NULL,
    committed_at INTEGER NOT NULL,  -- UTC ticks, one value per append call
    payload      BLOB    NOT NULL
);

-- Ownership and head of each component. The append fence is a single conditional UPDATE on this row.
CREATE TABLE components (
    id             TEXT PRIMARY KEY,
    epoch          INTEGER NOT NULL,
    owner          TEXT,
    last_seq       INTEGER NOT NULL,
    last_pos       INTEGER NOT NULL,  -- pos of the record at last_seq, 0 when none is stored
    checkpoint_seq INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL   -- UTC ticks
);

-- Checkpoints. pos is the log position of the record at seq (0 when unknown), so a read that ends at or
-- below this seq can start its chain walk here instead of at the head.
CREATE TABLE checkpoints (
    component  TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    epoch      INTEGER NOT NULL,
    pos        INTEGER NOT NULL,
    state      BLOB    NOT NULL,
    state_hash TEXT    NOT NULL,
    created_at INTEGER NOT NULL,  -- UTC ticks
    PRIMARY KEY (component, seq)
);

-- Request ids recorded with checkpoints, kept after the log before them is truncated.
CREATE TABLE dedup (
    component  TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    args_hash  INTEGER NOT NULL,
    reply      BLOB    NOT NULL,
    created_at INTEGER NOT NULL,  -- UTC ticks
    PRIMARY KEY (component, request_id)
) WITHOUT ROWID;
