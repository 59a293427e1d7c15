#!/usr/bin/env bash
# Rebalancing under load: a silo joins a loaded cluster and receives its rendezvous share, then is stopped with SIGTERM
# and hands it back (`Middleware.Bench rebalance --help`). Each run: SILOS silo processes on a fresh SQLite file (or
# STORE), CONCURRENCY deposits in flight over KEYS accounts, WARMUP seconds, then the join and the leave. Reports per
# phase the time until the share is owned where rendezvous places it, the longest gap between completions, the slowest
# request (all and of the moved accounts), and lost/duplicated deposits. The target (issue 17): a fourth silo's share
# within a minute, no client-visible pause over 100 ms. Results land in bench/results/rebalance-<UTC stamp>/.
#
# Settings (environment): ROUNDS (3), SILOS (3), CONCURRENCY (64), KEYS (1000), WARMUP (8 s), RATE (50 moves/s per
# silo), STORE_DIR (a temp dir for the SQLite files), STORE (instead of SQLite, e.g. postgres:<cs>; one database is
# reused, so give a fresh one per round), EXTRA (more flags), BENCH_DLL (a prebuilt Middleware.Bench.dll; skips the build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
SILOS="${SILOS:-3}"
CONCURRENCY="${CONCURRENCY:-64}"
KEYS="${KEYS:-1000}"
WARMUP="${WARMUP:-8}"
RATE="${RATE:-50}"
EXTRA="${EXTRA:-}"
OUT="${OUT:-$ROOT/bench/results/rebalance-$(date -u +%Y%m%dT%H%M%SZ)}"
STORE_DIR="${STORE_DIR:-$(mktemp -d)}"

source "$ROOT/bench/bench-command.sh"
mkdir -p "$OUT" "$STORE_DIR"

failed=0
for round in $(seq 1 "$ROUNDS"); do
  name="rebalance-s$SILOS-c$CONCURRENCY-k$KEYS-r$RATE-round$round"
  db="$STORE_DIR/$name.db"
  store="${STORE:-sqlite:$db}"
  echo "== round $round/$ROUNDS: rebalance, $SILOS silos + 1, $CONCURRENCY in flight, $KEYS keys, $RATE moves/s; $(uptime)"
  # shellcheck disable=SC2086 # EXTRA is a list of flags on purpose
  if ! "${BENCH[@]}" rebalance --silos "$SILOS" --store "$store" --concurrency "$CONCURRENCY" --keys "$KEYS" \
      --warmup "$WARMUP" --rebalance-per-second "$RATE" --json "$OUT/$name.json" $EXTRA \
      2>"$OUT/$name.log" | tee -a "$OUT/summary.txt"; then
    echo "   run failed (errors or a failed check); see $OUT/$name.log"
    failed=1
  fi
  rm -f "$db" "$db-wal" "$db-shm"
done
exit "$failed"
