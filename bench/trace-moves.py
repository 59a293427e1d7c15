#!/usr/bin/env python3
"""Where each slow request of a moved account spent its time (bench/README.md, rebalance).

Reads the benchmark's MIDDLEWARE_BENCH_SLOW_TRACE file (requests over 100 ms during the join) and the silos'
MIDDLEWARE_MOVE_TRACE directory (handovers, routed requests over 20 ms, live requests over 50 ms, warm-ups), and prints
for each slow request of a moved account the silo events of that component that overlap it, times relative to the
request's start in ms. Usage: trace-moves.py SLOW_FILE TRACE_DIR [--all]
"""
import collections, glob, os, sys

slow_file, trace_dir = sys.argv[1], sys.argv[2]
show_all = "--all" in sys.argv
freq = 1e9
join_at = 0
slow = []
for line in open(slow_file):
    p = line.split()
    if p[0] == "join":
        join_at, freq = int(p[1]), float(p[2])
    elif p[0] == "slow":
        slow.append((int(p[1]), int(p[2]), float(p[3]), p[4], p[5] == "True"))
events = collections.defaultdict(list)
pids = {}
for f in glob.glob(os.path.join(trace_dir, "move-trace-*.txt")):
    for line in open(f):
        p = line.rstrip("\n").split(" ", 4)
        if len(p) < 5: continue
        t, pid, what, comp, detail = int(p[0]), p[1], p[2], p[3], p[4]
        events[comp].append((t, pid, what, detail))
        if what == "giver-handover":
            pids.setdefault(pid, "giver")
ms = lambda a, b: (b - a) * 1000.0 / freq
moved_slow = [s for s in slow if s[4] or show_all]
print(f"{len(slow)} requests over 100 ms in the join phase, {sum(1 for s in slow if s[4])} of moved accounts")
for start, end, lat, comp, moved in sorted(moved_slow, key=lambda s: s[0]):
    print(f"\n{comp} moved={moved}: {lat:.0f} ms, started {ms(join_at, start):.0f} ms after the join")
    for t, pid, what, detail in sorted(events.get(comp, [])):
        # an event starting up to 3 s before the request (a handover it waited on) and before its end
        if start - 3 * freq <= t <= end:
            print(f"   {ms(start, t):+8.1f} pid {pid} {what} {detail}")

# Summary: what each slow request of a moved account met (first matching class), with counts and the median latency.
import re, statistics
def span(t, what, detail):
    m = re.search(r"(?:^| )ms=([0-9.]+)", detail)
    if what == "giver-handover":
        total = sum(float(x) for x in re.findall(r"(?:checkpoint|enter|deactivate|head|write)=([0-9.]+)", detail))
        return t, t + total * freq / 1000
    return t, t + (float(m.group(1)) * freq / 1000 if m else 0)
classes = collections.defaultdict(list)
for start, end, lat, comp, moved in slow:
    if not moved: continue
    over, over_pids = [], []
    for t, pid, what, detail in events.get(comp, []):
        a, b = span(t, what, detail)
        if a <= end and b >= start:
            over.append((what, detail))
            over_pids.append((what, detail, pid))
    text = " ".join(w + " " + d for w, d in over)
    if "pending:" in text: c = "waited for its handover at the old owner"
    elif "local-cold" in text: c = "activation on the request path at the new owner"
    elif any(w == "giver-handover" for w, _ in over): c = "overlapped its handover (no wait traced)"
    elif any(w in ("giver-warm", "receiver-warm") for w, _ in over): c = "overlapped the warm-up at the new owner"
    elif over:
        # the receiver: the process that never gave a component (it started during the join)
        at_new = all(pid not in pids for w, d, pid in over_pids)
        c = "a slow turn of a live activation at the NEW owner (after its move)" if at_new else "a slow turn of a live activation at its old owner (before its move)"
    else: c = "no silo event over the threshold (client, transport, hops)"
    classes[c].append(lat)
print("\nsummary of slow requests of moved accounts:")
for c, lats in sorted(classes.items(), key=lambda kv: -len(kv[1])):
    print(f"  {len(lats):4d}  median {statistics.median(lats):6.0f} ms  max {max(lats):6.0f} ms  {c}")
