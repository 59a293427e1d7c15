#!/usr/bin/env bash
# strace-win.sh LABEL DLL: a 40 s local run; at 24 s, 5 s of fsync/pwrite64 by thread and fd.
set -u
label=$1; dll=$2; db=/tmp/hc/st-$label.db
rm -f $db $db-wal $db-shm
dotnet $dll local --store sqlite --db $db --duration 40 --warmup 3 > /tmp/hc/st-$label.out 2> /tmp/hc/st-$label.err &
pid=$!
sleep 24
ls -l /proc/$pid/fd 2>/dev/null | grep -E "\.db" > /tmp/hc/st-$label.fds
for t in /proc/$pid/task/*; do echo "$(basename $t) $(cat $t/comm)"; done > /tmp/hc/st-$label.tids
timeout 5 strace -f -qq -e trace=fsync,fdatasync,pwrite64 -e signal=none -p $pid -o /tmp/hc/st-$label.strace
wait $pid
rm -f $db $db-wal $db-shm
python3 - $label <<'PY'
import re, sys, collections
label = sys.argv[1]
fds = {}
for l in open(f"/tmp/hc/st-{label}.fds"):
    m = re.search(r" (\d+) -> (.*)$", l.strip())
    if m: fds[m.group(1)] = "wal" if m.group(2).endswith("-wal") else "shm" if m.group(2).endswith("-shm") else "db"
names = dict(l.split(" ", 1) for l in open(f"/tmp/hc/st-{label}.tids").read().splitlines())
c = collections.Counter()
for l in open(f"/tmp/hc/st-{label}.strace"):
    m = re.match(r"(\d+)\s+(fsync|fdatasync|pwrite64)\((\d+)", l)
    if m:
        tid, call, fd = m.groups()
        c[(names.get(tid, tid).strip(), call, fds.get(fd, fd))] += 1
for k, v in sorted(c.items()): print(label, k, v)
PY
