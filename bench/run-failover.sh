#!/usr/bin/env bash
# Failover under load, with and without mirroring, in ALTERNATING runs (the order reversed every other round), then the
# median and range per setting. Each run: 3 silo processes on a fresh SQLite file, 64 deposits in flight over 1000
# accounts, SIGKILL of the silo owning most accounts after the warm-up, the load kept DURATION more seconds (see
# `Middleware.Bench failover --help`). Then, unless TAKEOVER_TURNS is 0, the long-log takeover (`takeover`): one
# account with TAKEOVER_TURNS turns since its checkpoint, its owner SIGKILLed, for each setting.
# Results land in bench/results/failover-<UTC stamp>/ (one JSON + log per run, summary.txt).
#
# Settings (environment): ROUNDS (3), MIRRORING ("none all"), SILOS (3), CONCURRENCY (64), KEYS (1000), WARMUP (8 s),
# BEFORE (5 s measured before the kill), DURATION (10 s after the kill), STORE_DIR (a temp dir for the SQLite files),
# TAKEOVER_TURNS (100000; 0 skips), TAKEOVER_ROUNDS (= ROUNDS), EXTRA (more flags for every failover run),
# BENCH_DLL (a prebuilt Middleware.Bench.dll; skips the build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
MIRRORING="${MIRRORING:-none all}"
SILOS="${SILOS:-3}"
CONCURRENCY="${CONCURRENCY:-64}"
KEYS="${KEYS:-1000}"
WARMUP="${WARMUP:-8}"
BEFORE="${BEFORE:-5}"
DURATION="${DURATION:-10}"
TAKEOVER_TURNS="${TAKEOVER_TURNS:-100000}"
TAKEOVER_ROUNDS="${TAKEOVER_ROUNDS:-$ROUNDS}"
EXTRA="${EXTRA:-}"
OUT="${OUT:-$ROOT/bench/results/failover-$(date -u +%Y%m%dT%H%M%SZ)}"
STORE_DIR="${STORE_DIR:-$(mktemp -d)}"

# BENCH: the benchmark program, built once (or BENCH_DLL); see bench-command.sh.
source "$ROOT/bench/bench-command.sh"
mkdir -p "$OUT" "$STORE_DIR"

read -r -a settings <<<"$MIRRORING"
order_for() { # round -> the settings, reversed on even rounds
  if (( $1 % 2 == 0 )); then
    for (( i=${#settings[@]}-1; i>=0; i-- )); do echo "${settings[$i]}"; done
  else
    printf '%s\n' "${settings[@]}"
  fi
}

failed=0
for round in $(seq 1 "$ROUNDS"); do
  for m in $(order_for "$round"); do
    name="failover-s$SILOS-m$m-c$CONCURRENCY-r$round"
    db="$STORE_DIR/$name.db"
    echo "== round $round/$ROUNDS: failover, $SILOS silos, mirroring $m, $CONCURRENCY in flight, $KEYS keys"
    # shellcheck disable=SC2086 # EXTRA is a list of flags on purpose
    if ! "${BENCH[@]}" failover --silos "$SILOS" --store "sqlite:$db" --mirroring "$m" --concurrency "$CONCURRENCY" --keys "$KEYS" \
        --warmup "$WARMUP" --before "$BEFORE" --duration "$DURATION" --json "$OUT/$name.json" $EXTRA \
        2>"$OUT/$name.log" | tee -a "$OUT/summary.txt"; then
      echo "   run failed (errors or a failed check); see $OUT/$name.log"
      failed=1
    fi
    rm -f "$db" "$db-wal" "$db-shm"
  done
done

if [ "$TAKEOVER_TURNS" -gt 0 ]; then
  for round in $(seq 1 "$TAKEOVER_ROUNDS"); do
    for m in $(order_for "$round"); do
      name="takeover-t$TAKEOVER_TURNS-m$m-r$round"
      db="$STORE_DIR/$name.db"
      echo "== round $round/$TAKEOVER_ROUNDS: takeover, $TAKEOVER_TURNS turns since the checkpoint, mirroring $m"
      if ! "${BENCH[@]}" takeover --silos "$SILOS" --store "sqlite:$db" --mirroring "$m" --turns "$TAKEOVER_TURNS" \
          --json "$OUT/$name.json" 2>"$OUT/$name.log" | tee -a "$OUT/summary.txt"; then
        echo "   run failed; see $OUT/$name.log"
        failed=1
      fi
      rm -f "$db" "$db-wal" "$db-shm"
    done
  done
fi

echo
echo "Median [min-max] over $ROUNDS rounds ($OUT):"
"${BENCH[@]}" summarize "$OUT" | tee -a "$OUT/summary.txt"
exit "$failed"
