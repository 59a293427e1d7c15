#!/usr/bin/env bash
# CPU per record of the SQLite group-commit (writer) thread, and of the whole process per turn, for two or more builds in
# ALTERNATING runs of the local engine (issue 18, session 10): each run is `local --store sqlite`, 64 in flight, 1000 keys;
# bench/thread-cpu.sh samples the process's threads over a window in the middle of the run.
#
#   bench/run-writer-cpu.sh old:/tmp/s10-base/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll \
#                           new:/tmp/hd-new-2/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll
#
# Settings: ROUNDS (4), DURATION (14 s measured after WARMUP 3 s), WINDOW (6 s, starting 6 s into the run), CONCURRENCY
# (64), KEYS (1000). Per run: turns/s of the run, the writer thread's us per record (its CPU in the window divided by the
# turns of the window at the run's rate: one record per deposit turn), the pool threads' and the GC's us per turn, and
# the run's own CPU us per turn. Results: bench/results/writer-cpu-<UTC>/ (one line per run in runs.txt, medians at the end).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-4}"; DURATION="${DURATION:-14}"; WARMUP="${WARMUP:-3}"; WINDOW="${WINDOW:-6}"
CONCURRENCY="${CONCURRENCY:-64}"; KEYS="${KEYS:-1000}"
OUT="${OUT:-$ROOT/bench/results/writer-cpu-$(date -u +%Y%m%dT%H%M%SZ)}"
[ "$#" -ge 1 ] || { sed -n '2,14p' "$0"; exit 2; }
mkdir -p "$OUT"; cd "$ROOT"
export PYTHONPATH="$ROOT/bench${PYTHONPATH:+:$PYTHONPATH}"   # benchlib.py
variants=("$@")
for round in $(seq 1 "$ROUNDS"); do
  order=("${variants[@]}")
  if (( round % 2 == 0 )); then order=(); for (( i=${#variants[@]}-1; i>=0; i-- )); do order+=("${variants[$i]}"); done; fi
  for v in "${order[@]}"; do
    label="${v%%:*}"; dll="${v#*:}"
    json="$OUT/$label-r$round.json"
    dotnet "$dll" local --store sqlite --concurrency "$CONCURRENCY" --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" \
      --json "$json" > "$OUT/$label-r$round.out" 2>&1 &
    pid=$!
    sleep 6
    bench/thread-cpu.sh "$pid" "$WINDOW" > "$OUT/$label-r$round.threads" || true
    wait "$pid" || echo "run failed: $OUT/$label-r$round.out"
    python3 - "$label" "$round" "$json" "$OUT/$label-r$round.threads" "$(uptime | sed 's/.*load average: //')" <<'PY' | tee -a "$OUT/runs.txt"
import json, sys, re
label, rnd, jpath, tpath, load = sys.argv[1:6]
j = json.load(open(jpath)); rate = float(j["throughput_per_s"])
import benchlib
threads = benchlib.thread_ms(tpath)
us = lambda ms: ms * 1000 / rate
gc = sum(v for k, v in threads.items() if "GC" in k or "BGC" in k)
print(f"{label:<8} r{rnd} {rate:8.0f} turns/s  writer {us(threads.get('group-commit', 0)):5.2f} us/rec  pool {us(threads.get('.NET TP Worker', 0)):5.2f}  gc {us(gc):5.2f}  "
      f"run cpu {float(j.get('cpu_us_per_request', float('nan'))):5.1f} us/turn  batch {float(j.get('avg_batch', float('nan'))):4.1f}  others {float(j.get('other_cpu_cores', float('nan'))):4.2f}  load {load}")
PY
  done
done
python3 - "$OUT" "${variants[@]}" <<'PY' | tee -a "$OUT/runs.txt"
import sys, benchlib
benchlib.medians(sys.argv[1] + "/runs.txt", sys.argv[2:],
                 r"(\S+)\s+r\d+\s+(\d+) turns/s\s+writer\s+([\d.]+) us/rec\s+pool\s+([\d.]+)\s+gc\s+([\d.]+)\s+run cpu\s+([\d.nan]+)",
                 "median [min-max]: turns/s | writer us/record | pool us/turn | gc us/turn | run cpu us/turn", 5)
PY
