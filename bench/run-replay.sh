#!/usr/bin/env bash
# Replay readiness: N turns on one component, then a fresh runtime activates it (claim + read + replay).
# Settings (environment): TURNS ("10000 100000"), STORES ("sqlite memory"), REPEAT (3 activations per run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TURNS="${TURNS:-10000 100000}"
STORES="${STORES:-sqlite memory}"
REPEAT="${REPEAT:-3}"
OUT="${OUT:-$ROOT/bench/results/replay-$(date -u +%Y%m%dT%H%M%SZ)}"

dotnet build -c Release "$ROOT/bench/Middleware.Bench/Middleware.Bench.csproj" -nologo -v q
BENCH=(dotnet "$ROOT/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll")
mkdir -p "$OUT"

failed=0
for n in $TURNS; do
  for store in $STORES; do
    if ! "${BENCH[@]}" replay --store "$store" --turns "$n" --repeat "$REPEAT" --json "$OUT/replay-$store-$n.json" 2>"$OUT/replay-$store-$n.log"; then
      echo "   run failed; see $OUT/replay-$store-$n.log"
      failed=1
    fi
  done
done

echo
"${BENCH[@]}" summarize "$OUT"
exit "$failed"
