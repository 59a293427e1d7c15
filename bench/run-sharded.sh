#!/usr/bin/env bash
# One PostgreSQL server against a sharded store over two (issue 17, deliverable 5): the cluster scenario (deposit) with
# --store postgres:<one database> and --store sharded:postgres:<server 1>|postgres:<server 2> in ALTERNATING runs
# (reversed every other round), both servers started here like bench/start-postgres.sh (fsync=on, synchronous_commit=on)
# and stopped at the end. Besides the benchmark's own JSON (req/s, latency, silo and client CPU, other_cpu_cores), every
# run records the CPU each PostgreSQL server used (postmaster and backends, from /proc) as pg1_cores and pg2_cores in
# pg-cpu.txt, so the closing note can say what limits the throughput on this machine.
#
# Settings (environment): ROUNDS (3), SILOS (1), CONCURRENCY (128), KEYS (1000), DURATION (10 s), WARMUP (6 s),
# EXTRA (more flags for every run), BENCH_DLL (a prebuilt Middleware.Bench.dll; skips the build).
# Results: bench/results/sharded-<UTC stamp>/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
SILOS="${SILOS:-1}"
CONCURRENCY="${CONCURRENCY:-128}"
KEYS="${KEYS:-1000}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-6}"
EXTRA="${EXTRA:-}"
OUT="${OUT:-$ROOT/bench/results/sharded-$(date -u +%Y%m%dT%H%M%SZ)}"
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"

source "$ROOT/bench/bench-command.sh"
mkdir -p "$OUT"

start_server() { "$ROOT/bench/start-postgres.sh"; }
s1="$(start_server)"; s2="$(start_server)"
stop1="$(sed -n 's/^stop:  //p' <<<"$s1")"; stop2="$(sed -n 's/^stop:  //p' <<<"$s2")"
trap 'eval "$stop1" >/dev/null 2>&1 || true; eval "$stop2" >/dev/null 2>&1 || true' EXIT
cs1="$(sed -n 's/^store: postgres://p' <<<"$s1")"; cs2="$(sed -n 's/^store: postgres://p' <<<"$s2")"
dir1="$(sed -n 's/^PostgreSQL .* running in \([^ ]*\) .*/\1/p' <<<"$s1")"; dir2="$(sed -n 's/^PostgreSQL .* running in \([^ ]*\) .*/\1/p' <<<"$s2")"
port_of() { sed -n 's/.*Port=\([0-9]*\).*/\1/p' <<<"$1"; }

# CPU seconds of a server so far: the postmaster with its reaped children, plus the live backends.
pg_cpu() {
  local pm; pm="$(head -n 1 "$1/data/postmaster.pid")"
  local tck; tck="$(getconf CLK_TCK)"
  { awk '{print $14+$15+$16+$17}' "/proc/$pm/stat"
    for c in $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do awk '{print $14+$15}' "/proc/$c/stat" 2>/dev/null || true; done
  } | awk -v t="$tck" '{s+=$1} END {printf "%.3f", s/t}'
}

echo "server 1: port $(port_of "$cs1"), server 2: port $(port_of "$cs2"); $(nproc) cores; uptime: $(uptime)" | tee "$OUT/setup.txt"
run=0
for round in $(seq 1 "$ROUNDS"); do
  order=(one two); (( round % 2 == 0 )) && order=(two one)
  for config in "${order[@]}"; do
    run=$((run + 1))
    # A fresh database (or pair) per run, so every run starts from the same empty tables.
    "$PGBIN/psql" -h 127.0.0.1 -p "$(port_of "$cs1")" -U postgres -d postgres -qc "CREATE DATABASE r${run}a" >/dev/null
    "$PGBIN/psql" -h 127.0.0.1 -p "$(port_of "$cs2")" -U postgres -d postgres -qc "CREATE DATABASE r${run}b" >/dev/null
    one="postgres:${cs1/Database=bench/Database=r${run}a}"
    two="sharded:postgres:${cs1/Database=bench/Database=r${run}a}|postgres:${cs2/Database=bench/Database=r${run}b}"
    if [ "$config" = one ]; then store="$one"; else store="$two"; fi
    name="sharded-$config-s$SILOS-c$CONCURRENCY-r$round"
    echo "== round $round/$ROUNDS: $config ($([ "$config" = one ] && echo '1 PostgreSQL server' || echo 'sharded over 2 servers')), $SILOS silo(s), $CONCURRENCY in flight, $KEYS keys, ${DURATION}s; load $(cut -d' ' -f1-3 /proc/loadavg)"
    a1="$(pg_cpu "$dir1")"; a2="$(pg_cpu "$dir2")"; t0="$(date +%s.%N)"
    # shellcheck disable=SC2086 # EXTRA is a list of flags on purpose
    if ! "${BENCH[@]}" cluster --silos "$SILOS" --store "$store" --workload deposit --concurrency "$CONCURRENCY" \
        --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" --echo-duration 1 --json "$OUT/$name.json" $EXTRA \
        2>"$OUT/$name.log" | tee -a "$OUT/summary.txt"; then
      echo "   run failed; see $OUT/$name.log"
    fi
    b1="$(pg_cpu "$dir1")"; b2="$(pg_cpu "$dir2")"; t1="$(date +%s.%N)"
    awk -v n="$name" -v a1="$a1" -v b1="$b1" -v a2="$a2" -v b2="$b2" -v t0="$t0" -v t1="$t1" \
      'BEGIN {w=t1-t0; printf "%s wall %.1f s: pg1_cores %.2f pg2_cores %.2f (averaged over the whole run, start-up and warm-up included)\n", n, w, (b1-a1)/w, (b2-a2)/w}' \
      | tee -a "$OUT/pg-cpu.txt"
  done
done

echo
echo "Median [min-max] over $ROUNDS rounds ($OUT):"
"${BENCH[@]}" summarize "$OUT" | tee -a "$OUT/summary.txt"
