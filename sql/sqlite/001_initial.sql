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

-- Every component ever claimed, numbered once: cid is assigned at the first claim and never changes or is
-- reused (rows are never deleted), so connections cache id -> cid for the life of the process. The other
-- tables refer to components by cid, which keeps their rows and keys small. owner and claimed_at change only
-- with a claim, never on the append path.
CREATE TABLE components (
    cid        INTEGER PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    owner      TEXT,
    claimed_at INTEGER NOT NULL  -- UTC ticks of the latest claim
);

-- The fence and head of each component, apart from the text columns on purpose: every appended group
-- updates its component's row, so a commit touching N random components dirties (and writes to the WAL and
-- fsyncs) about as many pages of this table as N rows span. At ~20 bytes a row, 1000 components fit in
-- ~5 pages; the same columns next to the id and owner text took ~15.
CREATE TABLE heads (
    cid            INTEGER PRIMARY KEY,  -- components.cid
    epoch          INTEGER NOT NULL,
    last_seq       INTEGER NOT NULL,
    last_pos       INTEGER NOT NULL,     -- pos of the record at last_seq, 0 when none is stored
    checkpoint_seq INTEGER NOT NULL
);

-- The log: append-only, keyed by a monotonic position (the rowid). There is deliberately no secondary
-- index: a (cid, seq) index dirties one extra B-tree page per record and caps appends far lower.
-- A component's records form a chain through prev_pos (the pos of its previous record, 0 for none),
-- walked backwards from heads.last_pos or from a checkpoint's pos.
CREATE TABLE log (
    pos          INTEGER PRIMARY KEY,
    cid          INTEGER NOT NULL,  -- components.cid
    seq          INTEGER NOT NULL,
    epoch        INTEGER NOT NULL,
    kind         INTEGER NOT NULL,
    prev_pos     INTEGER NOT NULL,
    committed_at INTEGER NOT NULL,  -- UTC ticks, one value per append call
    payload      BLOB    NOT NULL
);

-- Checkpoints. pos is the log position of the record at seq (0 when unknown), so a read that ends at or
-- below this seq can start its chain walk here instead of at the head.
CREATE TABLE checkpoints (
    cid        INTEGER NOT NULL,  -- components.cid
    seq        INTEGER NOT NULL,
    epoch      INTEGER NOT NULL,
    pos        INTEGER NOT NULL,
    state      BLOB    NOT NULL,
    state_hash TEXT    NOT NULL,
    created_at INTEGER NOT NULL,  -- UTC ticks
    PRIMARY KEY (cid, seq)
);

-- Request ids recorded with checkpoints, kept after the log before them is truncated.
CREATE TABLE dedup (
    cid        INTEGER NOT NULL,  -- components.cid
    request_id TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    args_hash  INTEGER NOT NULL,
    reply      BLOB    NOT NULL,
    created_at INTEGER NOT NULL,  -- UTC ticks
    PRIMARY KEY (cid, request_id)
) WITHOUT ROWID;
