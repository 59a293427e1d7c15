#!/usr/bin/env python3
"""Each request over 100 ms of a rebalance join, put down to one cause (bench/README.md, rebalance; session 15).

  bench/slow-causes.py RUN_DIR [RUN_DIR ...]      (each with slow.txt and trace/ from TRACE=1 bench/run-rebalance-ab.sh)

Reads the benchmark's slow trace (requests over 100 ms, the client's own stalls) and the silos' move trace (handovers,
routed requests over 20 ms, live requests over 50 ms, warm-ups, each process's stalls: its probe thread woke late, with
the GC pause of that interval; SQLite write-lock waits over 20 ms; silo-starting / silo-live). Every slow request gets
the first class that fits, moved accounts and the others apart, and whether it began before the join's first handover:

  move path:  waited for its handover at the old owner (a `pending:` step)
              activated on its path at the new owner (`local-cold`: it came before or during `$move.warm`)
              overlapped its handover or the warm-up (no wait traced)
              (each "+ a process stalled" / "+ a lock wait" when one of 50 ms or more overlapped it too)
  machine:    a process stalled >= 50 ms during it (no CPU for it, or a GC pause: gc= says which), silo or client
              waited on SQLite's file lock >= 50 ms in some silo (another process's transaction)
              a slow turn of a live activation (>= 50 ms at a silo, no stall or lock wait traced over the thresholds)
              nothing traced over the thresholds
"""
import collections, glob, os, re, statistics, sys


def load(run):
    slow, client_stalls = [], []
    freq, join = 1e9, 0
    for line in open(os.path.join(run, "slow.txt")):
        p = line.split()
        if p[0] == "join":
            join, freq = int(p[1]), float(p[2])
        elif p[0] == "slow":
            slow.append((int(p[1]), int(p[2]), float(p[3]), p[4], p[5] == "True"))
        elif p[0] == "stall":
            client_stalls.append((int(p[1]), float(p[2]), float(p[3].split("=")[1])))
    events = collections.defaultdict(list)
    stalls, locks, marks = [], [], []
    for f in glob.glob(os.path.join(run, "trace", "*-trace-*.txt")):
        for line in open(f, encoding="utf-8", errors="replace"):
            p = line.rstrip("\n").split(" ", 4)
            if len(p) < 5:
                continue
            t, pid, what, comp, detail = int(p[0]), p[1], p[2], p[3], p[4]
            ms = float(m.group(1)) if (m := re.search(r"(?:^| )ms=([0-9.]+)", detail)) else 0.0
            if what == "stall":
                gc = float(re.search(r"gcPause=([0-9.]+)", detail).group(1))
                stalls.append((t, ms, gc, pid))
            elif what == "sqlite-lock":
                locks.append((t, ms, pid))
            elif what in ("silo-starting", "silo-live"):
                marks.append((t, what, pid, comp))
            else:
                events[comp].append((t, pid, what, detail, ms))
    return freq, join, slow, client_stalls, events, stalls, locks, marks


def span(t, what, detail, ms, freq):
    if what == "giver-handover":
        total = sum(float(x) for x in re.findall(r"(?:checkpoint|enter|deactivate|head|write)=([0-9.]+)", detail))
        return t, t + total * freq / 1000
    return t, t + ms * freq / 1000


def overlap(a0, a1, b0, b1):
    return max(0, min(a1, b1) - max(a0, b0))


def classify(run, counts, lats):
    freq, join, slow, client_stalls, events, stalls, locks, marks = load(run)
    handovers = [t for evs in events.values() for (t, pid, what, d, ms) in evs if what == "giver-handover"]
    first = min(handovers) if handovers else None
    at = lambda t: (t - join) * 1000.0 / freq
    out = []
    for start, end, lat, comp, moved in slow:
        over = []
        for t, pid, what, detail, ms in events.get(comp, []):
            a, b = span(t, what, detail, ms, freq)
            if a <= end and b >= start:
                over.append((what, detail, pid))
        text = " ".join(w + " " + d for w, d, _ in over)
        # the longest stall of one process inside the request (silos' and the client's), the longest lock wait
        st = max([(overlap(start, end, t, t + ms * freq / 1000) * 1000 / freq, gc, pid) for t, ms, gc, pid in stalls]
                 + [(overlap(start, end, t, t + ms * freq / 1000) * 1000 / freq, gc, "client") for t, ms, gc in client_stalls]
                 + [(0, 0, "")])
        lk = max([(overlap(start, end, t, t + ms * freq / 1000) * 1000 / freq, pid) for t, ms, pid in locks] + [(0, "")])
        if "pending:" in text: c = "move: waited for its handover at the old owner"
        elif "local-cold" in text: c = "move: activated on its path at the new owner"
        elif any(w == "giver-handover" for w, _, _ in over): c = "move: overlapped its handover (no wait traced)"
        elif any(w in ("giver-warm", "receiver-warm") for w, _, _ in over): c = "move: overlapped the warm-up at the new owner"
        elif st[0] >= 50: c = "machine: a process stalled >= 50 ms (" + ("GC" if st[1] >= 0.5 * st[0] else "no CPU") + (", the client" if st[2] == "client" else ", a silo") + ")"
        elif lk[0] >= 50: c = "machine: waited on SQLite's file lock >= 50 ms"
        elif any(w == "live" for w, _, _ in over): c = "machine: a slow turn of a live activation (nothing else traced)"
        else: c = "machine: nothing traced over the thresholds"
        when = "before the first handover" if first is None or start < first else "after the first handover"
        if c.startswith("move:") and (st[0] >= 50 or lk[0] >= 50):
            c += " + " + ("a process stalled >= 50 ms" if st[0] >= 50 else "a lock wait >= 50 ms")
        key = ("moved" if moved else "unmoved", when, c)
        counts[key] += 1
        lats[key].append(lat)
        out.append((at(start), lat, moved, when, c, st, lk))
    return first and at(first), marks and [(at(t), w, pid, c) for t, w, pid, c in sorted(marks) if at(t) > -1000], out


counts, lats = collections.Counter(), collections.defaultdict(list)
for run in sys.argv[1:]:
    first, marks, out = classify(run, counts, lats)
    print(f"{run}: first handover {first:.0f} ms after the join" if first else f"{run}: no handover")
    for t, w, pid, c in marks or []:
        print(f"   {t:8.0f} ms {w} {c} (pid {pid})")
print(f"\nrequests over 100 ms in {len(sys.argv) - 1} run(s), by cause (count, median and max ms):")
for key in sorted(counts, key=lambda k: (k[0], k[1], -counts[k])):
    print(f"  {key[0]:8s} {key[1]:26s} {counts[key]:5d}  median {statistics.median(lats[key]):5.0f}  max {max(lats[key]):5.0f}  {key[2]}")
