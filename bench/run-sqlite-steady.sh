#!/usr/bin/env bash
# The local engine on SQLite over a LONG run (issue 18, session 11): past the first component checkpoints (with 1000 keys
# and CheckpointEveryTurns 1000 they come after ~1M turns, ~12-25 s in), where every turn costs a log record and later a
# dedup row and the WAL checkpoints run; the 10-14 s runs of earlier sessions stopped before that. Two or more builds in
# ALTERNATING runs:
#
#   bench/run-sqlite-steady.sh old:/tmp/s11-base/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll \
#                              new:/tmp/hc-new-2/bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll
#
# A variant is label:dll[:NAME=VALUE...]: the NAME=VALUE pairs are set in that variant's environment only, e.g.
# overlap:$B:MIDDLEWARE_SQLITE_OVERLAP_SYNC=1 (session 15).
#
# Settings: ROUNDS (3), DURATION (40 s measured after WARMUP 3 s), STEADY (20: seconds into the measured window from which
# the "steady" average is taken), WINDOW_AT (24: seconds after start when bench/thread-cpu.sh samples the threads for
# WINDOW 10 s), CONCURRENCY (64), KEYS (1000), EXTRA (more options for `local`, e.g. "--checkpoint-every 100" to reach the
# dedup steady state ten times sooner on a loaded box: every turn still gets one dedup row). Per run: the average turns/s over the whole window (the benchmark's own
# figure), the average of the per-second rates from STEADY on, the lowest and highest second, the group-commit (writer)
# thread's and the wal-checkpoint thread's CPU per turn in the sampling window (divided by the per-second rates of the
# same seconds), and the run's CPU per turn. Results: bench/results/sqlite-steady-<UTC>/ (the per-second lines in
# <label>-r<N>.err, one line per run in runs.txt, medians at the end).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"; DURATION="${DURATION:-40}"; WARMUP="${WARMUP:-3}"; STEADY="${STEADY:-20}"
WINDOW_AT="${WINDOW_AT:-24}"; WINDOW="${WINDOW:-10}"; CONCURRENCY="${CONCURRENCY:-64}"; KEYS="${KEYS:-1000}"
OUT="${OUT:-$ROOT/bench/results/sqlite-steady-$(date -u +%Y%m%dT%H%M%SZ)}"
[ "$#" -ge 1 ] || { sed -n '2,20p' "$0"; exit 2; }
mkdir -p "$OUT"; cd "$ROOT"
export PYTHONPATH="$ROOT/bench${PYTHONPATH:+:$PYTHONPATH}"   # benchlib.py
variants=("$@")
for round in $(seq 1 "$ROUNDS"); do
  order=("${variants[@]}")
  if (( round % 2 == 0 )); then order=(); for (( i=${#variants[@]}-1; i>=0; i-- )); do order+=("${variants[$i]}"); done; fi
  for v in "${order[@]}"; do
    label="${v%%:*}"; rest="${v#*:}"; dll="${rest%%:*}"; envs=()
    if [[ "$rest" == *:* ]]; then IFS=: read -r -a envs <<< "${rest#*:}"; fi
    for e in ${envs[@]+"${envs[@]}"}; do
      [[ "$e" == *=* ]] || { echo "variant $v: '$e' is not NAME=VALUE (use label:dll[:NAME=VALUE...])" >&2; exit 2; }
    done
    json="$OUT/$label-r$round.json"; db="$OUT/$label-r$round.db"
    rm -f "$db" "$db-wal" "$db-shm"
    start=$(date +%s)
    env ${envs[@]+"${envs[@]}"} dotnet "$dll" local --store sqlite --db "$db" --concurrency "$CONCURRENCY" --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" \
      ${EXTRA:-} --json "$json" > "$OUT/$label-r$round.out" 2> "$OUT/$label-r$round.err" &
    pid=$!
    sleep "$WINDOW_AT"
    # Which measured seconds the window covers: the progress lines printed so far.
    before=$(grep -c 'measure' "$OUT/$label-r$round.err" || true)
    bench/thread-cpu.sh "$pid" "$WINDOW" > "$OUT/$label-r$round.threads" || true
    after=$(grep -c 'measure' "$OUT/$label-r$round.err" || true)
    wait "$pid" || echo "run failed: $OUT/$label-r$round.out"
    rm -f "$db" "$db-wal" "$db-shm"
    python3 - "$label" "$round" "$json" "$OUT/$label-r$round.threads" "$OUT/$label-r$round.err" "$STEADY" "$before" "$after" \
      "$(uptime | sed 's/.*load average: //')" <<'PY' | tee -a "$OUT/runs.txt"
import json, sys, re
label, rnd, jpath, tpath, epath, steady, before, after, load = sys.argv[1:10]
steady, before, after = int(steady), int(before), int(after)
j = json.load(open(jpath)); rate = float(j["throughput_per_s"])
secs = [float(m.group(1)) for m in (re.search(r"measure \d+/\d+s\]\s+(\d+) turns/s", l) for l in open(epath)) if m]
tail = secs[steady:] or [float('nan')]
win = secs[before:after] or secs
wrate = sum(win) / len(win)
import benchlib
threads = benchlib.thread_ms(tpath)
us = lambda ms: ms * 1000 / wrate
print(f"{label:<8} r{rnd} {rate:8.0f} turns/s  steady {sum(tail) / len(tail):8.0f}  min {min(secs):7.0f}  max {max(secs):7.0f}  "
      f"writer {us(threads.get('group-commit', 0)):5.2f} us/turn  ckpt {us(threads.get('wal-checkpoint', 0)):5.2f}  "
      f"run cpu {float(j.get('cpu_us_per_request', float('nan'))):5.1f} us/turn  p99 {float(j.get('p99_ms', float('nan'))):6.2f} ms  "
      f"commits/s {float(j.get('commits_per_s', float('nan'))):6.0f}  batch {float(j.get('avg_batch', float('nan'))):5.1f}  "
      f"syncs/s {float(j.get('wal_syncs_per_s', float('nan'))):6.0f}  others {float(j.get('other_cpu_cores', float('nan'))):4.2f}  load {load}")
PY
  done
done
python3 - "$OUT" "${variants[@]}" <<'PY' | tee -a "$OUT/runs.txt"
import sys, benchlib
benchlib.medians(sys.argv[1] + "/runs.txt", sys.argv[2:],
                 r"(\S+)\s+r\d+\s+(\d+) turns/s\s+steady\s+([\d.nan]+)\s+min\s+(\d+)\s+max\s+(\d+)\s+writer\s+([\d.]+) us/turn\s+ckpt\s+([\d.]+)\s+run cpu\s+([\d.nan]+) us/turn\s+p99\s+([\d.nan]+) ms\s+commits/s\s+([\d.nan]+)\s+batch\s+([\d.nan]+)\s+syncs/s\s+([\d.nan]+)",
                 "median [min-max]: turns/s | steady turns/s | min second | max second | writer us/turn | wal-checkpoint us/turn | run cpu us/turn | p99 ms | commits/s | avg batch | WAL syncs/s", 11)
PY
