#!/usr/bin/env bash
# Runs every test of the solution and ends with one summary line: "tests: N passed, N failed, N skipped".
# Long crash campaigns: MIDDLEWARE_CRASH_ROUNDS=200 ./test.sh (default rounds keep this under 20 minutes).
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout -k 30 30m dotnet build Middleware.sln -c Debug -nologo -v q 2>&1 | tail -n 20
build=${PIPESTATUS[0]}
if [ "$build" -ne 0 ]; then
  echo "build failed"
  exit "$build"
fi

# Bounded, so a hang fails with its name instead of running into the CI's limit:
# - 20 minutes in which no test starts or ends is a hang (the longest test takes a few minutes): the blame collector
#   names the test(s) running ("The test running when the crash occurred") and ends the test host;
# - the whole run gets 50 minutes (it takes 8-11 here, 17 on one core shared with a busy loop), then it is stopped.
# A long campaign (MIDDLEWARE_CRASH_ROUNDS=200) needs more: MIDDLEWARE_TEST_MINUTES=300 raises both bounds.
# The output goes to a file that is followed while the run lives, not through a pipe: a process a test left behind that
# still holds the pipe (a silo, a server) cannot keep this script waiting after the run ended.
minutes=${MIDDLEWARE_TEST_MINUTES:-50}
hang_min=$(( minutes <= 50 ? 20 : minutes - 30 ))
timeout -k 60 "${minutes}m" dotnet test Middleware.sln -c Debug --no-build -nologo --logger "console;verbosity=normal" \
  --blame-hang --blame-hang-timeout "${hang_min}m" --blame-hang-dump-type none "$@" >"$log" 2>&1 &
run=$!
tail -n +1 -f --pid="$run" "$log" | grep --line-buffered -vE '^\s+Passed |^\s*$' &
follower=$!
wait "$run"
status=$?
wait "$follower"
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "test.sh: the test run did not end within $minutes minutes (MIDDLEWARE_TEST_MINUTES) and was stopped"
fi

# Processes started from this checkout that outlived the run (silo processes, test hosts): name them, then end them, so
# they neither hold ports nor keep whoever runs this script waiting on its output.
leftover=$(pgrep -f -- "$PWD/(tests|src|samples)/" | grep -vx "$$" || true)
if [ -n "$leftover" ]; then
  echo "test.sh: processes left running by the tests (ended now):"
  ps -o pid=,etime=,args= -p "$(tr '\n' ',' <<<"$leftover" | sed 's/,$//')" | cut -c1-200 || true
  kill -9 $leftover 2>/dev/null || true
fi

# Sum the per-run summaries dotnet test prints ("Total tests: N", "Passed: N", "Failed: N", "Skipped: N").
count() { grep -E "^ *$1: *[0-9]+" "$log" | sed -E "s/^ *$1: *([0-9]+).*/\1/" | awk '{s+=$1} END {print s+0}'; }
passed=$(count Passed)
failed=$(count Failed)
skipped=$(count Skipped)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
