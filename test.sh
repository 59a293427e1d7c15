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

# Sum the per-assembly summaries dotnet test prints ("Passed!  - Failed: 0, Passed: 12, Skipped: 1, ...").
read -r passed failed skipped < <(grep -E '(Passed|Failed)! +- +Failed: ' "$log" | sed -E 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+).*/\2 \1 \3/' \
  | awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
