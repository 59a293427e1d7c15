#!/usr/bin/env python3
# WAL frames (4 KiB pages) that one component checkpoint's 1000 dedup rows add, as the component's history grows
# (session 11). The dedup table as in sql/sqlite/001_initial.sql (WITHOUT ROWID, key (cid, request_id)); request ids in
# the local bench's shape (64 workers, each with its own counter). Each round gives every component one checkpoint
# (1000 rows in one transaction); after each commit the WAL's frames are read and the WAL emptied.
#
#   python3 bench/sqlite-dedup-growth.py /dev/shm/x.db COMPONENTS ROUNDS [bench|sorted|seq]
#
# bench: the rows in the order the runtime hands them over (as before session 11); sorted: in key order (session 11);
# seq: a table keyed (cid, seq) instead, for comparison (what an insertion-ordered key would cost; not a schema of ours).
import sqlite3, os, sys, random, time
path = sys.argv[1]; cids = int(sys.argv[2]); rounds = int(sys.argv[3]); order = sys.argv[4] if len(sys.argv) > 4 else "bench"
for s in ("", "-wal", "-shm"):
    if os.path.exists(path + s): os.remove(path + s)
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA wal_autocheckpoint=0"); db.execute("PRAGMA synchronous=OFF")
key = "PRIMARY KEY (cid, seq)" if order == "seq" else "PRIMARY KEY (cid, request_id)"
db.execute(f"CREATE TABLE dedup (cid INTEGER NOT NULL, request_id TEXT NOT NULL, seq INTEGER NOT NULL, args_hash INTEGER NOT NULL, reply BLOB NOT NULL, created_at INTEGER NOT NULL, {key}) WITHOUT ROWID")
rnd = random.Random(1); counters = [0] * 64; seqs = [0] * cids
reply = b"\xc3\x01\x02\x03\x04" + b"4242"  # a sealed 4-byte reply
for r in range(rounds):
    frames = []; insert_s = 0.0
    for c in range(cids):
        rows = []
        for i in range(1000):
            w = rnd.randrange(64); n = counters[w]; counters[w] += 1; seqs[c] += 1
            rows.append((c + 1, f"bench-3f2a9c1e-{w}-{n}", seqs[c], 12345, reply, 638000000000000000))
        if order == "sorted": rows.sort(key=lambda t: t[1].encode())
        t0 = time.perf_counter(); db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT OR REPLACE INTO dedup(cid, request_id, seq, args_hash, reply, created_at) VALUES (?,?,?,?,?,?)", rows)
        db.execute("COMMIT"); insert_s += time.perf_counter() - t0
        busy, log, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        frames.append(log)
    frames.sort()
    print(f"round {r+1}: frames per 1000-row checkpoint median {frames[len(frames)//2]} (min {frames[0]}, max {frames[-1]}), "
          f"{insert_s / cids * 1e3:.2f} ms per checkpoint's insert+commit", flush=True)
