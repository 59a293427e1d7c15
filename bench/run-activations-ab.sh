#!/usr/bin/env bash
# Before/after of the `activations` scenario in ALTERNATING runs (old, new, old, new, ...) on one SQLite or PostgreSQL
# store, for a noisy machine: each run's `uptime` goes to uptime.txt beside its JSON, and a median over ROUNDS pairs is
# what to compare. OLD and NEW are two built copies of the repository (Release: `dotnet build Middleware.sln -c Release`).
#
#   OLD=/tmp/base NEW=$PWD bench/run-activations-ab.sh                    # SQLite, 40,000 components past a 10,000 cap
#   OLD=/tmp/base NEW=$PWD STORE="postgres:Host=...;Database=bench" bench/run-activations-ab.sh
#
# Settings (environment): COMPONENTS (40000), MAX_ACTIVATIONS (10000: the again pass is all cold activations from a
# checkpoint past the cap; 0 = no cap), DURATION (3 s per timed phase), ROUNDS (2), STORE (default: a fresh SQLite file
# per run), OUT (bench/results/activations-ab-<UTC stamp>). A PostgreSQL store is shared by the runs: every run uses new keys.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${OLD:?set OLD to the old build copy (a repository root with a Release build)}"
: "${NEW:?set NEW to the new build copy}"
COMPONENTS="${COMPONENTS:-40000}"
MAX_ACTIVATIONS="${MAX_ACTIVATIONS:-10000}"
DURATION="${DURATION:-3}"
ROUNDS="${ROUNDS:-2}"
STORE="${STORE:-}"
OUT="${OUT:-$ROOT/bench/results/activations-ab-$(date -u +%Y%m%dT%H%M%SZ)}"
DB_DIR="$(mktemp -d)"
mkdir -p "$OUT"
trap 'rm -rf "$DB_DIR"' EXIT

for round in $(seq 1 "$ROUNDS"); do
  for which in old new; do
    root="$OLD"; [ "$which" = new ] && root="$NEW"
    store="$STORE"
    if [ -z "$store" ]; then rm -f "$DB_DIR"/a.db*; store="sqlite:$DB_DIR/a.db"; fi
    echo "== $which $round: $(date -u +%T) $(uptime)" | tee -a "$OUT/uptime.txt"
    dotnet "$root/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll" activations --store "$store" \
      --components "$COMPONENTS" --max-activations "$MAX_ACTIVATIONS" --duration "$DURATION" \
      --json "$OUT/$which-$round.json" 2> "$OUT/$which-$round.log" | sed "s/^/$which $round: /" | tee -a "$OUT/summary.txt"
  done
done
echo "results: $OUT"
