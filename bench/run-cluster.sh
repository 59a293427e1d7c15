#!/usr/bin/env bash
# Runs the cluster scenario over several configurations in ALTERNATING order (and reversed every other round), so a
# burst of host CPU steal or a neighbour's build hits every configuration alike, then prints the median and range per
# configuration. Silos are separate processes (bench/Middleware.Bench cluster → Bank.Cluster's SiloLauncher); every
# run gets a fresh SQLite temp file unless STORE says otherwise. Results land in bench/results/cluster-<UTC stamp>/.
#
# Settings (environment): ROUNDS (3), CONFIGS ("deposit:1 deposit:3 transfer:1 transfer:3", workload:silos or
# workload:silos:mirroring, e.g. "deposit:3:none deposit:3:all"), MIRRORING (a list such as "none all": every
# workload:silos entry runs once per setting, alternating; empty = the silo default, attributed),
# CONCURRENCY (64), KEYS (1000), DURATION (10 s), WARMUP (8 s: tiered JIT needs ~5 s before a silo reaches its steady rate), ECHO (3 s), STORE (sqlite; or postgres:<cs>, see
# bench/start-postgres.sh), EXTRA (more flags for every run), BENCH_DLL (a prebuilt Middleware.Bench.dll; skips the build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
CONFIGS="${CONFIGS:-deposit:1 deposit:3 transfer:1 transfer:3}"
MIRRORING="${MIRRORING:-}"
CONCURRENCY="${CONCURRENCY:-64}"
KEYS="${KEYS:-1000}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-8}"
ECHO="${ECHO:-3}"
STORE="${STORE:-sqlite}"
EXTRA="${EXTRA:-}"
OUT="${OUT:-$ROOT/bench/results/cluster-$(date -u +%Y%m%dT%H%M%SZ)}"

# BENCH: the benchmark program, built once (or BENCH_DLL); see bench-command.sh.
source "$ROOT/bench/bench-command.sh"
mkdir -p "$OUT"

read -r -a given <<<"$CONFIGS"
configs=()
for config in "${given[@]}"; do
  if [ -n "$MIRRORING" ] && [ "$(tr -cd ':' <<<"$config" | wc -c)" -eq 1 ]; then
    for m in $MIRRORING; do configs+=("$config:$m"); done
  else
    configs+=("$config")
  fi
done
failed=0
for round in $(seq 1 "$ROUNDS"); do
  order=("${configs[@]}")
  if (( round % 2 == 0 )); then
    # Reverse on even rounds: no configuration always runs first (cold disk cache) or last.
    order=()
    for (( i=${#configs[@]}-1; i>=0; i-- )); do order+=("${configs[$i]}"); done
  fi
  for config in "${order[@]}"; do
    IFS=: read -r workload silos mirroring <<<"$config"
    mirror_flag=()
    suffix=""
    if [ -n "${mirroring:-}" ]; then mirror_flag=(--mirroring "$mirroring"); suffix="-m$mirroring"; fi
    name="cluster-$workload-s$silos$suffix-c$CONCURRENCY-r$round"
    echo "== round $round/$ROUNDS: $workload, $silos silo(s), mirroring ${mirroring:-default}, $CONCURRENCY in flight, $KEYS keys, ${DURATION}s"
    # shellcheck disable=SC2086 # EXTRA is a list of flags on purpose
    if ! "${BENCH[@]}" cluster --silos "$silos" --store "$STORE" --workload "$workload" --concurrency "$CONCURRENCY" \
        --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" --echo-duration "$ECHO" --json "$OUT/$name.json" "${mirror_flag[@]}" $EXTRA \
        2>"$OUT/$name.log" | tee -a "$OUT/summary.txt"; then
      echo "   run failed (errors or a failed check); see $OUT/$name.log"
      failed=1
    fi
  done
done

echo
echo "Median [min-max] over $ROUNDS rounds ($OUT):"
"${BENCH[@]}" summarize "$OUT" | tee -a "$OUT/summary.txt"
exit "$failed"
