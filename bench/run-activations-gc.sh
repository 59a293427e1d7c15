#!/usr/bin/env bash
# The `activations` scenario with GC settings of the SILO alone, in ALTERNATING runs (setting 1, 2, ..., then again), so a
# setting that saves memory shows what it costs in throughput (the 1,000-key deposit rate, first touch, cold, warm) next to
# the silo's RSS end/max and its GC heap and committed bytes at the end. Each setting is a space-separated list of
# environment variables handed to the silo only (the bench passes BENCH_SILO_<NAME>=v as NAME=v); "default" is none.
#
#   BUILD=/tmp/copy bench/run-activations-gc.sh
#   BUILD=/tmp/copy SETTINGS="default|DOTNET_GCConserveMemory=5|DOTNET_gcServer=0" COMPONENTS=300000 MAX_ACTIVATIONS=30000 bench/run-activations-gc.sh
#
# Settings (environment): BUILD (a built copy of the repository: Release bench and silo; default: this one), SETTINGS (as
# above), COMPONENTS (300000), MAX_ACTIVATIONS (30000; 0 = no cap; "default" = the silo's), DURATION (3 s per timed phase),
# ROUNDS (1), OUT (bench/results/activations-gc-<UTC stamp>). Every run's `uptime` goes to uptime.txt beside its JSON.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$ROOT}"
SETTINGS="${SETTINGS:-default|DOTNET_GCConserveMemory=5|DOTNET_gcServer=0}"
COMPONENTS="${COMPONENTS:-300000}"
MAX_ACTIVATIONS="${MAX_ACTIVATIONS:-30000}"
DURATION="${DURATION:-3}"
ROUNDS="${ROUNDS:-1}"
OUT="${OUT:-$ROOT/bench/results/activations-gc-$(date -u +%Y%m%dT%H%M%SZ)}"
DB_DIR="$(mktemp -d)"
mkdir -p "$OUT"
trap 'rm -rf "$DB_DIR"' EXIT
IFS='|' read -r -a settings <<< "$SETTINGS"
limit=(); [ "$MAX_ACTIVATIONS" != default ] && limit=(--max-activations "$MAX_ACTIVATIONS")

for round in $(seq 1 "$ROUNDS"); do
  for i in "${!settings[@]}"; do
    setting="${settings[$i]}"
    envs=()
    if [ "$setting" != default ]; then for kv in $setting; do envs+=("BENCH_SILO_$kv"); done; fi
    rm -f "$DB_DIR"/a.db*
    name="s$((i + 1))-$round"
    echo "== $name [$setting]: $(date -u +%T) $(uptime)" | tee -a "$OUT/uptime.txt"
    env "${envs[@]}" dotnet "$BUILD/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll" activations \
      --store "sqlite:$DB_DIR/a.db" --components "$COMPONENTS" "${limit[@]}" --duration "$DURATION" \
      --json "$OUT/$name.json" 2> "$OUT/$name.log" | sed "s/^/$name [$setting]: /" | tee -a "$OUT/summary.txt"
  done
done
echo "results: $OUT"
