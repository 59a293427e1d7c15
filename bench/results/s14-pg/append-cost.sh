#!/usr/bin/env bash
# Session 14 lab tool: the store alone (`append`, one thread, batches of B records over 1000 components) against the lab
# server of measure.sh; prints commits/s, the server's CPU per record and per commit, and the bench process' own CPU.
# usage: append-cost.sh <build dir> <label> <batch> [duration]
set -euo pipefail
B="$1"; L="$2"; N="$3"; D="${4:-5}"
PGBIN=/usr/lib/postgresql/15/bin; PORT=45414; DIR=/tmp/s14pg-lab; OUT=${OUT:-/tmp/s14pg-out}; mkdir -p $OUT
db="a_${L}_$$"
P() { $PGBIN/psql -h 127.0.0.1 -p $PORT -U postgres -d "$1" -qAtF ' ' -c "$2"; }
P postgres "CREATE DATABASE $db"
pmpid=$(head -1 $DIR/data/postmaster.pid)
cpu() { local t=0; for p in $pmpid $(ps -o pid= --ppid $pmpid); do
  if [ -r /proc/$p/stat ]; then f=($(sed 's/.*) //' /proc/$p/stat)); if [ $p = $pmpid ]; then t=$((t+f[11]+f[12]+f[13]+f[14])); else t=$((t+f[11]+f[12])); fi; fi; done; echo $t; }
P postgres "SELECT pg_stat_reset_shared('wal')" >/dev/null
c0=$(cpu)
dotnet "$B/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll" append --store "postgres:Host=127.0.0.1;Port=$PORT;Username=postgres;Database=$db" \
  --batch $N --components 1000 --duration $D --json $OUT/$L.json 2>$OUT/$L.log | tail -n 1
c1=$(cpu)
recs=$(P $db "SELECT count(*) FROM log"); commits=$(python3 -c "import json;print(json.load(open('$OUT/$L.json')).get('commits',0))")
echo "$L batch $N: $recs records, $commits commits; server CPU $(( (c1-c0)*10 )) ms (incl. 1000 claims) = $(echo "scale=1; ($c1-$c0)*10000/$recs" | bc) us/record, $(echo "scale=0; ($c1-$c0)*10000/$commits" | bc) us/commit; load $(cut -d' ' -f1-3 /proc/loadavg)"
P $db "SELECT 'wal: records/rec', round(wal_records::numeric/$recs,2), 'bytes/rec', round(wal_bytes::numeric/$recs), 'syncs', wal_sync, 'ms/sync', round((wal_sync_time/greatest(wal_sync,1))::numeric,2) FROM pg_stat_wal"
