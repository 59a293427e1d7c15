#!/usr/bin/env bash
# Alternating rebalance runs of two builds (A and B, e.g. main and a branch), one run each per pair with the order flipped
# every pair, on the same settings as bench/run-rebalance.sh (which runs each one; see its settings: SILOS, CONCURRENCY,
# KEYS, WARMUP, RATE, EXTRA). Each build is a tree copy with its Release build done:
#
#   git archive <commit> | tar -x -C /tmp/a && (cd /tmp/a && dotnet build bench/Middleware.Bench -c Release)
#   A=/tmp/a B=/tmp/b PAIRS=4 bench/run-rebalance-ab.sh
#
# A_SILO_DLL / B_SILO_DLL run another silo for that side (e.g. a ReadyToRun publish, see bench/README.md); A_NAME / B_NAME
# label them (default a, b); A_ENV / B_ENV add environment variables to that side's runs (e.g. B_ENV="MIDDLEWARE_BENCH_JOIN_NICE=10":
# the joining silo under nice). BENCH_TREE runs the benchmark program of that tree for both sides (then only the silos
# differ; default: each side's own). Results: OUT (bench/results/rebalance-ab-<UTC stamp>/) gets one directory per run and a
# summary of the medians (ranges) of the join and leave fields per build (summary.txt). TRACE=1 also writes each run's move
# trace (MIDDLEWARE_MOVE_TRACE=<run>/trace, MIDDLEWARE_BENCH_SLOW_TRACE=<run>/slow.txt) and, per build, the distribution of
# the handovers' waits (bench/handover-waits.py: directory switch to release, and the ownership write inside it) in
# handover-waits.txt; both builds must have the trace (main since 2026-12-07 04:00 UTC).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${A:?set A to a tree copy with a Release build (the first build)}"
: "${B:?set B to a tree copy with a Release build (the second build)}"
A_NAME="${A_NAME:-a}"
B_NAME="${B_NAME:-b}"
A_SILO_DLL="${A_SILO_DLL:-$A/src/Silo/bin/Release/net10.0/Middleware.Silo.dll}"
B_SILO_DLL="${B_SILO_DLL:-$B/src/Silo/bin/Release/net10.0/Middleware.Silo.dll}"
PAIRS="${PAIRS:-4}"
OUT="${OUT:-$ROOT/bench/results/rebalance-ab-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"

run() { # name tree silo-dll pair [VAR=VALUE ...]
  local dir="$OUT/$1-pair$4"
  echo "== $1 (pair $4): $(uptime)" | tee -a "$OUT/runs.txt"
  local trace=("${@:5}")
  [[ "${TRACE:-0}" == 1 ]] && trace+=(MIDDLEWARE_MOVE_TRACE="$dir/trace" MIDDLEWARE_BENCH_SLOW_TRACE="$dir/slow.txt")
  env "${trace[@]}" OUT="$dir" ROUNDS=1 BENCH_DLL="${BENCH_TREE:-$2}/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll" MIDDLEWARE_SILO_DLL="$3" \
    "$ROOT/bench/run-rebalance.sh" | tee -a "$OUT/runs.txt" || echo "   (the run failed; see $dir)" | tee -a "$OUT/runs.txt"
}

for pair in $(seq 1 "$PAIRS"); do
  if (( pair % 2 == 1 )); then
    run "$A_NAME" "$A" "$A_SILO_DLL" "$pair" ${A_ENV:-}; run "$B_NAME" "$B" "$B_SILO_DLL" "$pair" ${B_ENV:-}
  else
    run "$B_NAME" "$B" "$B_SILO_DLL" "$pair" ${B_ENV:-}; run "$A_NAME" "$A" "$A_SILO_DLL" "$pair" ${A_ENV:-}
  fi
done

python3 - "$OUT" "$A_NAME" "$B_NAME" <<'EOF' | tee "$OUT/summary.txt"
import glob, json, os, statistics, sys
out, names = sys.argv[1], sys.argv[2:]
fields = ["join_slowest_moved_request_ms", "join_moved_over_100ms_pct", "before_join_over_100ms_pct", "join_moved_over_100ms", "join_moved_requests", "join_moved_p99_ms",
          "join_first_move_seen_ms", "join_slowest_moved_started_ms", "leave_moved_over_100ms", "before_join_over_100ms", "join_slowest_request_ms", "join_longest_gap_ms", "join_p99_ms", "join_settled_ms",
          "join_throughput_per_s", "leave_slowest_moved_request_ms", "leave_longest_gap_ms", "leave_p99_ms",
          "before_join_slowest_request_ms", "before_join_longest_gap_ms", "before_join_p99_ms", "load_average_at_join",
          "lost", "duplicated", "failed_requests",
          # the split of the requests over 100 ms by the first move seen, and the client's own stalls (added 2026-12-07)
          "join_moved_over_100ms_before_first_move", "join_moved_over_100ms_after_first_move", "join_moved_over_100ms_after_first_move_pct",
          "join_unmoved_over_100ms_after_first_move_pct", "join_slowest_moved_after_first_move_ms", "join_over_100ms_before_first_move",
          "join_unmoved_over_100ms", "join_client_longest_stall_ms", "join_client_gc_pause_ms"]
for name in names:
    runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, f"{name}-pair*", "*.json")))]
    for r in runs:  # the share of moved accounts' requests over 100 ms, and of all requests before the join (per run)
        if r.get("join_moved_requests"): r["join_moved_over_100ms_pct"] = 100.0 * r["join_moved_over_100ms"] / r["join_moved_requests"]
        if r.get("join_moved_requests_after_first_move"): r["join_moved_over_100ms_after_first_move_pct"] = 100.0 * r["join_moved_over_100ms_after_first_move"] / r["join_moved_requests_after_first_move"]
        if r.get("join_unmoved_requests_after_first_move"): r["join_unmoved_over_100ms_after_first_move_pct"] = 100.0 * r["join_unmoved_over_100ms_after_first_move"] / r["join_unmoved_requests_after_first_move"]
        if r.get("throughput_before_join_per_s") and r.get("before_join_over_100ms") is not None:
            r["before_join_over_100ms_pct"] = 100.0 * r["before_join_over_100ms"] / (r["throughput_before_join_per_s"] * 5)
    print(f"{name}: {len(runs)} runs")
    for field in fields:
        values = [float(r[field]) for r in runs if r.get(field) is not None]
        if values:
            print(f"  {field}: median {statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f}) of {len(values)}")
EOF

if [[ "${TRACE:-0}" == 1 ]]; then
  for name in "$A_NAME" "$B_NAME"; do
    echo "$name:"; python3 "$ROOT/bench/handover-waits.py" "$OUT/$name"-pair*/trace
  done | tee "$OUT/handover-waits.txt"
fi
