#!/usr/bin/env bash
# How long a silo process takes to print its listening line (it is live in the silos table then) and how much CPU it
# burnt to get there: the part of a join that runs before the silo takes any load, and on a small box competes with the
# silos already serving. Each run starts one silo on a fresh SQLite file with the Bank components and stops it at once.
#
#   bench/silo-startup.sh                      # the Release build of this tree, 5 runs
#   SILO_DLL=/tmp/r2r/Middleware.Silo.dll RUNS=5 bench/silo-startup.sh    # e.g. a ReadyToRun publish
#
# Settings (environment): SILO_DLL (default src/Silo/bin/Release/net10.0/Middleware.Silo.dll), BANK_DLL (default
# samples/Bank/bin/Release/net10.0/Bank.dll), RUNS (5), SILO_ENV (extra NAME=VALUE pairs for the silo, e.g.
# "DOTNET_TieredPGO=0"), EXTRA (more silo flags, e.g. "--warmup-turns 0"). Prints one line per run: ms to the listening
# line, CPU ms (user+sys) of the process at that moment, the silo's warm-up line if it has one, and the load average;
# then the medians.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SILO_DLL="${SILO_DLL:-$ROOT/src/Silo/bin/Release/net10.0/Middleware.Silo.dll}"
BANK_DLL="${BANK_DLL:-$ROOT/samples/Bank/bin/Release/net10.0/Bank.dll}"
RUNS="${RUNS:-5}"
SILO_ENV="${SILO_ENV:-}"
EXTRA="${EXTRA:-}"
[ -f "$SILO_DLL" ] || { echo "no silo at $SILO_DLL: run 'dotnet build src/Silo -c Release' or set SILO_DLL" >&2; exit 2; }
[ -f "$BANK_DLL" ] || { echo "no Bank.dll at $BANK_DLL: run 'dotnet build samples/Bank -c Release' or set BANK_DLL" >&2; exit 2; }
tick="$(getconf CLK_TCK)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

walls=() cpus=()
for run in $(seq 1 "$RUNS"); do
  out="$dir/out-$run"
  : >"$out"
  start="$(date +%s%N)"
  # shellcheck disable=SC2086 # SILO_ENV and EXTRA are lists on purpose
  env MIDDLEWARE_BACKEND_LEDGER="sqlite:$dir/ledger-$run.db" $SILO_ENV dotnet "$SILO_DLL" --store "sqlite:$dir/s$run.db" --components "$BANK_DLL" --port 0 --http-port 0 \
    --silo-id "startup-$run" $EXTRA >"$out" 2>"$dir/err-$run" &
  pid=$!
  until grep -q ' listening: ' "$out"; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "the silo exited before listening: $(cat "$dir/err-$run")" >&2; exit 1; fi
    sleep 0.01
  done
  end="$(date +%s%N)"
  read -r -a stat <"/proc/$pid/stat"
  cpu_ms=$(( (stat[13] + stat[14]) * 1000 / tick ))
  wall_ms=$(( (end - start) / 1000000 ))
  kill -TERM "$pid"; wait "$pid" || true
  walls+=("$wall_ms"); cpus+=("$cpu_ms")
  warm="$(grep -o 'warmed up before joining ([^)]*)' "$out" || true)"
  echo "run $run: listening after $wall_ms ms, cpu $cpu_ms ms${warm:+, $warm}; load $(cut -d' ' -f1-3 /proc/loadavg)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median: listening after $(median "${walls[@]}") ms, cpu $(median "${cpus[@]}") ms ($RUNS runs, $SILO_DLL ${SILO_ENV})"
