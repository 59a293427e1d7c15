#!/usr/bin/env bash
# Runs the local scenario on the memory and SQLite stores ALTERNATING (memory, sqlite, memory, sqlite, ...)
# so that a burst of host CPU steal or a neighbour's build hits both stores alike, then prints the median
# and range per store and concurrency. Results land in bench/results/<UTC stamp>/ as one JSON per run.
#
# Settings (environment): ROUNDS (3), CONCURRENCIES ("64 256"), KEYS (1000), DURATION (10 s),
# WARMUP (3 s), STORES ("memory sqlite"), EXTRA (more flags for every run, e.g. "--invoke proxy").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
CONCURRENCIES="${CONCURRENCIES:-64 256}"
KEYS="${KEYS:-1000}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-3}"
STORES="${STORES:-memory sqlite}"
EXTRA="${EXTRA:-}"
OUT="${OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}"

# Build once and run the built program: `dotnet run` per run would rebuild-check and add noise.
dotnet build -c Release "$ROOT/bench/Middleware.Bench/Middleware.Bench.csproj" -nologo -v q
BENCH=(dotnet "$ROOT/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll")
mkdir -p "$OUT"

failed=0
for round in $(seq 1 "$ROUNDS"); do
  for c in $CONCURRENCIES; do
    for store in $STORES; do
      echo "== round $round/$ROUNDS: $store, $c in flight, $KEYS keys, ${DURATION}s"
      # shellcheck disable=SC2086 # EXTRA is a list of flags on purpose
      if ! "${BENCH[@]}" local --store "$store" --concurrency "$c" --keys "$KEYS" \
          --duration "$DURATION" --warmup "$WARMUP" --json "$OUT/local-$store-c$c-r$round.json" $EXTRA 2>"$OUT/local-$store-c$c-r$round.log"; then
        echo "   run failed (errors or balance mismatch); see $OUT/local-$store-c$c-r$round.log"
        failed=1
      fi
    done
  done
done

echo
echo "Median [min-max] over $ROUNDS rounds ($OUT):"
"${BENCH[@]}" summarize "$OUT"
exit "$failed"
