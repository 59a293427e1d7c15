#!/usr/bin/env bash
# The measured targets of issues 17 and 18 in one command, for two builds in ALTERNATING runs where the target is a
# comparison (each part calls the script that owns it; read their headers for what they measure):
#
#   OLD=/tmp/base NEW=/tmp/new bench/run-targets.sh
#
# OLD and NEW are tree copies with their Release build done (`git archive <rev> | tar -x -C DIR && (cd DIR && dotnet
# build Middleware.sln -c Release)`): a rebuild of this tree cannot swap them mid-run. Run it on a quiet box (nothing
# else using the cores; `uptime` is recorded before every part): host CPU steal moves figures 2-3x.
#
# PARTS (default all, in this order; about 35 min with a million components):
#   deposits    run-hotpath.sh, cluster deposits, 1 silo, SQLite, 64 in flight: req/s, p99, CPU and bytes per request
#   transfers   run-hotpath.sh WORKLOAD=transfer: the same for teller transfers
#   local       run-sqlite-steady.sh: the in-process engine on SQLite, 40 s (whole window and from 20 s on)
#   postgres    run-postgres.sh MODES=cluster: one silo on PostgreSQL and on SQLite, both builds
#   rebalance   run-rebalance-ab.sh: a fourth silo joins under load (moved requests, longest gap, share)
#   million     run-activations.sh on NEW only: a million components with the default limits (cold, warm, RSS)
# ROUNDS (3) for the hotpath parts, PG_ROUNDS (2), PAIRS (2) for rebalance, COMPONENTS (1000000) for million.
# HOT_DURATION (30 s measured after 6 s warm-up) for deposits and transfers: with 1000 keys the components' first
# checkpoints come after ~0.5-1M turns, and every turn after them also costs a dedup row, so a window of 8-14 s at these
# rates measured the phase before them (session 11, bench/README.md "Checkpoint bursts").
# Results: OUT (bench/results/targets-<UTC stamp>/) gets one log per part and index.txt naming each part's result dir.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${OLD:?set OLD to a tree copy with a Release build (the reference)}"
: "${NEW:?set NEW to a tree copy with a Release build (the build measured)}"
PARTS="${PARTS:-deposits transfers local postgres rebalance million}"
ROUNDS="${ROUNDS:-3}"
PG_ROUNDS="${PG_ROUNDS:-2}"
PAIRS="${PAIRS:-2}"
HOT_DURATION="${HOT_DURATION:-30}"
COMPONENTS="${COMPONENTS:-1000000}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="${OUT:-$ROOT/bench/results/targets-$STAMP}"
mkdir -p "$OUT"

rel=net10.0
for tree in "$OLD" "$NEW"; do
  for f in "bench/Middleware.Bench/bin/Release/$rel/Middleware.Bench.dll" "src/Silo/bin/Release/$rel/Middleware.Silo.dll"; do
    if [ ! -f "$tree/$f" ]; then
      echo "$tree has no $f: build it with (cd $tree && dotnet build Middleware.sln -c Release)" >&2
      exit 2
    fi
  done
done

variant() { echo "$1:$2/bench/Middleware.Bench/bin/Release/$rel/Middleware.Bench.dll:$2/src/Silo/bin/Release/$rel/Middleware.Silo.dll"; }

part() {
  local name="$1"; shift
  local dir="$OUT/$name"
  echo "== $name ($(date -u +%H:%M:%S) UTC; $(uptime | sed 's/.*load/load/'))" | tee -a "$OUT/index.txt"
  if ( cd "$ROOT" && OUT="$dir" "$@" ) > "$OUT/$name.log" 2>&1; then
    echo "   ok: $dir, log $OUT/$name.log" | tee -a "$OUT/index.txt"
  else
    echo "   FAILED (exit $?): see $OUT/$name.log" | tee -a "$OUT/index.txt"
  fi
  tail -n 12 "$OUT/$name.log" | sed 's/^/   | /'
}

for p in $PARTS; do
  case "$p" in
    deposits)  part deposits env ROUNDS="$ROUNDS" DURATION="$HOT_DURATION" bench/run-hotpath.sh "$(variant old "$OLD")" "$(variant new "$NEW")" ;;
    transfers) part transfers env ROUNDS="$ROUNDS" DURATION="$HOT_DURATION" WORKLOAD=transfer bench/run-hotpath.sh "$(variant old "$OLD")" "$(variant new "$NEW")" ;;
    local)     part local env ROUNDS="$ROUNDS" bench/run-sqlite-steady.sh "old:$OLD/bench/Middleware.Bench/bin/Release/$rel/Middleware.Bench.dll" \
                 "new:$NEW/bench/Middleware.Bench/bin/Release/$rel/Middleware.Bench.dll" ;;
    postgres)  part postgres env ROUNDS="$PG_ROUNDS" MODES=cluster BUILDS="old=$OLD new=$NEW" bench/run-postgres.sh ;;
    rebalance) part rebalance env A="$OLD" B="$NEW" A_NAME=old B_NAME=new BENCH_TREE="$NEW" PAIRS="$PAIRS" bench/run-rebalance-ab.sh ;;
    million)   part million env COMPONENTS="$COMPONENTS" NO_LIMIT=0 MEMORY_COMPONENTS=0 \
                 BENCH_DLL="$NEW/bench/Middleware.Bench/bin/Release/$rel/Middleware.Bench.dll" bench/run-activations.sh ;;
    *) echo "unknown part '$p'; the parts are: deposits transfers local postgres rebalance million" >&2; exit 2 ;;
  esac
done
echo "results: $OUT (index.txt)"
