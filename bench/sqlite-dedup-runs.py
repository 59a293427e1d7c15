#!/usr/bin/env python3
# The dedup table before and after schema 5 (session 12): WAL frames per component checkpoint as the component's history
# grows, and the cost of a request-id look-up (hit and miss) at a given number of rows per component.
#
#   python3 bench/sqlite-dedup-runs.py frames DB COMPONENTS ROUNDS ROWS {old|runs|seqidx|gen12} {bench|guid}
#   python3 bench/sqlite-dedup-runs.py lookup DB ROWS_PER_COMPONENT {old|runs|seqidx|gen12} [ROWS_PER_CHECKPOINT]
#
# old:  key (cid, request_id) (sql/sqlite/001_initial.sql), a checkpoint's rows inserted in key order (session 11).
# runs: key (cid, gen, request_id) (sql/sqlite/005_dedup_runs.sql) with the writer's policy of SqliteWriter.Dedup.cs:
#       a checkpoint's rows go to the component's newest level-0 run while it stays at most OPEN_ROWS rows, else to a
#       new run; FANOUT consecutive runs of one level merge into one run of the next level (sorted rewrite), as long as
#       the merged run stays at most MAX_MERGE rows. gen = (seq of the run's newest checkpoint << 4) | level.
# seqidx: design (b), rows keyed (cid, seq) plus an index (cid, request_id) (for comparison; not a schema of ours).
# gen12: design (a) without merges, key (cid, seq >> 12, request_id), look-ups probing every gen (for comparison).
# bench ids: the local bench's shape (64 workers, each numbering its requests); guid ids: random.
# Look-up times are CPU (process_time) per statement, Python's own cost included (an empty statement's is printed).
# Frames are counted after each commit (PRAGMA wal_checkpoint, then the WAL is emptied), so a checkpoint that merges
# shows the merge's frames too.
import sqlite3, os, sys, random, time, uuid

OPEN_ROWS, FANOUT, MAX_MERGE, LEGACY = 256, 4, 65536, 15
REPLY = b"\xc3\x01\x02\x03\x04" + b"4242"
NOW = 638000000000000000


def open_db(path, schema):
    for s in ("", "-wal", "-shm"):
        if os.path.exists(path + s): os.remove(path + s)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA wal_autocheckpoint=0"); db.execute("PRAGMA synchronous=OFF")
    if schema == "old":
        db.execute("CREATE TABLE dedup (cid INTEGER NOT NULL, request_id TEXT NOT NULL, seq INTEGER NOT NULL, args_hash INTEGER NOT NULL, "
                   "reply BLOB NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (cid, request_id)) WITHOUT ROWID")
    elif schema == "seqidx":
        db.execute("CREATE TABLE dedup (cid INTEGER NOT NULL, request_id TEXT NOT NULL, seq INTEGER NOT NULL, args_hash INTEGER NOT NULL, "
                   "reply BLOB NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (cid, seq)) WITHOUT ROWID")
        db.execute("CREATE INDEX dedup_id ON dedup(cid, request_id)")
    else:
        db.execute("CREATE TABLE dedup (cid INTEGER NOT NULL, gen INTEGER NOT NULL, request_id TEXT NOT NULL, seq INTEGER NOT NULL, "
                   "args_hash INTEGER NOT NULL, reply BLOB NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (cid, gen, request_id)) WITHOUT ROWID")
    return db


def older_gen(db, cid, below):
    r = db.execute("SELECT max(gen) FROM dedup WHERE cid = ? AND gen < ?", (cid, below)).fetchone()[0]
    return r


def write_runs(db, cid, ckpt_seq, rows):
    """The writer's policy (SqliteWriter.Dedup.cs), rows = [(request_id, seq)] of one checkpoint."""
    newest = older_gen(db, cid, 1 << 62)
    gen = None
    if newest is not None and newest & 15 == 0:
        n = db.execute("SELECT count(*) FROM dedup WHERE cid = ? AND gen = ?", (cid, newest)).fetchone()[0]
        if n + len(rows) <= OPEN_ROWS: gen = newest
    if gen is None:
        gen = max(ckpt_seq << 4, (newest or 0) + 16 & ~15) if newest is not None else ckpt_seq << 4
        merge(db, cid, gen)
    rows = sorted(rows, key=lambda t: t[0].encode())
    db.executemany("INSERT OR REPLACE INTO dedup(cid, gen, request_id, seq, args_hash, reply, created_at) VALUES (?,?,?,?,?,?,?)",
                   [(cid, gen, r, s, 12345, REPLY, NOW) for r, s in rows])


def merge(db, cid, below):
    while True:
        gens, g = [], below
        while len(gens) < FANOUT:
            g = older_gen(db, cid, g)
            if g is None: return
            gens.append(g)
        level = gens[0] & 15
        if level >= LEGACY - 1 or any(x & 15 != level for x in gens): return
        lo, hi = gens[-1], gens[0]
        if level >= 1:
            n = db.execute("SELECT count(*) FROM dedup WHERE cid = ? AND gen BETWEEN ? AND ?", (cid, lo, hi)).fetchone()[0]
            if n > MAX_MERGE: return
        new = (hi & ~15) | (level + 1)
        db.execute("INSERT OR REPLACE INTO dedup(cid, gen, request_id, seq, args_hash, reply, created_at) "
                   "SELECT cid, ?, request_id, seq, args_hash, reply, created_at FROM dedup WHERE cid = ? AND gen BETWEEN ? AND ? "
                   "ORDER BY request_id, gen", (new, cid, lo, hi))
        db.execute("DELETE FROM dedup WHERE cid = ? AND gen BETWEEN ? AND ?", (cid, lo, hi))


