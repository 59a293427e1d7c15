#!/usr/bin/env bash
# Where a cold activation's silo CPU goes: runs `activations` (SQLite, N components past a cap of N/10 by default) with
# the benchmark of ROOT, and once the "again" pass (every request a cold activation from a checkpoint) starts, records
# the silo with `perf record -g` for PERF_SECONDS (0: no perf). The report's `silo_cpu_us_per_cold_activation` (the
# silo's user + system CPU over the again pass, from /proc/PID/stat, over its requests) and
# `silo_allocated_bytes_per_cold_activation` are the figures to compare; rates swing with the box's load.
#
#   ROOT=/tmp/new PERF_SECONDS=12 bench/profile-cold-activations.sh
#   perf report -i OUT/perf.data --no-children --sort comm       # threads; then --children --sort sym for frames
#
# With TRACE_SECONDS, `dotnet-trace collect --profile gc-verbose` on the silo for that long instead (allocation ticks by
# type and stack: OUT/alloc.nettrace; sum them with bench/results/hotpath-alloc-20261206/alloc-reader.cs.txt).
#
# Settings (environment): ROOT (a repository copy with a Release build of bench/ and src/Silo; default this one),
# COMPONENTS (100000), MAX_ACTIVATIONS (COMPONENTS/10), DURATION (3), PERF_SECONDS (0), TRACE_SECONDS (0),
# OUT (bench/results/cold-cpu-<stamp>).
# MIDDLEWARE_SILO_DLL runs another silo build under the same benchmark (e.g. an old silo with the new CPU counters).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${ROOT:-$HERE}"
COMPONENTS="${COMPONENTS:-100000}"
MAX_ACTIVATIONS="${MAX_ACTIVATIONS:-$((COMPONENTS / 10))}"
DURATION="${DURATION:-3}"
PERF_SECONDS="${PERF_SECONDS:-0}"
TRACE_SECONDS="${TRACE_SECONDS:-0}"
OUT="${OUT:-$HERE/bench/results/cold-cpu-$(date -u +%Y%m%dT%H%M%SZ)}"
DB_DIR="$(mktemp -d)"
trap 'rm -rf "$DB_DIR"' EXIT
mkdir -p "$OUT"
# JIT frames in perf: a perf map, and no double-mapped code.
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
echo "== $(date -u +%T) $(uptime)" >> "$OUT/uptime.txt"
dotnet "$ROOT/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll" activations --store "sqlite:$DB_DIR/a.db" \
  --components "$COMPONENTS" --max-activations "$MAX_ACTIVATIONS" --duration "$DURATION" --json "$OUT/run.json" \
  2> "$OUT/run.log" > "$OUT/summary.txt" &
bench=$!
if [ "$PERF_SECONDS" != 0 ] || [ "$TRACE_SECONDS" != 0 ]; then
  until grep -q "again:" "$OUT/run.log" 2>/dev/null; do sleep 0.5; kill -0 "$bench" 2>/dev/null || break; done
  silo="$(pgrep -P "$bench" -f Middleware.Silo.dll | head -1)"
  if [ "$PERF_SECONDS" != 0 ]; then
    echo "perf on silo $silo: $(uptime)" >> "$OUT/uptime.txt"
    perf record -F 499 -g -p "$silo" -o "$OUT/perf.data" -- sleep "$PERF_SECONDS" > "$OUT/perf.out" 2>&1 || true
  else
    echo "dotnet-trace on silo $silo: $(uptime)" >> "$OUT/uptime.txt"
    dotnet-trace collect -p "$silo" --profile gc-verbose --duration "00:00:00:$(printf %02d "$TRACE_SECONDS")" -o "$OUT/alloc.nettrace" > "$OUT/trace.out" 2>&1 || true
  fi
fi
wait "$bench"
cat "$OUT/summary.txt"
echo "results: $OUT"
