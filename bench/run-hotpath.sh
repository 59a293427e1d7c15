#!/usr/bin/env bash
# Per-request cost of two or more builds (or settings) in ALTERNATING runs (issue 18): the cluster deposit workload, one
# silo, SQLite, 64 in flight, 1000 keys; the order is reversed every other round. Each argument is one variant:
#
#   label:BENCH_DLL:SILO_DLL[:ENV=VALUE,ENV=VALUE]
#
# e.g. (a copy of main's Release output in /tmp/e-base, this tree's Release build, and this build with workstation GC):
#
#   B=bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll S=src/Silo/bin/Release/net10.0/Middleware.Silo.dll
#   bench/run-hotpath.sh base:/tmp/e-base/bench/Middleware.Bench.dll:/tmp/e-base/silo/Middleware.Silo.dll new:$B:$S \
#       new-wks:$B:$S:DOTNET_gcServer=0
#
# The environment settings reach the benchmark (the client) and the silo it starts. Settings: ROUNDS (5), DURATION (8 s),
# WARMUP (6 s), CONCURRENCY (64), KEYS (1000), WORKLOAD (deposit), EXTRA (more flags), SCENARIO (cluster; or local: the
# in-process engine on SQLite, deposit turns, where SILO_DLL is not used and CPU and allocations are the one process's). Results: bench/results/hotpath-<UTC>/
# <label>/*.json, a summary per variant (median [min-max]: req/s, CPU us per request client + silo, bytes allocated per
# request in client and silo) at the end. Run from the repository root (the silo loads samples/Bank from here).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-8}"
WARMUP="${WARMUP:-6}"
CONCURRENCY="${CONCURRENCY:-64}"
KEYS="${KEYS:-1000}"
WORKLOAD="${WORKLOAD:-deposit}"
SCENARIO="${SCENARIO:-cluster}"
EXTRA="${EXTRA:-}"
OUT="${OUT:-$ROOT/bench/results/hotpath-$(date -u +%Y%m%dT%H%M%SZ)}"
if [ "$#" -lt 1 ]; then
  sed -n '2,17p' "$0"
  exit 2
fi

variants=("$@")
mkdir -p "$OUT"
cd "$ROOT"
for round in $(seq 1 "$ROUNDS"); do
  order=("${variants[@]}")
  if (( round % 2 == 0 )); then
    order=()
    for (( i=${#variants[@]}-1; i>=0; i-- )); do order+=("${variants[$i]}"); done
  fi
  for variant in "${order[@]}"; do
    IFS=: read -r label bench silo envs <<<"$variant"
    mkdir -p "$OUT/$label"
    env_args=()
    if [ -n "${envs:-}" ]; then IFS=, read -r -a env_args <<<"$envs"; fi
    echo "== round $round/$ROUNDS: $label ($(uptime | sed 's/.*load/load/'))" | tee -a "$OUT/summary.txt"
    # shellcheck disable=SC2086 # EXTRA is a list of flags on purpose
    if [ "$SCENARIO" = local ]; then
      flags=(local --store sqlite)
    else
      flags=(cluster --silos 1 --store sqlite --workload "$WORKLOAD" --echo-duration 0)
    fi
    if ! env "${env_args[@]}" MIDDLEWARE_SILO_DLL="$silo" dotnet "$bench" "${flags[@]}" \
        --concurrency "$CONCURRENCY" --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" \
        --json "$OUT/$label/r$round.json" $EXTRA 2>"$OUT/$label/r$round.log" | tee -a "$OUT/summary.txt"; then
      echo "   run failed; see $OUT/$label/r$round.log" | tee -a "$OUT/summary.txt"
    fi
  done
done

echo | tee -a "$OUT/summary.txt"
echo "Median [min-max] over $ROUNDS rounds per variant ($OUT):" | tee -a "$OUT/summary.txt"
python3 - "$OUT" "${variants[@]}" <<'EOF' | tee -a "$OUT/summary.txt"
import json, os, statistics, sys
out = sys.argv[1]
def stat(values, fmt):
    values = [v for v in values if v == v]
    if not values: return "-"
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"
print(f"{'variant':<12} {'n':>2}  {'req/s':<24} {'cpu us/req c+s':<22} {'client us':<20} {'silo us':<20} {'alloc B/req client':<22} {'silo':<20} {'p99 ms':<18} {'others':<6}")
for variant in sys.argv[2:]:
    label = variant.split(':')[0]
    runs = []
    for name in sorted(os.listdir(os.path.join(out, label))):
        if name.endswith('.json'):
            with open(os.path.join(out, label, name)) as f: runs.append(json.load(f))
    g = lambda k: [float(r.get(k, float('nan'))) for r in runs]
    print(f"{label:<12} {len(runs):>2}  {stat(g('throughput_per_s'), '.0f'):<24} {stat(g('cpu_us_per_request'), '.1f'):<22} {stat(g('client_cpu_us_per_request'), '.1f'):<20} "
          f"{stat(g('silo_cpu_us_per_request'), '.1f'):<20} {stat(g('client_alloc_bytes_per_request') if runs and 'client_alloc_bytes_per_request' in runs[0] else g('alloc_bytes_per_request'), '.0f'):<22} {stat(g('silo_alloc_bytes_per_request'), '.0f'):<20} {stat(g('p99_ms'), '.2f'):<18} {stat(g('other_cpu_cores'), '.2f'):<6}")
EOF