FIND_RUNS = ("WITH RECURSIVE runs(gen) AS (SELECT max(gen) FROM dedup WHERE cid = ?1 "
             "UNION ALL SELECT (SELECT max(gen) FROM dedup WHERE cid = ?1 AND gen < runs.gen) FROM runs WHERE runs.gen IS NOT NULL) "
             "SELECT d.seq, d.args_hash, d.reply FROM runs CROSS JOIN dedup d ON d.cid = ?1 AND d.gen = runs.gen AND d.request_id = ?2 "
             "LIMIT 1")
FIND_OLD = "SELECT seq, args_hash, reply FROM dedup WHERE cid = ?1 AND request_id = ?2"
# Without statistics SQLite 3.40 picks the primary key (cid = ?) over the index here and scans the component's rows.
FIND_SEQIDX = "SELECT seq, args_hash, reply FROM dedup INDEXED BY dedup_id WHERE cid = ?1 AND request_id = ?2"
FIND = {"old": FIND_OLD, "seqidx": FIND_SEQIDX, "runs": FIND_RUNS, "gen12": FIND_RUNS}


def write(db, schema, cid, ckpt_seq, rows):
    """rows = [(request_id, seq)] of one checkpoint, written as the schema's writer would."""
    if schema == "runs":
        write_runs(db, cid, ckpt_seq, rows); return
    rows = sorted(rows, key=lambda t: t[0].encode())
    if schema == "gen12":
        db.executemany("INSERT OR REPLACE INTO dedup(cid, gen, request_id, seq, args_hash, reply, created_at) VALUES (?,?,?,?,?,?,?)",
                       [(cid, s >> 12, r, s, 12345, REPLY, NOW) for r, s in rows])
    else:
        if schema == "seqidx": rows.sort(key=lambda t: t[1])
        db.executemany("INSERT OR REPLACE INTO dedup(cid, request_id, seq, args_hash, reply, created_at) VALUES (?,?,?,?,?,?)",
                       [(cid, r, s, 12345, REPLY, NOW) for r, s in rows])


def frames(path, cids, rounds, per, schema, ids):
    db = open_db(path, schema)
    rnd = random.Random(1); counters = [0] * 64; seqs = [0] * cids
    for r in range(rounds):
        fr = []; t = 0.0
        for c in range(cids):
            rows = []
            for i in range(per):
                seqs[c] += 1
                if ids == "guid": rid = str(uuid.UUID(int=rnd.getrandbits(128)))
                else:
                    w = rnd.randrange(64); rid = f"bench-3f2a9c1e-{w}-{counters[w]}"; counters[w] += 1
                rows.append((rid, seqs[c]))
            t0 = time.perf_counter(); db.execute("BEGIN IMMEDIATE")
            write(db, schema, c + 1, seqs[c], rows)
            db.execute("COMMIT"); t += time.perf_counter() - t0
            busy, log, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            fr.append(log)
        s = sorted(fr)
        runs = db.execute("SELECT count(DISTINCT gen) FROM dedup WHERE cid = 1").fetchone()[0] if schema in ("runs", "gen12") else 1
        print(f"{schema} {ids} rows/ckpt {per} round {r+1} (rows/component {seqs[0]}): frames per checkpoint median {s[len(s)//2]} "
              f"mean {sum(s)/len(s):.1f} max {s[-1]}; {t / cids * 1e3:.2f} ms per checkpoint; runs of component 1: {runs}", flush=True)


def lookup(path, total, schema, per):
    db = open_db(path, schema)
    rnd = random.Random(2); seq = 0; ids = []
    for k in range(total // per):
        rows = []
        for i in range(per):
            seq += 1; rid = str(uuid.UUID(int=rnd.getrandbits(128))); rows.append((rid, seq)); ids.append(rid)
        db.execute("BEGIN IMMEDIATE")
        write(db, schema, 1, seq, rows)
        db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    runs = db.execute("SELECT count(DISTINCT gen) FROM dedup WHERE cid = 1").fetchone()[0] if schema in ("runs", "gen12") else 1
    q = FIND[schema]
    hits = rnd.sample(ids, 2000); misses = [str(uuid.UUID(int=rnd.getrandbits(128))) for _ in range(2000)]
    out = []
    for name, keys in (("hit", hits), ("miss", misses)):
        for k in keys[:200]: db.execute(q, (1, k)).fetchone()  # warm
        t0 = time.process_time(); found = 0
        for k in keys: found += db.execute(q, (1, k)).fetchone() is not None
        out.append(f"{name} {(time.process_time() - t0) / len(keys) * 1e6:.1f} us (found {found}/{len(keys)})")
    t0 = time.process_time()
    for k in misses: db.execute("SELECT 1 WHERE 0").fetchone()
    empty = (time.process_time() - t0) / len(misses) * 1e6
    print(f"{schema} rows {total} per-checkpoint {per} runs {runs}: " + ", ".join(out) + f"; an empty statement costs {empty:.1f} us here", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "frames":
        frames(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7])
    else:
        lookup(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 1000)
