#!/usr/bin/env bash
# Session 14 lab tool (copied from session 13's s13pg-measure.sh) (not a maintained script): one `cluster --silos 1 --workload deposit` run against a PostgreSQL 15
# server already running on 127.0.0.1:$PORT with its data directory in $DIR, started like bench/start-postgres.sh plus
#   shared_preload_libraries = 'pg_stat_statements', pg_stat_statements.track = all, pg_stat_statements.track_planning = on,
#   track_io_timing = on   (and CREATE EXTENSION pg_stat_statements in template1, so each run's database has it).
# Prints the run's line, the server's CPU over the run per log row, WAL per record, the top statements of the run's database
# (calls, plans, mean plan ms, mean exec ms, ...) and the table counters. Settings: WARMUP, DURATION, CONC, STOREX (appended
# to the connection string).
# usage: s13pg-measure.sh <build dir> <label> [extra bench args]
set -euo pipefail
B="$1"; L="$2"; shift 2
PGBIN=/usr/lib/postgresql/15/bin; PORT=45414; DIR=/tmp/s14pg-lab
OUT=${OUT:-/tmp/s14pg-out}; mkdir -p $OUT
db="m_${L}_$$"
P() { $PGBIN/psql -h 127.0.0.1 -p $PORT -U postgres -d "$1" -qAtF ' ' -c "$2"; }
P postgres "CREATE DATABASE $db"
pmpid=$(head -1 $DIR/data/postmaster.pid)
cpu() { local t=0; for p in $pmpid $(ps -o pid= --ppid $pmpid); do
  if [ -r /proc/$p/stat ]; then f=($(sed 's/.*) //' /proc/$p/stat)); if [ $p = $pmpid ]; then t=$((t+f[11]+f[12]+f[13]+f[14])); else t=$((t+f[11]+f[12])); fi; fi; done; echo $t; }
P postgres "SELECT pg_stat_reset_shared('wal'); SELECT pg_stat_statements_reset()" >/dev/null
c0=$(cpu); t0=$(date +%s.%N); s0=$(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat)
snap() { for p in $(ps -o pid= --ppid $pmpid); do [ -r /proc/$p/stat ] && echo "$p $(sed 's/.*) //' /proc/$p/stat | awk '{print $12+$13}') $(tr '\0' ' ' </proc/$p/cmdline | awk '{print $2,$3,$4}')"; done; }
( while [ ! -f $OUT/$L.stop ]; do echo "$(date +%s.%N) $(cpu)"; sleep 0.5; done > $OUT/$L.samples ) &
rm -f $OUT/$L.stop
MIDDLEWARE_SILO_DLL="$B/src/Silo/bin/Release/net10.0/Middleware.Silo.dll" dotnet "$B/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll" \
  cluster --silos 1 --workload deposit --store "postgres:Host=127.0.0.1;Port=$PORT;Username=postgres;Database=$db${STOREX:-}" --warmup ${WARMUP:-6} --echo-duration 0 \
  --concurrency ${CONC:-64} --keys 1000 --duration ${DURATION:-10} --json $OUT/$L.json "$@" 2>$OUT/$L.log | tail -n 1
texit=$(date +%s.%N); touch $OUT/$L.stop; sleep 1
c1=$(cpu); t1=$(date +%s.%N); s1=$(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat)
recs=$(P $db "SELECT count(*) FROM log")
read tot0 idle0 <<<"$s0"; read tot1 idle1 <<<"$s1"
echo "$L: log rows $recs; server CPU $(( (c1-c0)*10 )) ms = $(echo "scale=1; ($c1-$c0)*10000/$recs" | bc) us/record; box busy $(echo "scale=2; 2*(1-($idle1-$idle0)/($tot1-$tot0))" | bc) cores over $(echo "$t1-$t0"|bc|cut -c1-5)s; load $(cut -d' ' -f1-3 /proc/loadavg)"
P $db "SELECT 'wal: records/rec', round(wal_records::numeric/$recs,2), 'bytes/rec', round(wal_bytes::numeric/$recs), 'fpi', wal_fpi, 'syncs', wal_sync, 'ms/sync', round((wal_sync_time/greatest(wal_sync,1))::numeric,2) FROM pg_stat_wal"
P $db "SELECT 'stmt', calls, plans, round(mean_plan_time::numeric,3), round(mean_exec_time::numeric,3) AS ms, round((total_exec_time/greatest(rows,1))::numeric*1000,1) AS us_per_row, rows, round(rows::numeric/greatest(calls,1),1) rows_per_call, wal_records, shared_blks_hit, shared_blks_read, left(regexp_replace(query,'\s+',' ','g'),70) FROM pg_stat_statements WHERE dbid=(select oid from pg_database where datname='$db') ORDER BY total_exec_time DESC LIMIT 6"
P $db "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, seq_scan, seq_tup_read, idx_scan, n_dead_tup, pg_relation_size(relid)/8192 pages FROM pg_stat_user_tables WHERE relname IN ('components','log')"
python3 - $OUT/$L.samples $texit ${DURATION:-10} $OUT/$L.json <<'PY'
import sys,json
r=[tuple(map(float,l.split())) for l in open(sys.argv[1]) if len(l.split())==2]
te=float(sys.argv[2]); d=float(sys.argv[3]); tp=json.load(open(sys.argv[4]))['throughput_per_s']
w=[x for x in r if te-d+1<=x[0]<=te-2]
a,b=w[0],w[-1]; sec=b[0]-a[0]; recs=tp*sec
print(f"measured-window {sec:.1f}s: server {(b[1]-a[1])*10000/recs:.1f} us/deposit ({(b[1]-a[1])/100/sec:.2f} cores) at {tp:.0f} deposits/s")
PY
grep -o '"[a-zA-Z_]*[Bb]atch[a-zA-Z_]*":[^,]*\|"throughput[^,]*\|"requests_per_sec[^,]*\|"p50[^,]*\|"p99[^,]*\|"mean[^,]*' $OUT/$L.json | tr '\n' ' '; echo
