#!/usr/bin/env bash
# Runs test classes repeatedly from a built tree (TREE, default: this repository), one .out per round in raw/, a line per
# round (time, load at start, counts) and the failed tests' names in rounds.log next to this script.
# usage: [TREE=/tmp/copy] loop.sh ROUNDS FILTER TAG
logdir=$(cd "$(dirname "$0")" && pwd)
cd "${TREE:-$logdir/../../..}"
rounds=$1; filter=$2; tag=$3
mkdir -p "$logdir/raw"
for i in $(seq 1 "$rounds"); do
  out="$logdir/raw/$tag-r$i.out"
  start=$(date +%s)
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  dotnet test tests/Middleware.Tests --no-build -nologo --filter "$filter" --logger "console;verbosity=normal" > "$out" 2>&1
  rc=$?
  end=$(date +%s)
  summary=$(grep -E "^Test Run|^Total tests|^ +(Passed|Failed|Skipped): " "$out" | tr -s ' ' | tr '\n' ' ')
  {
    echo "== $tag round $i $(date -u +%H:%M:%S) rc=$rc $((end-start))s load-at-start=[$load] $summary"
    grep -E "^\s+Failed [A-Za-z]" "$out" | sed 's/^/   /'
  } >> "$logdir/rounds.log"
done
