#!/usr/bin/env python3
"""The handovers' waits in move traces (MIDDLEWARE_MOVE_TRACE directories; bench/README.md, rebalance).

  bench/handover-waits.py TRACE_DIR [TRACE_DIR ...]

For every `giver-handover` line: `waited` (from the directory switch to the release: what a request of the moved
component that arrives meanwhile waits for), `write` (the ownership write inside it, IClusterStore.HandOverAsync) and
`deactivate` (the last turn and a last checkpoint). Prints count, median, p90, p99 and max of each, over all directories
given and per directory (one run each), plus the failed or raced handovers (`giver-move-failed`).
"""
import glob, os, statistics, sys


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def line(label, values):
    if not values:
        return f"  {label:10s} none"
    return (f"  {label:10s} n={len(values):5d}  median {statistics.median(values):6.1f}  p90 {pct(values, 90):6.1f}  "
            f"p99 {pct(values, 99):6.1f}  max {max(values):6.1f} ms")


def read(directory):
    fields = {"waited": [], "write": [], "deactivate": []}
    failed = 0
    for path in glob.glob(os.path.join(directory, "move-trace-*.txt")) + glob.glob(os.path.join(directory, "handovers.txt")):
        for text in open(path, encoding="utf-8", errors="replace"):
            parts = text.split()
            if len(parts) < 3:
                continue
            if parts[2] == "giver-move-failed":
                failed += 1
            if parts[2] != "giver-handover":
                continue
            for kv in parts[4:]:
                k, _, v = kv.partition("=")
                if k in fields:
                    try:
                        fields[k].append(float(v))
                    except ValueError:
                        pass
    return fields, failed


every = {"waited": [], "write": [], "deactivate": []}
per_run = []
failed_total = 0
for directory in sys.argv[1:]:
    fields, failed = read(directory)
    failed_total += failed
    for k in every:
        every[k] += fields[k]
    if fields["waited"]:
        per_run.append((directory, statistics.median(fields["waited"]), pct(fields["waited"], 99), max(fields["waited"]), len(fields["waited"]), failed))
for k in ("waited", "write", "deactivate"):
    print(line(k, every[k]))
print(f"  failed or raced handovers: {failed_total}")
for directory, med, p99, mx, n, failed in per_run:
    print(f"    {directory}: waited median {med:.1f} p99 {p99:.1f} max {mx:.1f} ms over {n}, failed {failed}")
