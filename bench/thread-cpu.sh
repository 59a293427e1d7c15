#!/usr/bin/env bash
# CPU of one process by thread name over a window (issue 18): the group-commit (SQLite writer) thread against the pool's
# turn threads, the GC and the socket threads, from /proc/PID/task/*/stat (utime + stime, clock ticks).
#
#   bench/thread-cpu.sh PID [SECONDS]        # default 5 s; prints ms of CPU per second by thread name, and the total
#
# With a request count over the same window (e.g. the benchmark's req/s) this gives CPU per request per thread group:
# us/request = (ms/s) * 1000 / (requests/s). Threads that start or end inside the window count for the part they ran.
set -euo pipefail
pid="$1"; secs="${2:-5}"
hz=$(getconf CLK_TCK)
snap() { for t in /proc/"$pid"/task/*; do
  [ -r "$t/stat" ] || continue
  # comm may contain spaces: the fields after the closing parenthesis are fixed
  line=$(cat "$t/stat" 2>/dev/null) || continue
  comm=${line#*(}; comm=${comm%)*}; rest=${line##*) }
  set -- $rest
  echo "$(basename "$t")|$comm|$(( ${12} + ${13} ))"
done; }
a=$(snap); sleep "$secs"; b=$(snap)
python3 - "$secs" "$hz" <<PY
import sys, collections
secs, hz = float(sys.argv[1]), float(sys.argv[2])
def load(text):
    d = {}
    for l in text.strip().splitlines():
        tid, comm, t = l.rsplit('|', 2)[0].split('|')[0], l.split('|')[1], int(l.rsplit('|', 1)[1]); d[tid] = (comm, t)
    return d
a, b = load("""$a"""), load("""$b""")
c = collections.Counter()
for tid, (comm, t) in b.items(): c[comm] += t - a.get(tid, (comm, 0))[1] if tid in a else t
total = sum(c.values())
for comm, v in c.most_common():
    if v: print(f"{v * 1000 / hz / secs:8.1f} ms/s  {comm}")
print(f"{total * 1000 / hz / secs:8.1f} ms/s  total")
PY
