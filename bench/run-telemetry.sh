#!/usr/bin/env bash
# The cost of metrics and tracing (issue 16): the one-silo deposit run of the cluster scenario in three settings, in
# ALTERNATING order (reversed every other round): --metrics off (MIDDLEWARE_METRICS=off: no listener on any Middleware.*
# instrument or source, the baseline), --metrics on (the default: the silo's own /metrics collector listens, nothing
# scrapes it, no trace listener = "no exporter attached"), and --metrics on --scrape-ms 1000 (/metrics read every second,
# like a Prometheus server). Prints median [min-max] per setting; results land in bench/results/telemetry-<UTC stamp>/.
#
# Settings (environment): ROUNDS (3), SILOS (1), CONCURRENCY (64), KEYS (1000), DURATION (10 s), WARMUP (8 s),
# STORE (sqlite), BENCH_DLL (a prebuilt Middleware.Bench.dll; skips the build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
SILOS="${SILOS:-1}"
CONCURRENCY="${CONCURRENCY:-64}"
KEYS="${KEYS:-1000}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-8}"
STORE="${STORE:-sqlite}"
OUT="${OUT:-$ROOT/bench/results/telemetry-$(date -u +%Y%m%dT%H%M%SZ)}"

# BENCH: the benchmark program, built once (or BENCH_DLL); see bench-command.sh.
source "$ROOT/bench/bench-command.sh"
mkdir -p "$OUT"
uptime | tee "$OUT/uptime-start.txt"

configs=("off" "on" "scrape")
failed=0
for round in $(seq 1 "$ROUNDS"); do
  order=("${configs[@]}")
  if (( round % 2 == 0 )); then order=("scrape" "on" "off"); fi
  for config in "${order[@]}"; do
    case "$config" in
      off) flags=(--metrics off) ;;
      on) flags=(--metrics on) ;;
      scrape) flags=(--metrics on --scrape-ms 1000) ;;
    esac
    name="telemetry-deposit-s$SILOS-$config-r$round"
    echo "== round $round/$ROUNDS: deposit, $SILOS silo(s), telemetry $config"
    if ! "${BENCH[@]}" cluster --silos "$SILOS" --store "$STORE" --workload deposit --concurrency "$CONCURRENCY" \
        --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" --echo-duration 0 --json "$OUT/$name.json" "${flags[@]}" \
        2>"$OUT/$name.log" | tee -a "$OUT/summary.txt"; then
      echo "   run failed; see $OUT/$name.log"
      failed=1
    fi
  done
done

uptime | tee "$OUT/uptime-end.txt"
echo
echo "Median [min-max] over $ROUNDS rounds ($OUT):"
"${BENCH[@]}" summarize "$OUT" | tee -a "$OUT/summary.txt"
exit "$failed"
