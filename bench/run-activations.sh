#!/usr/bin/env bash
# The million-component runs of issue 17 (`Middleware.Bench activations`): one silo, N distinct accounts touched once
# (first touch), again (cold activation from a checkpoint past the activation limit), then random over all N, on SQLite
# with the silo's default limits and without a limit, and on PostgreSQL when PG_STORE is given (e.g. the store line
# printed by bench/start-postgres.sh). Also the in-process heap bytes per live activation (`activation-memory`).
# Results land in bench/results/activations-<UTC stamp>/ (one JSON + log per run, uptime before each run).
#
# Settings (environment): COMPONENTS (1000000), DURATION (10 s per timed phase), CONCURRENCY (64), PG_STORE (unset: no
# PostgreSQL run), PG_COMPONENTS (= COMPONENTS), NO_LIMIT (1: also the run with --max-activations 0), MEMORY_COMPONENTS
# (100000; 0 skips activation-memory), STORE_DIR (a temp dir for the SQLite files), BENCH_DLL (a prebuilt
# Middleware.Bench.dll; skips the build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COMPONENTS="${COMPONENTS:-1000000}"
DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-64}"
PG_STORE="${PG_STORE:-}"
PG_COMPONENTS="${PG_COMPONENTS:-$COMPONENTS}"
NO_LIMIT="${NO_LIMIT:-1}"
MEMORY_COMPONENTS="${MEMORY_COMPONENTS:-100000}"
OUT="${OUT:-$ROOT/bench/results/activations-$(date -u +%Y%m%dT%H%M%SZ)}"
STORE_DIR="${STORE_DIR:-$(mktemp -d)}"

# BENCH: the benchmark program, built once (or BENCH_DLL); see bench-command.sh.
source "$ROOT/bench/bench-command.sh"
mkdir -p "$OUT"

run() { # name, then the activations flags
  local name="$1"; shift
  echo "== $name: $(uptime)" | tee -a "$OUT/uptime.txt"
  "${BENCH[@]}" activations --components "$COMPONENTS" --duration "$DURATION" --concurrency "$CONCURRENCY" \
    --json "$OUT/$name.json" "$@" 2> "$OUT/$name.log" | tee -a "$OUT/summary.txt"
}

rm -f "$STORE_DIR"/a.db*
run sqlite-default-limits --store "sqlite:$STORE_DIR/a.db"
if [ "$NO_LIMIT" = 1 ]; then
  rm -f "$STORE_DIR"/a.db*
  run sqlite-no-limit --store "sqlite:$STORE_DIR/a.db" --max-activations 0
fi
rm -f "$STORE_DIR"/a.db*
if [ -n "$PG_STORE" ]; then
  COMPONENTS="$PG_COMPONENTS" run postgres-default-limits --store "$PG_STORE"
fi
if [ "$MEMORY_COMPONENTS" != 0 ]; then
  echo "== activation-memory: $(uptime)" | tee -a "$OUT/uptime.txt"
  "${BENCH[@]}" activation-memory --components "$MEMORY_COMPONENTS" --json "$OUT/activation-memory.json" | tee -a "$OUT/summary.txt"
fi
echo "results: $OUT"
