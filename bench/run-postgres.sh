#!/usr/bin/env bash
# PostgreSQL against the 20k target, with SQLite in the same run as the reference, and optionally two builds compared:
# the local engine (`local`) and one silo (`cluster --silos 1`, deposits), 64 in flight, 1000 accounts, ALTERNATING
# build x store within every round (order reversed every other round), a fresh PostgreSQL database per run (so no run
# inherits a grown log). Prints the median and range per build; results in bench/results/postgres-<UTC stamp>/<build>/.
#
#   bench/run-postgres.sh                                  # this tree's Release build, its own throwaway PostgreSQL
#   BUILDS="base=/tmp/g-base new=/tmp/g-new" bench/run-postgres.sh
#
# A build copy is a directory laid out like the repository with the Release outputs the runs need: Middleware.sln
# (empty; it marks the root), bench/Middleware.Bench/bin/Release/net10.0, src/Silo/bin/Release/net10.0 and
# samples/Bank/bin/Release/net10.0 (copy them with `cp -a`), so the benchmark finds that copy's silo and components.
#
# Settings (environment): ROUNDS (3), BUILDS ("this=<repo root>": name=dir pairs), MODES ("local cluster"), STORES
# ("postgres sqlite"), CONCURRENCY (64), KEYS (1000), DURATION (10 s), WARMUP_LOCAL (3 s), WARMUP_CLUSTER (8 s),
# PG ("Host=127.0.0.1;Port=...;Username=postgres": a running server whose user may CREATE DATABASE; default: one started
# by bench/start-postgres.sh for this run and stopped after it), PGBIN (for psql; default newest /usr/lib/postgresql/*/bin).
#
# After each PostgreSQL run it prints and keeps (<run>.server) what the server did over the whole run (warm-up included;
# the server's WAL counters are reset before it, so another load on the same server would count too): WAL flushes (fsyncs)
# per second and the mean time of one, WAL records, and the rows sequential scans read from the run's `components` table.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
BUILDS="${BUILDS:-this=$ROOT}"
MODES="${MODES:-local cluster}"
STORES="${STORES:-postgres sqlite}"
CONCURRENCY="${CONCURRENCY:-64}"
KEYS="${KEYS:-1000}"
DURATION="${DURATION:-10}"
WARMUP_LOCAL="${WARMUP_LOCAL:-3}"
WARMUP_CLUSTER="${WARMUP_CLUSTER:-8}"
OUT="${OUT:-$ROOT/bench/results/postgres-$(date -u +%Y%m%dT%H%M%SZ)}"
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"

if [ "$BUILDS" = "this=$ROOT" ]; then
  dotnet build -c Release "$ROOT/bench/Middleware.Bench/Middleware.Bench.csproj" -nologo -v q
fi
for pair in $BUILDS; do
  dir="${pair#*=}"
  if [ ! -f "$dir/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll" ] || [ ! -f "$dir/src/Silo/bin/Release/net10.0/Middleware.Silo.dll" ]; then
    echo "Build copy '$dir' lacks bench/Middleware.Bench/bin/Release/net10.0 or src/Silo/bin/Release/net10.0; see the header of $0." >&2
    exit 2
  fi
done

stop_pg=""
if [[ " $STORES " == *" postgres "* ]] && [ -z "${PG:-}" ]; then
  started="$("$ROOT/bench/start-postgres.sh")"
  echo "$started"
  PG="$(sed -n 's/^store: postgres:\(.*\);Database=bench$/\1/p' <<<"$started")"
  stop_pg="$(sed -n 's/^stop:  //p' <<<"$started")"
  trap 'eval "$stop_pg" >/dev/null 2>&1 || true' EXIT
fi

pg_url() { echo "postgresql:///$1?$(tr ';' '&' <<<"$PG" | sed 's/Host=/host=/;s/Port=/port=/;s/Username=/user=/')"; }

mkdir -p "$OUT"
run=0
failed=0
read -r -a builds <<<"$BUILDS"
for round in $(seq 1 "$ROUNDS"); do
  order=("${builds[@]}")
  if (( round % 2 == 0 )); then order=(); for (( i=${#builds[@]}-1; i>=0; i-- )); do order+=("${builds[$i]}"); done; fi
  for mode in $MODES; do
    for store in $STORES; do
      for pair in "${order[@]}"; do
        name="${pair%%=*}"
        dir="${pair#*=}"
        run=$((run + 1))
        setting="$store"
        if [ "$store" = postgres ]; then
          db="b_${run}_$$"
          "$PGBIN/psql" "$(pg_url postgres)" -qc "CREATE DATABASE $db" >/dev/null
          setting="postgres:$PG;Database=$db"
          "$PGBIN/psql" "$(pg_url postgres)" -qAtc "SELECT pg_stat_reset_shared('wal')" >/dev/null
          started_at=$(date +%s.%N)
        fi
        mkdir -p "$OUT/$name"
        file="$OUT/$name/$mode-$store-r$round"
        echo "== round $round/$ROUNDS: $name, $mode, $store, $CONCURRENCY in flight, $KEYS keys, ${DURATION}s; $(uptime | sed 's/.*load/load/')"
        if [ "$mode" = local ]; then
          args=(local --store "$setting" --warmup "$WARMUP_LOCAL")
        else
          args=(cluster --silos 1 --workload deposit --store "$setting" --warmup "$WARMUP_CLUSTER" --echo-duration 0)
        fi
        if ! MIDDLEWARE_SILO_DLL="$dir/src/Silo/bin/Release/net10.0/Middleware.Silo.dll" dotnet "$dir/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll" \
            "${args[@]}" --concurrency "$CONCURRENCY" --keys "$KEYS" --duration "$DURATION" --json "$file.json" 2>"$file.log" | tail -n 1; then
          echo "   run failed; see $file.log"
          failed=1
        fi
        if [ "$store" = postgres ]; then
          # The run's sessions report their table statistics when they end: give them a moment after the silo stopped.
          seconds=$(echo "$(date +%s.%N) - $started_at" | bc)
          sleep 1
          "$PGBIN/psql" "$(pg_url "$db")" -qAtF ' ' -c "SELECT round(w.wal_sync / $seconds), round((w.wal_sync_time / greatest(w.wal_sync, 1))::numeric, 2), w.wal_records, coalesce(t.seq_tup_read, 0) FROM pg_stat_wal w LEFT JOIN pg_stat_user_tables t ON t.relname = 'components'" \
            | awk '{printf "   server: %s WAL flushes/s, %s ms each, %s WAL records, %s components rows read by sequential scans\n", $1, $2, $3, $4}' | tee "$file.server"
        fi
      done
    done
  done
done

for pair in "${builds[@]}"; do
  name="${pair%%=*}"
  echo
  echo "$name: median [min-max] over $ROUNDS rounds ($OUT/$name):"
  dotnet "${pair#*=}/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll" summarize "$OUT/$name"
done
exit "$failed"
