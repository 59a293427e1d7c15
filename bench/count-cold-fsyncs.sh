#!/usr/bin/env bash
# fsyncs per cold activation, counted (robust on a loaded box, unlike rates): runs the `activations` scenario of the build
# copy ROOT on a fresh SQLite file and attaches `strace -c -f -e trace=fsync,fdatasync` to its silo for the whole "again"
# pass (every component once more, past the activation cap: all cold activations from a checkpoint, and the evictions'
# checkpoints that make room). Prints fsyncs / activations of that pass (the attach and detach miss a few hundred).
#
# With CONCURRENCY=1 (one request at a time) fsyncs per cold activation is the number of commits each one waits for in
# sequence (plus the eviction checkpoints that do not share a commit with it); with 64 in flight it is 1 / (cold
# activations per commit), which grows and shrinks with the batch size, i.e. with the load.
#
#   ROOT=/tmp/base COMPONENTS=60000 MAX_ACTIVATIONS=6000 bench/count-cold-fsyncs.sh
#   ROOT=/tmp/base COMPONENTS=3000 MAX_ACTIVATIONS=300 CONCURRENCY=1 bench/count-cold-fsyncs.sh
set -euo pipefail
: "${ROOT:?set ROOT to a build copy (repository root with a Release build)}"
COMPONENTS="${COMPONENTS:-60000}"
MAX_ACTIVATIONS="${MAX_ACTIVATIONS:-6000}"
CONCURRENCY="${CONCURRENCY:-64}"
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
DB_DIR="$(mktemp -d)"
LOG="$OUT/bench.log"
trap 'rm -rf "$DB_DIR"' EXIT
dotnet "$ROOT/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll" activations --store "sqlite:$DB_DIR/a.db" \
  --components "$COMPONENTS" --max-activations "$MAX_ACTIVATIONS" --concurrency "$CONCURRENCY" --duration 3 --json "$OUT/run.json" 2> "$LOG" > "$OUT/summary.txt" &
bench=$!
until grep -q "first touch: $COMPONENTS in" "$LOG" 2>/dev/null; do sleep 0.05; kill -0 "$bench" 2>/dev/null || { cat "$LOG"; exit 1; }; done
# The bench's own silo (its child): other runs of the same build copy may be running.
silo=$(pgrep -P "$bench" -f "Middleware.Silo.dll" | head -1)
echo "silo pid: $silo" >&2
strace -c -f -e trace=fsync,fdatasync -p "$silo" -o "$OUT/strace.txt" &
tracer=$!
until grep -q "again: $COMPONENTS in" "$LOG"; do sleep 0.05; done
kill -INT "$tracer"; wait "$tracer" || true
wait "$bench" || true
fsyncs=$(awk '$NF=="fsync"||$NF=="fdatasync"{s+=$4} END{print s+0}' "$OUT/strace.txt")
echo "$(grep 'again:' "$LOG" | tail -1) | fsyncs during the pass: $fsyncs = $(echo "scale=3; $fsyncs / $COMPONENTS" | bc) per cold activation | $(uptime)"
