#!/usr/bin/env bash
# Runs every test of the solution and ends with one summary line: "tests: N passed, N failed, N skipped".
# Long crash campaigns: MIDDLEWARE_CRASH_ROUNDS=200 ./test.sh (default rounds keep this under 20 minutes).
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
dotnet build Middleware.sln -c Debug -nologo -v q 2>&1 | tail -n 20
build=${PIPESTATUS[0]}
if [ "$build" -ne 0 ]; then
  echo "build failed"
  exit "$build"
fi

dotnet test Middleware.sln -c Debug --no-build -nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log" \
  | grep -vE '^\s+Passed |^\s*$'
status=${PIPESTATUS[0]}

# Sum the per-run summaries dotnet test prints ("Total tests: N", "Passed: N", "Failed: N", "Skipped: N").
count() { grep -E "^ *$1: *[0-9]+" "$log" | sed -E "s/^ *$1: *([0-9]+).*/\1/" | awk '{s+=$1} END {print s+0}'; }
passed=$(count Passed)
failed=$(count Failed)
skipped=$(count Skipped)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
